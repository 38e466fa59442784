#include "source/audit/mapper.h"

#include <arpa/inet.h>
#include <libaudit.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <string>

namespace ktrail::audit {
namespace {

struct TypeInfo {
    std::string_view type;
    const char* action;
    const char* category;
    const char* event_type;
};

// Auditbeat's vocabulary (go-libaudit normalizations) for the record types.
// clang-format off
constexpr TypeInfo kTypes[] = {
    {"USER_AUTH", "authenticated", "authentication", "info"},
    {"USER_ACCT", "was-authorized", "authentication", "info"},
    {"USER_LOGIN", "logged-in", "authentication", "start"},
    {"USER_LOGOUT", "logged-out", "authentication", "end"},
    {"USER_START", "started-session", "session", "start"},
    {"USER_END", "ended-session", "session", "end"},
    {"USER_ERR", "error", "authentication", "info"},
    {"CRED_ACQ", "acquired-credentials", "authentication", "info"},
    {"CRED_DISP", "disposed-credentials", "authentication", "info"},
    {"CRED_REFR", "refreshed-credentials", "authentication", "info"},
    {"GRP_AUTH", "authenticated-to-group", "authentication", "info"},
    {"LOGIN", "changed-login-id-to", "authentication", "start"},
    {"USER_CMD", "ran-command", "process", "start"},
    {"ADD_USER", "added-user-account", "iam", "creation"},
    {"DEL_USER", "deleted-user-account", "iam", "deletion"},
    {"USER_MGMT", "modified-user-account", "iam", "change"},
    {"USER_CHAUTHTOK", "changed-password", "iam", "change"},
    {"ADD_GROUP", "added-group-account-to", "iam", "creation"},
    {"DEL_GROUP", "deleted-group-account-from", "iam", "deletion"},
    {"GRP_MGMT", "modified-group-account", "iam", "change"},
    {"GRP_CHAUTHTOK", "changed-group-password", "iam", "change"},
    {"ACCT_LOCK", "locked-account", "iam", "info"},
    {"ACCT_UNLOCK", "unlocked-account", "iam", "info"},
    {"ROLE_ASSIGN", "assigned-user-role-to", "iam", "change"},
    {"ROLE_REMOVE", "removed-user-role-from", "iam", "change"},
    {"ROLE_MODIFY", "modified-role", "iam", "change"},
    {"USER_ROLE_CHANGE", "changed-role-to", "iam", "change"},
    {"AVC", "violated-selinux-policy", "intrusion_detection", "denied"},
    {"USER_AVC", "access-permission", "intrusion_detection", "info"},
    {"CONFIG_CHANGE", "changed-audit-configuration", "configuration", "change"},
    {"DAEMON_CONFIG", "changed-auditd-configuration", "configuration", "change"},
    {"DAEMON_START", "started-audit", "process", "start"},
    {"DAEMON_END", "shutdown-audit", "process", "end"},
    {"SERVICE_START", "started-service", "process", "start"},
    {"SERVICE_STOP", "stopped-service", "process", "end"},
    {"SYSTEM_BOOT", "booted-system", "host", "start"},
    {"SYSTEM_SHUTDOWN", "shutdown-system", "host", "end"},
    {"SYSTEM_RUNLEVEL", "changed-to-runlevel", "host", "change"},
    {"KERN_MODULE", "loaded-kernel-module", "driver", "start"},
    {"NETFILTER_CFG", "loaded-firewall-rule-to", "configuration", "change"},
    {"USYS_CONFIG", "changed-configuration", "configuration", "change"},
    {"SOFTWARE_UPDATE", "package-updated", "package", "info"},
    {"ANOM_ABEND", "crashed-program", "process", "end"},
    {"ANOM_PROMISCUOUS", "changed-promiscuous-mode-on-device", "intrusion_detection", "change"},
    {"SECCOMP", "violated-seccomp-policy", "process", "info"},
    {"TTY", "typed", "process", "info"},
    {"USER_TTY", "typed", "process", "info"},
};

// The same for the syscall of an admin rule's hit (SYSCALL events).
struct SyscallAction {
    std::string_view syscall;
    const char* action;
    const char* category;
    const char* event_type;
};
constexpr SyscallAction kSyscalls[] = {
    {"open", "opened-file", "file", "info"}, {"openat", "opened-file", "file", "info"},
    {"openat2", "opened-file", "file", "info"}, {"creat", "opened-file", "file", "creation"},
    {"truncate", "opened-file", "file", "change"}, {"ftruncate", "opened-file", "file", "change"},
    {"read", "read-file", "file", "info"}, {"write", "wrote-to-file", "file", "change"},
    {"chmod", "changed-file-permissions-of", "file", "change"}, {"fchmod", "changed-file-permissions-of", "file", "change"},
    {"fchmodat", "changed-file-permissions-of", "file", "change"}, {"fchmodat2", "changed-file-permissions-of", "file", "change"},
    {"chown", "changed-file-ownership-of", "file", "change"}, {"fchown", "changed-file-ownership-of", "file", "change"},
    {"fchownat", "changed-file-ownership-of", "file", "change"}, {"lchown", "changed-file-ownership-of", "file", "change"},
    {"setxattr", "changed-file-attributes-of", "file", "change"}, {"lsetxattr", "changed-file-attributes-of", "file", "change"},
    {"fsetxattr", "changed-file-attributes-of", "file", "change"}, {"removexattr", "changed-file-attributes-of", "file", "change"},
    {"lremovexattr", "changed-file-attributes-of", "file", "change"}, {"fremovexattr", "changed-file-attributes-of", "file", "change"},
    {"unlink", "deleted", "file", "deletion"}, {"unlinkat", "deleted", "file", "deletion"}, {"rmdir", "deleted", "file", "deletion"},
    {"rename", "renamed", "file", "change"}, {"renameat", "renamed", "file", "change"}, {"renameat2", "renamed", "file", "change"},
    {"link", "linked", "file", "creation"}, {"linkat", "linked", "file", "creation"},
    {"symlink", "symlinked", "file", "creation"}, {"symlinkat", "symlinked", "file", "creation"},
    {"mkdir", "created-directory", "file", "creation"}, {"mkdirat", "created-directory", "file", "creation"},
    {"mknod", "make-device", "file", "creation"}, {"mknodat", "make-device", "file", "creation"},
    {"mount", "mounted", "file", "creation"}, {"umount2", "unmounted", "file", "deletion"},
    {"execve", "executed", "process", "start"}, {"execveat", "executed", "process", "start"},
    {"init_module", "loaded-kernel-module", "driver", "start"}, {"finit_module", "loaded-kernel-module", "driver", "start"},
    {"delete_module", "unloaded-kernel-module", "driver", "end"},
    {"setuid", "changed-identity-of", "process", "change"}, {"setreuid", "changed-identity-of", "process", "change"},
    {"setresuid", "changed-identity-of", "process", "change"}, {"setfsuid", "changed-identity-of", "process", "change"},
    {"setgid", "changed-identity-of", "process", "change"}, {"setregid", "changed-identity-of", "process", "change"},
    {"setresgid", "changed-identity-of", "process", "change"}, {"setfsgid", "changed-identity-of", "process", "change"},
    {"kill", "killed-pid", "process", "end"}, {"tkill", "killed-pid", "process", "end"}, {"tgkill", "killed-pid", "process", "end"},
    {"connect", "connected-to", "network", "connection"}, {"bind", "bound-socket", "network", "start"},
    {"listen", "listen-for-connections", "network", "start"}, {"accept", "accepted-connection-from", "network", "connection"},
    {"accept4", "accepted-connection-from", "network", "connection"},
    {"settimeofday", "changed-system-time", "host", "change"}, {"clock_settime", "changed-system-time", "host", "change"},
    {"adjtimex", "changed-system-time", "host", "change"}, {"sethostname", "changed-system-name", "host", "change"},
    {"setdomainname", "changed-system-name", "host", "change"},
    {"ptrace", "traced-process", "process", "info"},
};
// clang-format on

bool present(const std::string* v) { return v && !v->empty() && *v != "?" && *v != "(null)" && *v != "(none)"; }

template <typename T>
bool number(const std::string* v, T& out, int base = 10) {
    if (!v) return false;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out, base);
    return ec == std::errc() && p == v->data() + v->size();
}

bool is_ip(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

const AuditRecord* find_type(const AuditEvent& e, uint32_t type) {
    for (const auto& r : e.records)
        if (r.type == type) return &r;
    return nullptr;
}

void set_outcome(const AuditRecord& r, v1::Event& ev) {
    const std::string* res = r.get("res");
    const std::string* success = r.get("success");
    std::string v = res ? *res : success ? *success : "";
    if (v == "success" || v == "yes" || v == "1") ev.set_outcome("success");
    else if (v == "failed" || v == "no" || v == "0") ev.set_outcome("failure");
    else ev.set_outcome("unknown");
    int64_t exit_code = 0;
    if (ev.outcome() == "failure" && number(r.get("exit"), exit_code) && exit_code < 0) {
        const char* name = strerrorname_np(static_cast<int>(-exit_code));
        if (name) ev.set_reason(name);
    }
}

void set_actor(const AuditRecord& r, v1::Event& ev) {
    auto* p = ev.mutable_process();
    uint32_t n = 0;
    if (number(r.get("pid"), n)) p->set_pid(n);
    if (number(r.get("ppid"), n)) p->mutable_parent()->set_pid(n);
    if (present(r.get("comm"))) p->set_name(*r.get("comm"));
    if (present(r.get("exe"))) p->set_executable(*r.get("exe"));
    auto* u = ev.mutable_user();
    if (number(r.get("auid"), n) && n != 0xffffffffu) u->mutable_audit()->set_id(n);
    if (number(r.get("ses"), n) && n != 0xffffffffu) ev.mutable_session()->set_id(n);
}

// EXECVE: argc arguments a0, a1, ...; a long list continues in further EXECVE
// records, and a long argument is split as aN_len=, aN[0]=, aN[1]=, ...
void add_exec_args(const AuditEvent& e, v1::Event& ev) {
    std::vector<const AuditRecord*> execs;
    for (const auto& r : e.records)
        if (r.type == 1309) execs.push_back(&r);
    if (execs.empty()) return;
    auto get = [&](const std::string& key) -> const std::string* {
        for (const auto* r : execs)
            if (const auto* v = r->get(key)) return v;
        return nullptr;
    };
    int argc = 0;
    number(get("argc"), argc);
    for (int i = 0; i < argc; ++i) {
        std::string name = "a" + std::to_string(i);
        if (const std::string* a = get(name)) {
            ev.mutable_process()->add_args(*a);
            continue;
        }
        if (!get(name + "_len")) break;  // not logged: the rest is missing
        std::string joined;
        for (int part = 0;; ++part) {
            const std::string* chunk = get(name + "[" + std::to_string(part) + "]");
            if (!chunk) break;
            joined += *chunk;
        }
        ev.mutable_process()->add_args(joined);
    }
}

// SYSCALL events: the process's ids, the syscall's action, files from PATH
// records, the command line from EXECVE, the rule keys as tags.
void map_syscall(const AuditEvent& e, const AuditRecord& sys, v1::Event& ev) {
    set_actor(sys, ev);
    auto* u = ev.mutable_user();
    uint32_t n = 0;
    if (number(sys.get("uid"), n)) u->set_id(n);
    if (number(sys.get("euid"), n)) u->mutable_effective()->set_id(n);
    if (number(sys.get("gid"), n)) u->mutable_group()->set_id(n);

    std::string name;
    unsigned long arch = 0;
    int nr = 0;
    if (number(sys.get("arch"), arch, 16) && number(sys.get("syscall"), nr)) {
        int machine = audit_elf_to_machine(static_cast<unsigned int>(arch));
        const char* s = machine >= 0 ? audit_syscall_to_name(nr, machine) : nullptr;
        name = s ? s : "syscall-" + std::to_string(nr);
    }
    ev.mutable_ktrail()->set_syscall(name);
    auto it = std::find_if(std::begin(kSyscalls), std::end(kSyscalls), [&](const SyscallAction& a) { return a.syscall == name; });
    if (it != std::end(kSyscalls)) {
        ev.set_action(it->action);
        ev.add_category(it->category);
        ev.add_type(it->event_type);
    } else {
        ev.set_action(name);
        ev.add_category("process");
        ev.add_type("info");
    }
    if (const auto* key = sys.get("key"); present(key)) {
        // Several -k on one rule are joined with 0x01.
        size_t i = 0;
        while (i <= key->size()) {
            size_t j = key->find('\x01', i);
            if (j == std::string::npos) j = key->size();
            if (j > i) ev.add_tags(key->substr(i, j - i));
            i = j + 1;
        }
    }
    const AuditRecord* cwd = find_type(e, 1307);  // CWD
    std::string dir = cwd && present(cwd->get("cwd")) ? *cwd->get("cwd") : "";
    if (!dir.empty()) ev.mutable_process()->set_working_directory(dir);
    // The object: the last PATH that is not the parent directory.
    const AuditRecord* object = nullptr;
    for (const auto& r : e.records)
        if (r.type == 1302 && (!r.get("nametype") || *r.get("nametype") != "PARENT")) object = &r;
    if (object && present(object->get("name"))) {
        std::string path = *object->get("name");
        if (path[0] != '/' && !dir.empty()) path = dir + "/" + path;
        auto* f = ev.mutable_file();
        f->set_path(path);
        uint64_t ino = 0;
        uint32_t mode = 0, id = 0;
        if (number(object->get("inode"), ino)) f->set_inode(ino);
        if (number(object->get("mode"), mode, 8)) f->set_mode(mode & 07777);
        if (number(object->get("ouid"), id)) f->set_uid(id);
        if (number(object->get("ogid"), id)) f->set_gid(id);
    }
    add_exec_args(e, ev);
}

// User-space records: who (the account the record is about), from where.
void map_user_space(const AuditRecord& r, const TypeInfo* info, v1::Event& ev) {
    set_actor(r, ev);
    ev.set_action(info ? info->action : lower(r.type_name));
    ev.add_category(info ? info->category : "process");
    ev.add_type(info ? info->event_type : "info");
    const std::string* acct = r.get("acct");
    uint32_t id = 0;
    bool has_id = number(r.get("id"), id) && id != 0xffffffffu;
    bool account_change = info && std::string_view(info->category) == "iam";
    bool group_change = account_change && (r.type_name.find("GRP") != std::string::npos || r.type_name.find("GROUP") != std::string::npos);
    if (group_change) {
        auto* g = ev.mutable_group();
        if (present(acct)) g->set_name(*acct);
        else if (present(r.get("grp"))) g->set_name(*r.get("grp"));
        if (has_id) g->set_id(id);
    } else if (account_change) {
        auto* t = ev.mutable_user()->mutable_target();
        if (present(acct)) t->set_name(*acct);
        if (has_id) t->set_id(id);
    } else {
        // Logins, authentication, sessions: the account that logs in.
        if (present(acct)) ev.mutable_user()->set_name(*acct);
        if (has_id) ev.mutable_user()->set_id(id);
    }
    std::string addr = present(r.get("addr")) ? *r.get("addr") : "";
    if (addr.empty() && present(r.get("hostname")) && is_ip(*r.get("hostname"))) addr = *r.get("hostname");
    if (!addr.empty() && is_ip(addr)) {
        ev.mutable_source()->set_ip(addr);
        uint32_t port = 0;
        if (number(r.get("rport"), port)) ev.mutable_source()->set_port(port);
    }
    bool session = info && (std::string_view(info->category) == "authentication" || std::string_view(info->category) == "session");
    if (session) {
        auto* s = ev.mutable_session();
        if (present(acct)) s->set_login_user(*acct);
        if (!addr.empty() && is_ip(addr)) s->set_remote_ip(addr);
        if (present(r.get("terminal"))) s->set_tty(*r.get("terminal"));
    }
    if (r.type_name == "USER_CMD" && present(r.get("cmd"))) {
        ev.mutable_process()->set_command_line(*r.get("cmd"));
        if (present(r.get("cwd"))) ev.mutable_process()->set_working_directory(*r.get("cwd"));
    }
    if (r.type_name == "LOGIN") {
        uint32_t auid = 0;
        if (number(r.get("auid"), auid) && auid != 0xffffffffu) ev.mutable_user()->mutable_audit()->set_id(auid);
    }
}

// An AVC is AppArmor's or SELinux's, and a denial or a grant.
void refine_avc(const AuditRecord& r, v1::Event& ev) {
    if (r.type_name != "AVC") return;
    if (r.get("apparmor")) ev.set_action("violated-apparmor-policy");
    if (r.get("seresult") && *r.get("seresult") == "granted") ev.set_action("access-permission");
}

}  // namespace

const char* action_for_type(std::string_view type_name) {
    for (const auto& t : kTypes)
        if (t.type == type_name) return t.action;
    return nullptr;
}

void map_event(const AuditEvent& in, v1::Event& ev) {
    ev.Clear();
    if (in.records.empty()) return;
    const AuditRecord* sys = find_type(in, kSyscall);
    const AuditRecord& primary = sys ? *sys : in.records.front();
    ev.set_time_ns(primary.time_ns);
    ev.set_kind("event");
    ev.set_module("audit");
    set_outcome(primary, ev);
    const TypeInfo* info = nullptr;
    for (const auto& t : kTypes)
        if (t.type == primary.type_name) info = &t;
    if (sys) map_syscall(in, *sys, ev);
    else map_user_space(primary, info, ev);

    // A record that says what happened (CONFIG_CHANGE, AVC, ...) beside the
    // SYSCALL that carried it names the action; the syscall gives the actor.
    const AuditRecord* meaning = nullptr;
    const TypeInfo* meaning_info = nullptr;
    if (sys) {
        for (const auto& r : in.records)
            for (const auto& t : kTypes)
                if (!meaning && t.type == r.type_name) {
                    meaning = &r;
                    meaning_info = &t;
                }
    }
    if (meaning) {
        ev.set_action(meaning_info->action);
        ev.clear_category();
        ev.clear_type();
        ev.add_category(meaning_info->category);
        ev.add_type(meaning_info->event_type);
        if (meaning->get("res")) set_outcome(*meaning, ev);
    }

    refine_avc(meaning ? *meaning : primary, ev);

    auto* a = ev.mutable_auditd();
    a->set_message_type(lower(meaning ? meaning->type_name : primary.type_name));
    auto* data = a->mutable_data();
    for (const auto& [k, v] : primary.fields) data->insert({k, v});
    if (meaning)
        for (const auto& [k, v] : meaning->fields) (*data)[k] = v;
    (*data)["sequence"] = std::to_string(in.serial);
}

}  // namespace ktrail::audit
