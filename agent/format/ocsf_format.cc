// OCSF 1.1.0: each event as the class that describes it best, with the
// class's required attributes and ktrail's other fields under `unmapped`.
// Written with the same JsonWriter as the JSON form, so invalid UTF-8 in
// paths and arguments becomes U+FFFD here too.
#include <algorithm>
#include <charconv>
#include <sys/stat.h>

#include "format/event_format.h"
#include "format/event_names.h"
#include "format/json_format.h"
#include "format/json_writer.h"
#include "version.h"

namespace ktrail {
namespace {

struct Class {
    uint32_t uid;
    uint32_t category;
    std::string_view name;
    std::string_view category_name;
};

// Base Event (class 0) takes what no class of 1.1.0 describes; Application
// Lifecycle takes the agent's own start and stop (ktrail is the app).
constexpr Class kBase{0, 0, "Base Event", "Uncategorized"};
constexpr Class kFile{1001, 1, "File System Activity", "System Activity"};
constexpr Class kKernelExt{1002, 1, "Kernel Extension Activity", "System Activity"};
constexpr Class kProcess{1007, 1, "Process Activity", "System Activity"};
constexpr Class kDetection{2004, 2, "Detection Finding", "Findings"};
constexpr Class kAccount{3001, 3, "Account Change", "Identity & Access Management"};
constexpr Class kAuth{3002, 3, "Authentication", "Identity & Access Management"};
constexpr Class kGroup{3006, 3, "Group Management", "Identity & Access Management"};
constexpr Class kAppLifecycle{6002, 6, "Application Lifecycle", "Application Activity"};

constexpr uint32_t kOther = 99;

struct Activity {
    std::string_view action;
    const Class* cls;
    uint32_t id;
    std::string_view name;  // for Other (99): the data source's own name
};

// clang-format off
constexpr Activity kActivities[] = {
    // Process Activity: the process is the one started, ended or changed.
    {"executed", &kProcess, 1, "Launch"},
    {"forked", &kProcess, 1, "Launch"},
    {"ran-command", &kProcess, 1, "Launch"},          // sudo launches the command
    {"started-service", &kProcess, 1, "Launch"},
    {"started-audit", &kProcess, 1, "Launch"},
    {"exited", &kProcess, 2, "Terminate"},
    {"crashed-program", &kProcess, 2, "Terminate"},
    {"stopped-service", &kProcess, 2, "Terminate"},
    {"shutdown-audit", &kProcess, 2, "Terminate"},
    {"traced-process", &kProcess, 3, "Open"},         // ptrace: a handle on another process
    {"changed-identity-of", &kProcess, 5, "Set User ID"},  // set*uid/set*gid/setgroups
    {"changed-capabilities-of", &kProcess, kOther, "Set Capabilities"},
    {"killed-pid", &kProcess, kOther, "Signal"},       // the target pid and signal are not known
    {"violated-seccomp-policy", &kProcess, kOther, "Seccomp Action"},
    {"typed", &kProcess, kOther, "Terminal Input"},
    // File System Activity. chmod/chown change who may access a file: Set
    // Security, as OCSF keeps Set Attributes for other metadata (xattrs).
    {"created-file", &kFile, 1, "Create"},
    {"created-directory", &kFile, 1, "Create"},
    {"make-device", &kFile, 1, "Create"},
    {"linked", &kFile, 1, "Create"},
    {"symlinked", &kFile, 1, "Create"},
    {"read-file", &kFile, 2, "Read"},
    {"wrote-to-file", &kFile, 3, "Update"},
    {"truncated-file", &kFile, 3, "Update"},
    {"deleted", &kFile, 4, "Delete"},
    {"renamed", &kFile, 5, "Rename"},
    {"changed-file-attributes-of", &kFile, 6, "Set Attributes"},
    {"changed-file-permissions-of", &kFile, 7, "Set Security"},
    {"changed-file-ownership-of", &kFile, 7, "Set Security"},
    {"mounted", &kFile, 12, "Mount"},
    {"unmounted", &kFile, 13, "Unmount"},
    {"opened-file", &kFile, 14, "Open"},              // open(2) makes a handle; reads are not seen
    // Kernel Extension Activity: the module is the driver.
    {"loaded-kernel-module", &kKernelExt, 1, "Load"},
    {"unloaded-kernel-module", &kKernelExt, 2, "Unload"},
    // Authentication: PAM's steps. A failed USER_AUTH is a failed logon to
    // a SIEM (brute-force rules count them); session open/close is the
    // logon session's life.
    {"authenticated", &kAuth, 1, "Logon"},
    {"logged-in", &kAuth, 1, "Logon"},
    {"started-session", &kAuth, 1, "Logon"},
    {"logged-out", &kAuth, 2, "Logoff"},
    {"ended-session", &kAuth, 2, "Logoff"},
    {"was-authorized", &kAuth, kOther, "Account Check"},
    {"acquired-credentials", &kAuth, kOther, "Acquire Credentials"},
    {"refreshed-credentials", &kAuth, kOther, "Refresh Credentials"},
    {"disposed-credentials", &kAuth, kOther, "Dispose Credentials"},
    {"authenticated-to-group", &kAuth, kOther, "Group Authentication"},
    {"changed-login-id-to", &kAuth, kOther, "Set Login ID"},
    {"error", &kAuth, kOther, "Error"},
    // Account Change: the target account is `user`. SELinux role changes
    // attach or detach what the account may do: OCSF's policy activities.
    {"added-user-account", &kAccount, 1, "Create"},
    {"changed-password", &kAccount, 3, "Password Change"},
    {"deleted-user-account", &kAccount, 6, "Delete"},
    {"assigned-user-role-to", &kAccount, 7, "Attach Policy"},
    {"removed-user-role-from", &kAccount, 8, "Detach Policy"},
    {"locked-account", &kAccount, 9, "Lock"},
    {"unlocked-account", &kAccount, kOther, "Unlock"},  // 1.1.0 has Lock but no Unlock
    {"modified-user-account", &kAccount, kOther, "Modify"},
    {"modified-role", &kAccount, kOther, "Modify Role"},
    {"changed-role-to", &kAccount, kOther, "Change Role"},
    // Group Management: 1.1.0 only names membership and privilege changes.
    {"added-group-account-to", &kGroup, kOther, "Create"},
    {"deleted-group-account-from", &kGroup, kOther, "Delete"},
    {"modified-group-account", &kGroup, kOther, "Modify"},
    {"changed-group-password", &kGroup, kOther, "Password Change"},
    // The agent itself.
    {"agent-started", &kAppLifecycle, 3, "Start"},
    {"agent-stopped", &kAppLifecycle, 4, "Stop"},
    {"rules-loaded", &kAppLifecycle, kOther, "Load Rules"},
    // No 1.1.0 class: host state, audit and firewall configuration, MAC
    // decisions (ktrail's own alerts are the findings), and socket calls
    // whose endpoints the audit mapper does not decode (Network Activity
    // requires them).
    {"events-lost", &kBase, kOther, "Events Lost"},
};
// clang-format on

// A denial keeps the syscall but not what it tried: recover the activity.
// First match wins, so the more specific names come first.
constexpr std::pair<std::string_view, std::string_view> kDeniedSyscalls[] = {
    {"symlink", "symlinked"}, {"unlink", "deleted"}, {"rmdir", "deleted"}, {"rename", "renamed"},
    {"link", "linked"}, {"creat", "created-file"}, {"open", "opened-file"}, {"chmod", "changed-file-permissions-of"},
    {"chown", "changed-file-ownership-of"}, {"xattr", "changed-file-attributes-of"}, {"mkdir", "created-directory"},
    {"mknod", "make-device"}, {"truncate", "truncated-file"}, {"umount", "unmounted"}, {"mount", "mounted"},
    {"capset", "changed-capabilities-of"}, {"uid", "changed-identity-of"}, {"gid", "changed-identity-of"},
    {"groups", "changed-identity-of"}, {"delete_module", "unloaded-kernel-module"},
    {"init_module", "loaded-kernel-module"}, {"exec", "executed"},
};

struct Mapped {
    const Class* cls;
    uint32_t activity_id;
    std::string_view activity_name;
};

const Activity* find_activity(std::string_view action) {
    auto it = std::find_if(std::begin(kActivities), std::end(kActivities),
                           [&](const Activity& a) { return a.action == action; });
    return it == std::end(kActivities) ? nullptr : &*it;
}

std::string_view denied_action(const v1::Event& ev) {
    std::string_view syscall = ev.has_ktrail() ? std::string_view(ev.ktrail().syscall()) : "";
    for (const auto& [part, action] : kDeniedSyscalls)
        if (syscall.find(part) != std::string_view::npos) return action;
    return "";
}

bool has_category(const v1::Event& ev, std::string_view c) {
    return std::find(ev.category().begin(), ev.category().end(), c) != ev.category().end();
}

// What is not in the table goes to the class of its ECS category, as Other.
const Class* class_for_category(const v1::Event& ev) {
    if (has_category(ev, "file")) return &kFile;
    if (has_category(ev, "process")) return &kProcess;
    if (has_category(ev, "driver")) return &kKernelExt;
    if (has_category(ev, "authentication") || has_category(ev, "session")) return &kAuth;
    if (has_category(ev, "iam")) return &kAccount;
    return &kBase;
}

Mapped map_event(const v1::Event& ev) {
    // An alert is ktrail's own detection; its evidence is other events.
    if (ev.kind() == "alert") return {&kDetection, 1, "Create"};
    std::string_view action = ev.action() == "denied-access-to" ? denied_action(ev) : std::string_view(ev.action());
    if (const Activity* a = find_activity(action)) return {a->cls, a->id, a->name};
    if (ev.action() == "denied-access-to") return {&kFile, kOther, "Access Denied"};
    return {class_for_category(ev), kOther, ev.action()};
}

// ---- small writers ----

void kv(JsonWriter& w, std::string_view k, std::string_view v) {
    if (v.empty()) return;
    w.key(k);
    w.value(v);
}

void kv_num(JsonWriter& w, std::string_view k, uint64_t v) {
    w.key(k);
    w.value(v);
}

// OCSF uids are strings.
void kv_uid(JsonWriter& w, std::string_view k, uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    w.key(k);
    w.value(std::string_view(buf, end - buf));
}

void kv_ms(JsonWriter& w, std::string_view k, int64_t ns) {
    w.key(k);
    w.value(ns / 1'000'000);
}

void kv_list(JsonWriter& w, std::string_view k, const google::protobuf::RepeatedPtrField<std::string>& v) {
    if (v.empty()) return;
    w.key(k);
    w.begin_array();
    for (const auto& s : v) w.value(s);
    w.end_array();
}

std::string join_args(const google::protobuf::RepeatedPtrField<std::string>& args) {
    std::string s;
    for (const auto& a : args) {
        if (!s.empty()) s += ' ';
        s += a;
    }
    return s;
}

std::string octal(uint32_t mode) {
    char buf[12];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), mode, 8);
    std::string s(buf, end);
    return s.size() < 4 ? std::string(4 - s.size(), '0') + s : s;
}

