// What the ktrail rules cost per event: a realistic host mix of enriched
// events (as the agent has them after enrichment, before emit) run through
// Engine::apply, and Engine::count when the event matched an alert rule, as
// Agent::process does. The same events through an empty rule set are the
// baseline, timed in the same run (each event goes through both, one after
// the other).
//   rules_bench [PATH|-] [EVENTS]
// PATH: a rule file or directory (default, or "-": the default rule set,
// KTRAIL_DEFAULT_RULES_DIR); EVENTS: timed events (default 1000000).
// The mix: mostly writes under /tmp, /var/lib, /run, /var/log, /home and
// /proc- or /sys-like noise, process starts and exits, cron and sshd
// changing identity, the package manager's file work, some logins and sudo
// commands from the audit stream; a few events of the kinds default rules
// look for (identity files, sudoers, authorized_keys, cron, a program run
// from /tmp, failed logins, setuid bits, modules).
// Prints, times in ns per call (each includes one clock read, see
// timer_overhead_ns):
//   rules_bench events=N templates=N path=..
//   rules_loaded n=.. drop=.. keep=.. alert=.. files=..
//   rules_mix matched=..% dropped=..% alert_hits=..% alerts=N   (share of timed events)
//   timer_overhead_ns median=.. p99=..
//   rules_baseline_ns median=.. p99=.. mean=..   (empty rule set)
//   rules_eval_ns median=.. p99=.. mean=..       (the loaded set)
//   rules_eval_ratio median=.. mean=..           (eval / baseline)
//   rules_eval_kind_ns KIND median=.. p99=..     (per kind of event, one line each)
// Exits 1 with the errors when the rules do not load, 2 on bad usage.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ktrail/v1/event.pb.h"
#include "rules/engine.h"
#include "rules/rule_set.h"
#include "bench_stats.h"