// ---- objects ----

enum FileType : uint32_t { kUnknown = 0, kRegular = 1, kFolder = 2, kCharDev = 3, kBlockDev = 4, kSocket = 5,
                           kPipe = 6, kSymlink = 7 };

std::string_view file_type_name(uint32_t t) {
    static constexpr std::string_view names[] = {"Unknown", "Regular File", "Folder", "Character Device",
                                                 "Block Device", "Local Socket", "Named Pipe", "Symbolic Link"};
    return t < std::size(names) ? names[t] : "Other";
}

uint32_t file_type(const v1::Event& ev) {
    const std::string& a = ev.action();
    if (a == "created-directory" || a == "mounted" || a == "unmounted") return kFolder;
    if (a == "symlinked") return kSymlink;
    if (a == "executed" || a == "loaded-kernel-module") return kRegular;
    if (ev.has_ktrail()) {
        const auto& k = ev.ktrail();
        if (k.syscall() == "rmdir" || std::count(k.flags().begin(), k.flags().end(), "AT_REMOVEDIR") ||
            std::count(k.flags().begin(), k.flags().end(), "O_DIRECTORY"))
            return kFolder;
    }
    if (a == "make-device" && ev.file().has_mode()) {
        switch (ev.file().mode() & S_IFMT) {
        case S_IFCHR: return kCharDev;
        case S_IFBLK: return kBlockDev;
        case S_IFIFO: return kPipe;
        case S_IFSOCK: return kSocket;
        case S_IFREG: return kRegular;
        default: break;
        }
    }
    return kUnknown;
}