namespace {

using ktrail::v1::Event;
using namespace ktrail::bench;

constexpr size_t kWarmup = 50'000;
constexpr int64_t kStartNs = 1'760'000'000'000'000'000;  // some time in 2025
constexpr int64_t kStepNs = 20'000;                      // 50k events/s

// --- the processes of the synthetic host -------------------------------------
struct Proc {
    const char* exe;
    const char* parent_exe;
    std::vector<std::string> args;
    uint32_t uid;
    const char* user;
    bool login;  // in an ssh session of deploy (auid 1000)
    const char* container = "";
    uint32_t pid = 0;
};

std::vector<Proc> procs() {
    // clang-format off
    return {
        /* 0 */ {"/usr/bin/python3.11", "/usr/bin/python3.11",
                 {"/usr/bin/python3", "-m", "app.worker", "--queue", "jobs"}, 1000, "deploy", true},
        /* 1 */ {"/usr/bin/containerd", "/usr/lib/systemd/systemd", {"/usr/bin/containerd"}, 0, "root", false},
        /* 2 */ {"/usr/lib/systemd/systemd", "", {"/sbin/init", "splash"}, 0, "root", false},
        /* 3 */ {"/usr/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd",
                 {"/usr/lib/systemd/systemd-journald"}, 0, "root", false},
        /* 4 */ {"/usr/sbin/rsyslogd", "/usr/lib/systemd/systemd",
                 {"/usr/sbin/rsyslogd", "-n", "-iNONE"}, 104, "syslog", false},
        /* 5 */ {"/usr/bin/bash", "/usr/sbin/sshd", {"-bash"}, 1000, "deploy", true},
        /* 6 */ {"/usr/bin/git", "/usr/bin/bash", {"git", "pull", "--ff-only"}, 1000, "deploy", true},
        /* 7 */ {"/usr/sbin/nginx", "/usr/sbin/nginx", {"nginx: worker process"}, 33, "www-data", false},
        /* 8 */ {"/usr/bin/dockerd", "/usr/lib/systemd/systemd", {"/usr/bin/dockerd", "-H", "fd://"}, 0, "root", false},
        /* 9 */ {"/usr/bin/node", "/usr/bin/containerd-shim-runc-v2", {"node", "server.js"}, 1001, "", false,
                 "3f4e2a9c1b7d5e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"},
        /* 10 */ {"/usr/bin/dpkg", "/usr/bin/apt-get",
                  {"/usr/bin/dpkg", "--status-fd", "23", "--configure", "--pending"}, 0, "root", false},
        /* 11 */ {"/usr/sbin/sshd", "/usr/sbin/sshd", {"sshd: deploy [priv]"}, 0, "root", false},
        /* 12 */ {"/usr/sbin/cron", "/usr/sbin/cron", {"/usr/sbin/CRON", "-f", "-P"}, 0, "root", false},
        /* 13 */ {"/usr/bin/sudo", "/usr/bin/bash", {"sudo", "vi", "/etc/ssh/sshd_config"}, 0, "root", true},
        /* 14 */ {"/usr/sbin/usermod", "/usr/bin/sudo", {"usermod", "-aG", "docker", "ci"}, 0, "root", true},
        /* 15 */ {"/usr/bin/crontab", "/usr/bin/bash", {"crontab", "-e"}, 1000, "deploy", true},
        /* 16 */ {"/tmp/.x/kworkerd", "/usr/bin/bash",
                  {"/tmp/.x/kworkerd", "-c", "pool.example:3333"}, 1000, "deploy", true},
        /* 17 */ {"/usr/bin/vi", "/usr/bin/sudo", {"vi", "/etc/sudoers.d/90-deploy"}, 0, "root", true},
        /* 18 */ {"/usr/sbin/logrotate", "/usr/bin/bash",
                  {"/usr/sbin/logrotate", "/etc/logrotate.conf"}, 0, "root", false},
        /* 19 */ {"/usr/sbin/modprobe", "/usr/lib/systemd/systemd",
                  {"/sbin/modprobe", "-q", "--", "nf_tables"}, 0, "root", false},
        /* 20 */ {"/usr/bin/chmod", "/usr/bin/bash", {"chmod", "u+s", "/tmp/.x/sh"}, 1000, "deploy", true},
        /* 21 */ {"/usr/bin/ls", "/usr/bin/bash", {"ls", "--color=auto", "-la"}, 1000, "deploy", true},
        /* 22 */ {"/usr/bin/curl", "/usr/bin/bash",
                  {"curl", "-fsSL", "https://example.com/install.sh"}, 1000, "deploy", true},
        /* 23 */ {"/usr/lib/apt/methods/http", "/usr/bin/apt-get", {"/usr/lib/apt/methods/http"}, 42, "_apt", false},
    };
    // clang-format on
}

std::string basename(const std::string& p) { return p.substr(p.rfind('/') + 1); }

// What the decoder and the enricher fill for any event of `p`.
void fill_process(const Proc& p, Event& ev) {
    auto* pr = ev.mutable_process();
    pr->set_pid(p.pid);
    pr->set_thread_id(p.pid);
    pr->set_name(basename(p.exe).substr(0, 15));
    pr->set_executable(p.exe);
    for (const auto& a : p.args) pr->add_args(a);
    pr->set_working_directory(p.login ? "/home/deploy" : "/");
    pr->set_start_ns(kStartNs - 3'600'000'000'000);
    pr->set_entity_id("Yj3kQ9x2LwE8" + std::to_string(p.pid));
    if (*p.parent_exe) {
        auto* pa = pr->mutable_parent();
        pa->set_pid(p.pid - 1);
        pa->set_executable(p.parent_exe);
        pa->set_entity_id("Yj3kQ9x2LwE8" + std::to_string(p.pid - 1));
        pr->add_ancestry(pa->entity_id());
        pr->add_ancestry("Yj3kQ9x2LwE81");
    }
    auto* u = ev.mutable_user();
    u->set_id(p.uid);
    if (*p.user) u->set_name(p.user);
    u->mutable_effective()->set_id(p.uid);
    if (*p.user) u->mutable_effective()->set_name(p.user);
    u->mutable_group()->set_id(p.uid);
    if (*p.user) u->mutable_group()->set_name(p.user);
    if (p.login) {
        u->mutable_audit()->set_id(1000);
        u->mutable_audit()->set_name("deploy");
        auto* s = ev.mutable_session();
        s->set_id(7);
        s->set_login_user("deploy");
        s->set_remote_ip("203.0.113.24");
        s->set_tty("/dev/pts/0");
        s->set_start_ns(kStartNs - 600'000'000'000);
    }
    if (*p.container) ev.set_container_id(p.container);
}

void header(Event& ev, const char* module, const char* action, const char* category, const char* type, bool ok = true) {
    ev.set_kind("event");
    ev.set_module(module);
    ev.set_action(action);
    ev.add_category(category);
    ev.add_type(type);
    ev.set_outcome(ok ? "success" : "failure");
}

// A BPF file event: opened-file (write), created-file, deleted, renamed, chmod, ...
Event file_event(const Proc& p, const char* action, const char* type, const char* syscall, const std::string& path,
                 std::vector<const char*> flags = {}, int mode = -1, const std::string& target = "") {
    Event ev;
    header(ev, "bpf", action, "file", type);
    fill_process(p, ev);
    auto* k = ev.mutable_ktrail();
    k->set_syscall(syscall);
    for (const char* f : flags) k->add_flags(f);
    auto* f = ev.mutable_file();
    f->set_path(path);
    if (!target.empty()) f->set_target_path(target);
    f->set_inode(1'048'576 + path.size());
    f->set_device(0x801);
    f->set_mode(mode >= 0 ? mode : 0644);
    return ev;
}

Event write_event(const Proc& p, const std::string& path) {
    return file_event(p, "opened-file", "change", "openat", path, {"O_WRONLY", "O_CREAT", "O_TRUNC"});
}

Event exec_event(const Proc& p) {
    Event ev;
    header(ev, "bpf", "executed", "process", "start");
    fill_process(p, ev);
    ev.mutable_ktrail()->set_syscall("execve");
    auto* f = ev.mutable_file();
    f->set_path(p.exe);
    f->set_inode(2'000'000);
    f->set_device(0x801);
    f->set_mode(0755);
    return ev;
}

Event lifecycle_event(const Proc& p, const char* action, const char* type) {
    Event ev;
    header(ev, "bpf", action, "process", type);
    fill_process(p, ev);
    if (std::string_view(action) == "exited") ev.mutable_process()->set_exit_code(0);
    return ev;
}

// setresuid as cron and sshd call it to become the user: ids after the call.
Event setuid_event(const Proc& p, uint32_t uid) {
    Event ev;
    header(ev, "bpf", "changed-identity-of", "process", "change");
    fill_process(p, ev);
    auto* u = ev.mutable_user();
    u->set_id(uid);
    u->mutable_effective()->set_id(uid);
    u->mutable_effective()->set_name("deploy");
    auto* k = ev.mutable_ktrail();
    k->set_syscall("setresuid");
    for (int i = 0; i < 3; ++i) k->add_args(uid);
    return ev;
}

Event module_event(const Proc& p) {
    Event ev;
    header(ev, "bpf", "loaded-kernel-module", "driver", "start");
    fill_process(p, ev);
    auto* k = ev.mutable_ktrail();
    k->set_syscall("finit_module");
    k->set_module_name("nf_tables");
    ev.mutable_file()->set_path("/usr/lib/modules/6.1.0-28-amd64/kernel/net/netfilter/nf_tables.ko");
    return ev;
}

// An audit user-space event, as the mapper fills it (sshd's or sudo's records).
Event audit_event(const char* type_name, const char* action, const char* category, const char* type, bool ok,
                  const std::string& user, uint32_t uid, const char* exe,
                  std::vector<std::pair<std::string, std::string>> data) {
    Event ev;
    header(ev, "audit", action, category, type, ok);
    auto* pr = ev.mutable_process();
    pr->set_pid(4242);
    pr->set_executable(exe);
    pr->set_name(basename(exe));
    pr->set_entity_id("Yj3kQ9x2LwE84242");
    pr->mutable_parent()->set_pid(900);
    pr->mutable_parent()->set_executable("/usr/sbin/sshd");
    auto* u = ev.mutable_user();
    u->set_name(user);
    if (uid != 0xffffffffu) u->set_id(uid);
    if (std::string_view(category) == "authentication" || std::string_view(category) == "session") {
        auto* s = ev.mutable_session();
        s->set_login_user(user);
        s->set_remote_ip("198.51.100.77");
        s->set_tty("ssh");
        ev.mutable_source()->set_ip("198.51.100.77");
        ev.mutable_source()->set_port(52144);
    }
    auto* a = ev.mutable_auditd();
    std::string lower(type_name);
    for (auto& c : lower) c = static_cast<char>(tolower(c));
    a->set_message_type(lower);
    auto& m = *a->mutable_data();
    m["pid"] = "4242";
    m["uid"] = "0";
    m["auid"] = "4294967295";
    m["ses"] = "4294967295";
    m["exe"] = exe;
    m["res"] = ok ? "success" : "failed";
    for (auto& [k, v] : data) m[k] = v;
    m["sequence"] = "81234";
    return ev;
}

// --- the mix -----------------------------------------------------------------
struct Kind {
    std::string name;
    unsigned weight;            // per 10000 events
    std::vector<Event> events;  // one chosen at random each time
};

std::vector<Kind> make_mix() {
    std::vector<Proc> P = procs();
    for (size_t i = 0; i < P.size(); ++i) P[i].pid = static_cast<uint32_t>(1200 + 37 * i);
    std::vector<Kind> k;
    auto add = [&](std::string name, unsigned weight, std::vector<Event> evs) {
        k.push_back({std::move(name), weight, std::move(evs)});
    };
    // Noise, most of the stream.
    std::vector<Event> tmp, varlib, run, procsys, varlog, home;
    for (int i = 0; i < 16; ++i) {
        tmp.push_back(write_event(P[0], "/tmp/pip-build-" + std::to_string(1000 + i) + "/wheel/app/__init__.py"));
        tmp.push_back(write_event(P[6], "/tmp/git-objects-" + std::to_string(i) + "/pack.tmp"));
        varlib.push_back(write_event(P[1], "/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db"));
        varlib.push_back(
            write_event(P[8], "/var/lib/docker/containers/" + std::to_string(7700 + i) + "/hostconfig.json"));
        varlib.push_back(write_event(P[2], "/var/lib/systemd/timers/stamp-apt-daily.timer"));
        run.push_back(write_event(P[2], "/run/systemd/units/invocation:session-" + std::to_string(i) + ".scope"));
        run.push_back(
            write_event(P[1], "/run/containerd/io.containerd.runtime.v2.task/moby/" + std::to_string(i) + "/init.pid"));
        procsys.push_back(write_event(P[2], "/proc/" + std::to_string(3000 + i) + "/oom_score_adj"));
        procsys.push_back(
            write_event(P[1], "/sys/fs/cgroup/system.slice/docker-" + std::to_string(i) + ".scope/cgroup.procs"));
        varlog.push_back(
            file_event(P[4], "opened-file", "change", "openat", "/var/log/syslog", {"O_WRONLY", "O_APPEND"}));
        varlog.push_back(write_event(P[3], "/var/log/journal/8e1c5b/system@" + std::to_string(i) + ".journal"));
        varlog.push_back(
            file_event(P[7], "opened-file", "change", "openat", "/var/log/nginx/access.log", {"O_WRONLY", "O_APPEND"}));
        home.push_back(write_event(P[5], "/home/deploy/.bash_history"));
        home.push_back(write_event(P[0], "/home/deploy/.cache/app/session-" + std::to_string(i) + ".json"));
        home.push_back(write_event(P[6], "/home/deploy/src/app/.git/index.lock"));
    }
    add("write_tmp", 2400, tmp);
    add("write_var_lib", 1500, varlib);
    add("write_run", 1000, run);
    add("write_proc_sys", 800, procsys);
    add("write_var_log", 800, varlog);
    add("write_home", 600, home);
    std::vector<Event> created, deleted, renamed, chmod;
    for (int i = 0; i < 8; ++i) {
        std::string t = "/tmp/tmp" + std::to_string(4100 + i) + ".tmp";
        created.push_back(
            file_event(P[0], "created-file", "creation", "openat", t, {"O_RDWR", "O_CREAT", "O_EXCL"}, 0600));
        created.push_back(file_event(P[1], "created-file", "creation", "openat",
                                     "/var/lib/containerd/tmpmounts/m" + std::to_string(i), {"O_WRONLY", "O_CREAT"}));
        deleted.push_back(file_event(P[0], "deleted", "deletion", "unlinkat", t));
        deleted.push_back(file_event(P[6], "deleted", "deletion", "unlinkat", "/home/deploy/src/app/.git/index.lock"));
        renamed.push_back(file_event(P[8], "renamed", "change", "renameat2",
                                     "/var/lib/docker/network/files/local-kv.db.tmp" + std::to_string(i), {}, -1,
                                     "/var/lib/docker/network/files/local-kv.db"));
        renamed.push_back(file_event(P[6], "renamed", "change", "rename", "/home/deploy/src/app/.git/index.lock", {},
                                     -1, "/home/deploy/src/app/.git/index"));
        chmod.push_back(file_event(P[0], "changed-file-permissions-of", "change", "fchmodat", t, {}, 0600));
        chmod.push_back(file_event(P[6], "changed-file-permissions-of", "change", "fchmod",
                                   "/home/deploy/src/app/.git/hooks/post-merge", {}, 0755));
    }
    add("created_file", 400, created);
    add("deleted", 400, deleted);
    add("renamed", 300, renamed);
    add("chmod", 100, chmod);
    add("executed", 400, {exec_event(P[21]), exec_event(P[6]), exec_event(P[0]), exec_event(P[12]), exec_event(P[9])});
    add("forked", 300,
        {lifecycle_event(P[5], "forked", "start"), lifecycle_event(P[2], "forked", "start"),
         lifecycle_event(P[12], "forked", "start")});
    add("exited", 300,
        {lifecycle_event(P[21], "exited", "end"), lifecycle_event(P[6], "exited", "end"),
         lifecycle_event(P[12], "exited", "end")});
    add("changed_identity", 100, {setuid_event(P[12], 1000), setuid_event(P[11], 1000)});
    // The package manager at work (default sets drop some of it).
    add("package_manager", 300,
        {write_event(P[10], "/usr/lib/python3/dist-packages/yaml/constructor.py"),
         file_event(P[10], "renamed", "change", "rename", "/usr/bin/git.dpkg-new", {}, -1, "/usr/bin/git"),
         write_event(P[10], "/var/lib/dpkg/status-new"), exec_event(P[10]),
         write_event(P[10], "/usr/share/doc/git/changelog.Debian.gz"),
         file_event(P[10], "created-file", "creation", "openat", "/usr/share/locale/de/LC_MESSAGES/git.mo",
                    {"O_WRONLY", "O_CREAT", "O_EXCL"}),
         file_event(P[10], "renamed", "change", "rename", "/usr/share/man/man1/git.1.gz.dpkg-new", {}, -1,
                    "/usr/share/man/man1/git.1.gz"),
         write_event(P[23], "/var/lib/apt/lists/partial/deb.debian.org_debian_dists_bookworm_InRelease")});
    // The audit stream: logins, sudo.
    const char* sshd = "/usr/sbin/sshd";
    const char* sudo = "/usr/bin/sudo";
    add("audit_login", 60,
        {audit_event("USER_AUTH", "authenticated", "authentication", "info", true, "deploy", 1000, sshd,
                     {{"op", "PAM:authentication"},
                      {"grantors", "pam_unix"},
                      {"acct", "deploy"},
                      {"addr", "198.51.100.77"},
                      {"terminal", "ssh"}}),
         audit_event("USER_LOGIN", "logged-in", "authentication", "start", true, "deploy", 1000, sshd,
                     {{"op", "login"}, {"id", "1000"}, {"addr", "198.51.100.77"}, {"terminal", "/dev/pts/0"}}),
         audit_event("USER_START", "started-session", "session", "start", true, "deploy", 1000, sshd,
                     {{"op", "PAM:session_open"}, {"acct", "deploy"}, {"addr", "198.51.100.77"}, {"terminal", "ssh"}}),
         audit_event("LOGIN", "changed-login-id-to", "authentication", "start", true, "deploy", 1000, sshd,
                     {{"old-auid", "4294967295"}, {"auid", "1000"}, {"ses", "7"}})});
    add("audit_sudo", 40,
        {audit_event("USER_CMD", "ran-command", "process", "start", true, "deploy", 1000, sudo,
                     {{"cwd", "/home/deploy"}, {"cmd", "systemctl restart nginx"}, {"terminal", "pts/0"}}),
         audit_event("USER_CMD", "ran-command", "process", "start", true, "deploy", 1000, sudo,
                     {{"cwd", "/home/deploy"}, {"cmd", "/bin/bash"}, {"terminal", "pts/0"}}),
         audit_event("USER_AUTH", "authenticated", "authentication", "info", true, "deploy", 1000, sudo,
                     {{"op", "PAM:authentication"}, {"acct", "deploy"}, {"terminal", "/dev/pts/0"}})});
    // Failed logins (ssh brute force: alert rules count them).
    std::vector<Event> failed;
    for (const char* user : {"root", "admin", "ubuntu", "oracle"})
        failed.push_back(
            audit_event("USER_AUTH", "authenticated", "authentication", "info", false, user, 0xffffffffu, sshd,
                        {{"op", "PAM:authentication"}, {"acct", user}, {"addr", "192.0.2.10"}, {"terminal", "ssh"}}));
    add("audit_failed_login", 40, failed);
    // What default rules look for: rare.
    add("suspicious_file", 40,
        {write_event(P[14], "/etc/passwd"), write_event(P[14], "/etc/shadow"), write_event(P[14], "/etc/group"),
         write_event(P[17], "/etc/sudoers.d/90-deploy"), write_event(P[5], "/home/deploy/.ssh/authorized_keys"),
         write_event(P[15], "/var/spool/cron/crontabs/deploy"), write_event(P[13], "/etc/cron.d/backup"),
         write_event(P[13], "/etc/systemd/system/kworkerd.service"),
         file_event(P[20], "changed-file-permissions-of", "change", "fchmodat", "/tmp/.x/sh", {}, 04755),
         file_event(P[18], "deleted", "deletion", "unlinkat", "/var/log/auth.log.4.gz"),
         file_event(P[5], "deleted", "deletion", "unlinkat", "/home/deploy/.bash_history")});
    add("suspicious_exec", 20,
        {exec_event(P[16]), exec_event(P[22]), exec_event(P[14]), exec_event(P[13]), module_event(P[19])});
    return k;
}

// --- measuring -----------------------------------------------------------------
unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

int main(int argc, char** argv) {
    std::string path = KTRAIL_DEFAULT_RULES_DIR;
    size_t events = 1'000'000;
    if (argc > 3 || (argc == 3 && (events = strtoull(argv[2], nullptr, 10)) == 0)) {
        fprintf(stderr, "usage: rules_bench [PATH|-] [EVENTS]   (PATH: rule file or directory; default %s)\n",
                KTRAIL_DEFAULT_RULES_DIR);
        return 2;
    }
    if (argc >= 2 && std::string_view(argv[1]) != "-") path = argv[1];

    auto loaded = ktrail::rules::load_rules({path});
    if (!loaded.set) {
        fprintf(stderr, "rules_bench: %zu error(s) in the rules at %s:\n", loaded.errors.size(), path.c_str());
        for (const auto& e : loaded.errors) fprintf(stderr, "  %s\n", e.to_string().c_str());
        return 1;
    }
    const auto& set = *loaded.set;
    size_t drops = 0, keeps = 0, alerts = 0;
    for (const auto& r : set.rules) {
        drops += r.drop;
        keeps += r.keep;
        alerts += r.alert.has_value();
    }
    ktrail::rules::Engine engine(loaded.set);
    ktrail::rules::Engine baseline(std::make_shared<ktrail::rules::RuleSet>());

    std::vector<Kind> mix = make_mix();
    size_t templates = 0;
    std::vector<size_t> by_weight;  // 10000 slots, each a kind
    for (size_t i = 0; i < mix.size(); ++i) {
        templates += mix[i].events.size();
        by_weight.insert(by_weight.end(), mix[i].weight, i);
    }

    // The clock read each timed span includes.
    std::vector<uint32_t> timer(100'000);
    for (auto& t : timer) {
        auto a = Clock::now();
        auto b = Clock::now();
        t = ns_between(a, b);
    }

    // One reused Event (as Agent::next_event), refilled from a template; the
    // agent's event.id set (emit does that before count); then the empty set
    // and the loaded set, each call timed on its own.
    Event ev;
    std::vector<const ktrail::rules::Rule*> hits;
    std::vector<Event> alert_events;
    std::vector<uint32_t> base_ns(events), eval_ns(events);
    std::vector<std::vector<uint32_t>> kind_ns(mix.size());
    for (auto& v : kind_ns) v.reserve(events / 5);
    size_t matched = 0, dropped = 0, with_hits = 0, alerts_out = 0;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    int64_t now = kStartNs;
    for (size_t i = 0; i < kWarmup + events; ++i) {
        uint64_t r = xorshift(rng);
        size_t kind = by_weight[r % by_weight.size()];
        const auto& choices = mix[kind].events;
        ev = choices[(r >> 32) % choices.size()];
        now += kStepNs;
        ev.set_time_ns(now);
        ev.mutable_id()->assign("b3f1c2d4e5a6:").append(std::to_string(i + 1));
        alert_events.clear();

        auto t0 = Clock::now();
        bool bkept = baseline.apply(ev, hits);
        if (!hits.empty()) baseline.count(ev, hits, alert_events);
        auto t1 = Clock::now();
        bool kept = engine.apply(ev, hits);
        if (kept && !hits.empty()) engine.count(ev, hits, alert_events);
        auto t2 = Clock::now();
        if (!bkept) {
            fprintf(stderr, "rules_bench: the empty rule set dropped an event\n");
            return 1;
        }
        if (i < kWarmup) continue;
        base_ns[i - kWarmup] = ns_between(t0, t1);
        eval_ns[i - kWarmup] = ns_between(t1, t2);
        kind_ns[kind].push_back(eval_ns[i - kWarmup]);
        matched += !kept || !ev.rule().id().empty() || !hits.empty();
        dropped += !kept;
        with_hits += !hits.empty();
        alerts_out += alert_events.size();
    }

    Summary tm = summarize(std::move(timer));
    Summary b = summarize(std::move(base_ns));
    Summary e = summarize(std::move(eval_ns));
    auto pct = [&](size_t n) { return 100.0 * static_cast<double>(n) / static_cast<double>(events); };
    printf("rules_bench events=%zu templates=%zu path=%s\n", events, templates, path.c_str());
    printf("rules_loaded n=%zu drop=%zu keep=%zu alert=%zu files=%zu\n", set.rules.size(), drops, keeps, alerts,
           set.files.size());
    printf("rules_mix matched=%.2f%% dropped=%.2f%% alert_hits=%.2f%% alerts=%zu\n", pct(matched), pct(dropped),
           pct(with_hits), alerts_out);
    printf("timer_overhead_ns median=%llu p99=%llu\n", ull(tm.median), ull(tm.p99));
    printf("rules_baseline_ns median=%llu p99=%llu mean=%.1f\n", ull(b.median), ull(b.p99), b.mean);
    printf("rules_eval_ns median=%llu p99=%llu mean=%.1f\n", ull(e.median), ull(e.p99), e.mean);
    printf("rules_eval_ratio median=%.2f mean=%.2f\n",
           b.median ? static_cast<double>(e.median) / static_cast<double>(b.median) : 0.0,
           b.mean ? e.mean / b.mean : 0.0);
    for (size_t i = 0; i < mix.size(); ++i) {
        Summary s = summarize(std::move(kind_ns[i]));
        printf("rules_eval_kind_ns %s median=%llu p99=%llu\n", mix[i].name.c_str(), ull(s.median), ull(s.p99));
    }
    return 0;
}