// file: name and type_id are required; parent_folder helps path searches.
void write_file(JsonWriter& w, std::string_view key, std::string_view path, uint32_t type) {
    w.key(key);
    w.begin_object();
    w.key("name");
    w.value(base_name(path));
    kv(w, "path", path);
    size_t slash = path.rfind('/');
    if (slash != std::string_view::npos && slash > 0) kv(w, "parent_folder", path.substr(0, slash));
    kv_num(w, "type_id", type);
    kv(w, "type", file_type_name(type));
    w.end_object();
}

void write_user(JsonWriter& w, std::string_view key, bool has_id, uint32_t id, std::string_view name) {
    w.key(key);
    w.begin_object();
    if (has_id) kv_uid(w, "uid", id);
    kv(w, "name", name);
    w.end_object();
}

bool has_user(const v1::Event& ev) { return ev.has_user() && (ev.user().has_id() || !ev.user().name().empty()); }

void write_parent(JsonWriter& w, std::string_view key, const v1::Parent& pp) {
    w.key(key);
    w.begin_object();
    if (pp.has_pid()) kv_num(w, "pid", pp.pid());
    kv(w, "uid", pp.entity_id());
    kv(w, "name", base_name(pp.executable()));
    kv(w, "cmd_line", join_args(pp.args()));
    if (!pp.executable().empty()) write_file(w, "file", pp.executable(), kRegular);
    w.end_object();
}

void write_process(JsonWriter& w, std::string_view key, const v1::Event& ev) {
    const auto& p = ev.process();
    w.key(key);
    w.begin_object();
    if (p.has_pid()) kv_num(w, "pid", p.pid());
    if (p.has_thread_id()) kv_num(w, "tid", p.thread_id());
    kv(w, "uid", p.entity_id());
    kv(w, "name", !p.name().empty() ? std::string_view(p.name()) : base_name(p.executable()));
    kv(w, "cmd_line", join_args(p.args()));
    if (!p.executable().empty()) write_file(w, "file", p.executable(), kRegular);
    if (p.start_ns()) kv_ms(w, "created_time", p.start_ns());
    if (p.has_parent()) write_parent(w, "parent_process", p.parent());
    if (has_user(ev)) write_user(w, "user", ev.user().has_id(), ev.user().id(), ev.user().name());
    w.end_object();
}

// sudo's command (USER_CMD): the launched process, sudo its parent.
void write_sudo_command(JsonWriter& w, const v1::Event& ev) {
    const auto& p = ev.process();
    w.key("process");
    w.begin_object();
    kv(w, "cmd_line", p.command_line());
    w.key("parent_process");
    w.begin_object();
    if (p.has_pid()) kv_num(w, "pid", p.pid());
    kv(w, "uid", p.entity_id());
    kv(w, "name", p.name());
    if (!p.executable().empty()) write_file(w, "file", p.executable(), kRegular);
    w.end_object();
    w.end_object();
}

void write_session(JsonWriter& w, std::string_view key, const v1::Session& s) {
    w.key(key);
    w.begin_object();
    if (s.has_id()) kv_uid(w, "uid", s.id());
    if (s.start_ns()) kv_ms(w, "created_time", s.start_ns());
    kv(w, "terminal", s.tty());
    w.key("is_remote");
    w.value(!s.remote_ip().empty());
    w.end_object();
}

enum class ActorProcess { self, parent, none };
enum class ActorUser { user, audit };

// actor: who did it. For a launch that is the parent; for logins and account
// changes the human behind the session (audit uid) rather than the account.
void write_actor(JsonWriter& w, const v1::Event& ev, ActorProcess ap, ActorUser au) {
    w.key("actor");
    w.begin_object();
    if (ev.has_process()) {
        if (ap == ActorProcess::self) write_process(w, "process", ev);
        else if (ap == ActorProcess::parent && ev.process().has_parent()) write_parent(w, "process", ev.process().parent());
    }
    if (ev.has_user()) {
        const auto& u = ev.user();
        if (au == ActorUser::audit && u.has_audit()) write_user(w, "user", u.audit().has_id(), u.audit().id(), u.audit().name());
        else if (au == ActorUser::user && has_user(ev)) write_user(w, "user", u.has_id(), u.id(), u.name());
    }
    if (ev.has_session() && ev.session().has_id()) write_session(w, "session", ev.session());
    w.end_object();
}

void write_src_endpoint(JsonWriter& w, const v1::Event& ev) {
    if (!ev.has_source() || ev.source().ip().empty()) return;
    w.key("src_endpoint");
    w.begin_object();
    kv(w, "ip", ev.source().ip());
    if (ev.source().has_port()) kv_num(w, "port", ev.source().port());
    w.end_object();
}

void write_product(JsonWriter& w, std::string_view key, const v1::Event& ev) {
    w.key(key);
    w.begin_object();
    kv(w, "name", "ktrail");
    kv(w, "vendor_name", "ktrail");
    kv(w, "version", ev.has_agent() && !ev.agent().version().empty() ? std::string_view(ev.agent().version())
                                                                       : std::string_view(kVersion));
    w.end_object();
}

// ---- the event ----

struct Severity {
    uint32_t id;
    std::string_view name;
};

// ECS 0-100 to OCSF by Elastic's bands (low 21, medium 47, high 73, critical 99).
Severity severity(const v1::Event& ev) {
    uint32_t s = severity_score(ev);
    if (s == 0) return {1, "Informational"};
    if (s <= 21) return {2, "Low"};
    if (s <= 47) return {3, "Medium"};
    if (s <= 73) return {4, "High"};
    return {5, "Critical"};
}

void write_status(JsonWriter& w, const v1::Event& ev, const Mapped& m) {
    if (m.cls == &kDetection) {
        // In the findings category status is the finding's state: new.
        kv_num(w, "status_id", 1);
        kv(w, "status", "New");
        return;
    }
    const std::string& o = ev.outcome();
    uint32_t id = o == "success" ? 1 : o == "failure" ? 2 : 0;
    kv_num(w, "status_id", id);
    kv(w, "status", id == 1 ? "Success" : id == 2 ? "Failure" : "Unknown");
    kv(w, "status_detail", ev.reason());
}

void write_classification(JsonWriter& w, const v1::Event& ev, const Mapped& m) {
    kv_num(w, "class_uid", m.cls->uid);
    kv(w, "class_name", m.cls->name);
    kv_num(w, "category_uid", m.cls->category);
    kv(w, "category_name", m.cls->category_name);
    kv_num(w, "activity_id", m.activity_id);
    kv(w, "activity_name", m.activity_name);
    kv_num(w, "type_uid", uint64_t{m.cls->uid} * 100 + m.activity_id);
    std::string type_name(m.cls->name);
    type_name.append(": ").append(m.activity_name);
    kv(w, "type_name", type_name);
    Severity sev = severity(ev);
    kv_num(w, "severity_id", sev.id);
    kv(w, "severity", sev.name);
    kv_ms(w, "time", ev.time_ns());
    kv(w, "message", event_title(ev));
    write_status(w, ev, m);
}

void write_metadata(JsonWriter& w, const v1::Event& ev) {
    w.key("metadata");
    w.begin_object();
    kv(w, "version", "1.1.0");
    write_product(w, "product", ev);
    kv(w, "uid", ev.id());
    kv(w, "event_code", ev.action());
    if (ev.time_ns()) kv(w, "original_time", rfc3339_ns(ev.time_ns()));  // keeps the nanoseconds
    w.key("profiles");
    w.begin_array();
    w.value("host");
    if (!ev.container_id().empty()) w.value("container");
    w.end_array();
    w.end_object();
}

void write_device(JsonWriter& w, const v1::Event& ev) {
    w.key("device");
    w.begin_object();
    w.key("hostname");
    w.value(ev.has_host() ? std::string_view(ev.host().name()) : std::string_view());
    if (ev.has_host()) kv(w, "uid", ev.host().id());
    kv_num(w, "type_id", 0);  // the agent does not know server from desktop
    kv(w, "type", "Unknown");
    w.key("os");
    w.begin_object();
    kv(w, "name", "Linux");
    kv_num(w, "type_id", 200);
    kv(w, "type", "Linux");
    w.end_object();
    w.end_object();
    if (!ev.container_id().empty()) {
        w.key("container");
        w.begin_object();
        kv(w, "uid", ev.container_id());
        w.end_object();
    }
}

// ---- class bodies ----

void write_file_body(JsonWriter& w, const v1::Event& ev) {
    write_actor(w, ev, ActorProcess::self, ActorUser::user);
    const auto& f = ev.file();
    uint32_t type = file_type(ev);
    write_file(w, "file", f.path(), type);
    if (ev.action() == "renamed" && !f.target_path().empty()) write_file(w, "file_result", f.target_path(), type);
}

void write_process_body(JsonWriter& w, const v1::Event& ev, const Mapped& m) {
    bool launch = m.activity_id == 1 && ev.action() != "started-service" && ev.action() != "started-audit";
    write_actor(w, ev, launch && ev.action() != "ran-command" ? ActorProcess::parent : ActorProcess::self,
                ActorUser::user);
    if (ev.action() == "ran-command" && !ev.process().command_line().empty()) write_sudo_command(w, ev);
    else if (ev.has_process()) write_process(w, "process", ev);
    else {
        w.key("process");  // required: an empty one says the source did not name it
        w.begin_object();
        w.end_object();
    }
    if (ev.has_process() && ev.process().has_exit_code()) {
        w.key("exit_code");
        w.value(ev.process().exit_code());
    }
}

void write_kernel_ext_body(JsonWriter& w, const v1::Event& ev) {
    write_actor(w, ev, ActorProcess::self, ActorUser::user);
    std::string_view module = ev.has_ktrail() ? std::string_view(ev.ktrail().module_name()) : "";
    w.key("driver");
    w.begin_object();
    if (ev.has_file() && !ev.file().path().empty()) write_file(w, "file", ev.file().path(), kRegular);
    else {
        w.key("file");  // an unload names the module, not its file
        w.begin_object();
        w.key("name");
        w.value(module);
        kv_num(w, "type_id", kUnknown);
        kv(w, "type", file_type_name(kUnknown));
        w.end_object();
    }
    w.end_object();
}

void write_auth_body(JsonWriter& w, const v1::Event& ev) {
    write_actor(w, ev, ActorProcess::self, ActorUser::audit);
    // user (required): the account that logs in.
    std::string_view name = ev.has_user() ? std::string_view(ev.user().name()) : "";
    if (name.empty() && ev.has_session()) name = ev.session().login_user();
    write_user(w, "user", ev.has_user() && ev.user().has_id(), ev.has_user() ? ev.user().id() : 0, name);
    write_src_endpoint(w, ev);
    // At least one of service and dst_endpoint: the host logged in to, and
    // the program (sshd, su, sudo) that asked PAM.
    w.key("dst_endpoint");
    w.begin_object();
    w.key("hostname");
    w.value(ev.has_host() ? std::string_view(ev.host().name()) : std::string_view());
    w.end_object();
    if (ev.has_process() && !ev.process().name().empty()) {
        w.key("service");
        w.begin_object();
        kv(w, "name", ev.process().name());
        w.end_object();
    }
    w.key("is_remote");
    w.value(ev.has_source() && !ev.source().ip().empty());
    if (ev.has_session() && ev.session().has_id()) write_session(w, "session", ev.session());
}

void write_account_body(JsonWriter& w, const v1::Event& ev) {
    write_actor(w, ev, ActorProcess::self, ActorUser::user);
    const v1::Id* t = ev.has_user() && ev.user().has_target() ? &ev.user().target() : nullptr;
    write_user(w, "user", t && t->has_id(), t ? t->id() : 0, t ? std::string_view(t->name()) : "");
    write_src_endpoint(w, ev);
}

void write_group_body(JsonWriter& w, const v1::Event& ev) {
    write_actor(w, ev, ActorProcess::self, ActorUser::user);
    w.key("group");
    w.begin_object();
    if (ev.has_group()) {
        if (ev.group().has_id()) kv_uid(w, "uid", ev.group().id());
        kv(w, "name", ev.group().name());
    }
    w.end_object();
    if (ev.has_user() && ev.user().has_target()) {
        const auto& t = ev.user().target();
        write_user(w, "user", t.has_id(), t.id(), t.name());
    }
}

void write_detection_body(JsonWriter& w, const v1::Event& ev) {
    write_actor(w, ev, ActorProcess::self, ActorUser::user);
    w.key("finding_info");
    w.begin_object();
    kv(w, "uid", ev.id());
    w.key("title");
    w.value(event_title(ev));
    kv(w, "desc", ev.reason());
    if (ev.has_rule()) {
        w.key("analytic");
        w.begin_object();
        kv(w, "uid", ev.rule().id());
        kv(w, "name", ev.rule().name());
        kv_num(w, "type_id", 1);
        kv(w, "type", "Rule");
        w.end_object();
    }
    if (ev.has_ktrail() && ev.ktrail().has_alert() && !ev.ktrail().alert().event_ids().empty()) {
        w.key("related_events");
        w.begin_array();
        for (const auto& id : ev.ktrail().alert().event_ids()) {
            w.begin_object();
            kv(w, "uid", id);
            w.end_object();
        }
        w.end_array();
    }
    w.end_object();
    if (!ev.technique_id().empty()) {
        w.key("attacks");
        w.begin_array();
        w.begin_object();
        w.key("technique");
        w.begin_object();
        kv(w, "uid", ev.technique_id());
        w.end_object();
        w.end_object();
        w.end_array();
    }
}

void write_body(JsonWriter& w, const v1::Event& ev, const Mapped& m) {
    if (m.cls == &kFile) write_file_body(w, ev);
    else if (m.cls == &kProcess) write_process_body(w, ev, m);
    else if (m.cls == &kKernelExt) write_kernel_ext_body(w, ev);
    else if (m.cls == &kAuth) write_auth_body(w, ev);
    else if (m.cls == &kAccount) write_account_body(w, ev);
    else if (m.cls == &kGroup) write_group_body(w, ev);
    else if (m.cls == &kDetection) write_detection_body(w, ev);
    else if (m.cls == &kAppLifecycle) {
        write_actor(w, ev, ActorProcess::self, ActorUser::user);
        write_product(w, "app", ev);
    } else {
        write_actor(w, ev, ActorProcess::self, ActorUser::user);
    }
}

// ---- unmapped: ktrail's fields with no OCSF 1.1.0 home, by their ECS names ----

void write_id(JsonWriter& w, std::string_view k, const v1::Id& id) {
    w.key(k);
    w.begin_object();
    if (id.has_id()) kv_uid(w, "id", id.id());
    kv(w, "name", id.name());
    w.end_object();
}

void unmapped_event(JsonWriter& w, const v1::Event& ev) {
    w.key("event");
    w.begin_object();
    if (ev.sequence()) kv_num(w, "sequence", ev.sequence());
    kv(w, "kind", ev.kind());
    kv_list(w, "category", ev.category());
    kv_list(w, "type", ev.type());
    kv(w, "action", ev.action());
    kv(w, "module", ev.module());
    if (ev.has_severity()) kv_num(w, "severity", ev.severity());
    w.end_object();
}

void unmapped_user(JsonWriter& w, const v1::Event& ev, const Mapped& m) {
    const auto& u = ev.user();
    bool target = u.has_target() && m.cls != &kAccount && m.cls != &kGroup;
    if (!u.has_effective() && !u.has_group() && !u.has_audit() && !target) return;
    w.key("user");
    w.begin_object();
    if (u.has_effective()) write_id(w, "effective", u.effective());
    if (u.has_group()) write_id(w, "group", u.group());
    if (u.has_audit()) write_id(w, "audit", u.audit());
    if (target) write_id(w, "target", u.target());
    w.end_object();
}

void unmapped_process(JsonWriter& w, const v1::Process& p) {
    bool any = !p.working_directory().empty() || p.args_truncated() || !p.ancestry().empty() ||
               !p.command_line().empty();
    if (!any) return;
    w.key("process");
    w.begin_object();
    kv(w, "working_directory", p.working_directory());
    kv(w, "command_line", p.command_line());
    if (p.args_truncated()) {
        w.key("args_truncated");
        w.value(true);
    }
    kv_list(w, "ancestry", p.ancestry());
    w.end_object();
}

void unmapped_file(JsonWriter& w, const v1::Event& ev, const Mapped& m) {
    const auto& f = ev.file();
    bool file_class = m.cls == &kFile || m.cls == &kKernelExt;
    bool target = !f.target_path().empty() && ev.action() != "renamed";
    w.key("file");
    w.begin_object();
    if (!file_class) kv(w, "path", f.path());  // no file object outside the file classes
    if (target || !file_class) kv(w, "target_path", f.target_path());
    if (f.has_mode()) kv(w, "mode", octal(f.mode()));
    if (f.has_uid()) kv_uid(w, "uid", f.uid());
    if (f.has_gid()) kv_uid(w, "gid", f.gid());
    kv(w, "owner", f.owner());
    kv(w, "group", f.group());
    if (f.has_inode()) kv_uid(w, "inode", f.inode());
    if (f.has_device()) kv_uid(w, "device", f.device());
    w.end_object();
}

void unmapped_session(JsonWriter& w, const v1::Session& s) {
    if (s.login_user().empty() && s.remote_ip().empty()) return;
    w.key("session");
    w.begin_object();
    kv(w, "login_user", s.login_user());
    kv(w, "remote_ip", s.remote_ip());
    w.end_object();
}

void write_unmapped(JsonWriter& w, const v1::Event& ev, const Mapped& m) {
    w.key("unmapped");
    w.begin_object();
    unmapped_event(w, ev);
    if (ev.has_host() && !ev.host().boot_id().empty()) {
        w.key("host");
        w.begin_object();
        kv(w, "boot_id", ev.host().boot_id());
        w.end_object();
    }
    if (ev.has_agent()) {
        w.key("agent");
        w.begin_object();
        kv(w, "id", ev.agent().id());
        w.end_object();
    }
    if (ev.has_user()) unmapped_user(w, ev, m);
    if (ev.has_session()) unmapped_session(w, ev.session());
    if (ev.has_process()) unmapped_process(w, ev.process());
    if (ev.has_file()) unmapped_file(w, ev, m);
    if (ev.has_group() && m.cls != &kGroup) write_id(w, "group", ev.group());
    kv_list(w, "tags", ev.tags());
    if (ev.has_rule() && m.cls != &kDetection) {
        w.key("rule");
        w.begin_object();
        kv(w, "id", ev.rule().id());
        kv(w, "name", ev.rule().name());
        w.end_object();
    }
    if (m.cls != &kDetection) kv(w, "technique_id", ev.technique_id());
    if (ev.has_auditd()) write_auditd_json(w, ev.auditd());
    if (ev.has_ktrail()) write_ktrail_json(w, ev.ktrail());
    w.end_object();
}

}  // namespace

void append_ocsf(const v1::Event& ev, std::string& out) {
    Mapped m = map_event(ev);
    JsonWriter w(out);
    w.begin_object();
    write_classification(w, ev, m);
    write_metadata(w, ev);
    write_device(w, ev);
    write_body(w, ev, m);
    write_unmapped(w, ev, m);
    w.end_object();
}

}  // namespace ktrail
