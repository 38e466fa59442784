#include "format_fixtures.h"

#include <string>

namespace ktrail::test {
namespace {

constexpr int64_t kT0 = 1'795'000'000'123'456'789;  // 2026-11-18T11:06:40.123456789Z
constexpr int64_t kBoot = 1'794'990'000'000'000'000;

struct Builder {
    std::vector<v1::Event> events;

    // Stamped as Agent::emit stamps: sequence, id, host, agent.
    v1::Event& add(const char* action, const char* module, const char* category, const char* type) {
        auto& ev = events.emplace_back();
        uint64_t seq = 1000 + events.size();
        ev.set_time_ns(kT0 + static_cast<int64_t>(events.size()) * 1'000'000'007);
        ev.set_sequence(seq);
        ev.set_id("7f3a9c1e-agent:" + std::to_string(seq));
        ev.set_kind("event");
        ev.add_category(category);
        ev.add_type(type);
        ev.set_action(action);
        ev.set_outcome("success");
        ev.set_module(module);
        auto* h = ev.mutable_host();
        h->set_id("4c4c454400395910804bb7c04f4d3632");
        h->set_name("web-01.example.net");
        h->set_boot_id("0b1e5a7e-5d2c-4c8e-9f3a-2b7d1c9e8f10");
        ev.mutable_agent()->set_id("7f3a9c1e-agent");
        ev.mutable_agent()->set_version("0.1.0");
        return ev;
    }
};

// alice, logged in over ssh, working in a shell.
void alice(v1::Event& ev) {
    auto* u = ev.mutable_user();
    u->set_id(1000);
    u->set_name("alice");
    u->mutable_effective()->set_id(1000);
    u->mutable_effective()->set_name("alice");
    u->mutable_group()->set_id(1000);
    u->mutable_group()->set_name("alice");
    u->mutable_audit()->set_id(1000);
    u->mutable_audit()->set_name("alice");
    auto* s = ev.mutable_session();
    s->set_id(7);
    s->set_login_user("alice");
    s->set_remote_ip("203.0.113.7");
    s->set_tty("pts/0");
    s->set_start_ns(kT0 - 600'000'000'000);
}

void process(v1::Event& ev, uint32_t pid, const char* exe, std::initializer_list<const char*> args) {
    auto* p = ev.mutable_process();
    p->set_pid(pid);
    p->set_thread_id(pid);
    p->set_entity_id("e" + std::to_string(pid) + "a1b2c3d4");
    p->set_executable(exe);
    std::string name(exe);
    p->set_name(name.substr(name.rfind('/') + 1));
    for (const char* a : args) p->add_args(a);
    p->set_working_directory("/home/alice");
    p->set_start_ns(kBoot + pid * 1'000'000);
    auto* pp = p->mutable_parent();
    pp->set_pid(4100);
    pp->set_entity_id("e4100a1b2c3d4");
    pp->set_executable("/usr/bin/bash");
    pp->add_args("-bash");
    p->add_ancestry("e4100a1b2c3d4");
    p->add_ancestry("e4090a1b2c3d4");
    p->add_ancestry("e1a1b2c3d4");
}

v1::Event& bpf(Builder& b, const char* action, const char* category, const char* type, const char* syscall) {
    auto& ev = b.add(action, "bpf", category, type);
    alice(ev);
    process(ev, 4242, "/usr/bin/vim", {"vim", "/etc/nginx/nginx.conf"});
    ev.mutable_ktrail()->set_syscall(syscall);
    return ev;
}

v1::Event& bpf_file(Builder& b, const char* action, const char* type, const char* syscall, const char* path) {
    auto& ev = bpf(b, action, "file", type, syscall);
    auto* f = ev.mutable_file();
    f->set_path(path);
    f->set_inode(393'217);
    f->set_device(2049);
    f->set_mode(0644);
    f->set_uid(0);
    f->set_gid(0);
    f->set_owner("root");
    f->set_group("root");
    ev.add_tags("config-change");
    return ev;
}

void add_bpf(Builder& b) {
    auto& exec = b.add("executed", "bpf", "process", "start");
    alice(exec);
    process(exec, 4300, "/usr/bin/curl", {"curl", "-fsSL", "https://example.com/install.sh"});
    exec.mutable_file()->set_path("/usr/bin/curl");
    exec.mutable_file()->set_inode(131'090);
    exec.mutable_file()->set_device(2049);
    exec.mutable_ktrail()->set_syscall("execve");
    exec.set_container_id("3f4e5d6c7b8a");

    auto& fork = b.add("forked", "bpf", "process", "start");
    alice(fork);
    process(fork, 4301, "/usr/bin/bash", {"-bash"});

    auto& exit = b.add("exited", "bpf", "process", "end");
    alice(exit);
    process(exit, 4300, "/usr/bin/curl", {"curl", "-fsSL", "https://example.com/install.sh"});
    exit.mutable_process()->set_exit_code(137);
    exit.set_outcome("failure");
    exit.set_reason("SIGKILL");

    auto& created = bpf_file(b, "created-file", "creation", "openat", "/etc/nginx/conf.d/site.conf");
    created.mutable_ktrail()->add_flags("O_WRONLY");
    created.mutable_ktrail()->add_flags("O_CREAT");
    auto& opened = bpf_file(b, "opened-file", "access", "openat", "/etc/shadow");
    opened.mutable_ktrail()->add_flags("O_RDONLY");
    opened.mutable_file()->set_mode(0640);
    opened.mutable_file()->set_gid(42);
    opened.mutable_file()->set_group("shadow");
    bpf_file(b, "deleted", "deletion", "unlinkat", "/var/log/auth.log");
    auto& rmdir = bpf_file(b, "deleted", "deletion", "unlinkat", "/tmp/build-cache");
    rmdir.mutable_ktrail()->add_flags("AT_REMOVEDIR");
    auto& renamed = bpf_file(b, "renamed", "change", "renameat2", "/etc/passwd+");
    renamed.mutable_file()->set_target_path("/etc/passwd");
    auto& linked = bpf_file(b, "linked", "creation", "linkat", "/tmp/.hidden");
    linked.mutable_file()->set_target_path("/etc/shadow");
    auto& symlinked = bpf_file(b, "symlinked", "creation", "symlinkat", "/tmp/evil");
    symlinked.mutable_file()->set_target_path("/root/.ssh/authorized_keys");
    auto& mkdir = bpf_file(b, "created-directory", "creation", "mkdir", "/root/.ssh");
    mkdir.mutable_file()->set_mode(0700);
    auto& mknod = bpf_file(b, "make-device", "creation", "mknodat", "/dev/shm/mem");
    mknod.mutable_file()->set_mode(020600);  // S_IFCHR | 0600
    auto& chmod = bpf_file(b, "changed-file-permissions-of", "change", "fchmodat", "/usr/local/bin/backdoor");
    chmod.mutable_file()->set_mode(04755);
    auto& chown = bpf_file(b, "changed-file-ownership-of", "change", "fchownat", "/usr/local/bin/backdoor");
    chown.mutable_file()->set_uid(0);
    auto& trunc = bpf_file(b, "truncated-file", "change", "truncate", "/var/log/wtmp");
    trunc.mutable_ktrail()->add_args(0);
    auto& xattr = bpf_file(b, "changed-file-attributes-of", "change", "setxattr", "/usr/bin/ping");
    xattr.mutable_ktrail()->set_xattr_name("security.capability");
    auto& mount = bpf_file(b, "mounted", "creation", "mount", "/mnt/usb");
    mount.mutable_ktrail()->set_mount_source("/dev/sdb1");
    mount.mutable_ktrail()->set_mount_fstype("vfat");
    bpf_file(b, "unmounted", "deletion", "umount2", "/mnt/usb");

    auto& denied_open = bpf_file(b, "denied-access-to", "denied", "openat", "/etc/sudoers");
    denied_open.set_outcome("failure");
    denied_open.set_reason("EACCES");
    denied_open.mutable_ktrail()->add_flags("O_RDONLY");
    denied_open.mutable_file()->clear_inode();
    denied_open.mutable_file()->clear_device();
    auto& denied_setuid = bpf(b, "denied-access-to", "process", "denied", "setuid");
    denied_setuid.set_outcome("failure");
    denied_setuid.set_reason("EPERM");
    denied_setuid.mutable_ktrail()->add_args(0);

    auto& setuid = bpf(b, "changed-identity-of", "process", "change", "setresuid");
    for (uint64_t a : {0, 0, 0}) setuid.mutable_ktrail()->add_args(a);
    auto& capset = bpf(b, "changed-capabilities-of", "process", "change", "capset");
    capset.mutable_ktrail()->set_capabilities_effective(0x1fffffffffULL);
    capset.mutable_ktrail()->set_capabilities_permitted(0x1fffffffffULL);

    auto& load = bpf(b, "loaded-kernel-module", "driver", "start", "finit_module");
    process(load, 4400, "/usr/sbin/insmod", {"insmod", "/tmp/rootkit.ko"});
    load.mutable_file()->set_path("/tmp/rootkit.ko");
    load.mutable_ktrail()->set_module_name("rootkit");
    auto& unload = bpf(b, "unloaded-kernel-module", "driver", "end", "delete_module");
    process(unload, 4401, "/usr/sbin/rmmod", {"rmmod", "rootkit"});
    unload.mutable_ktrail()->set_module_name("rootkit");

    // A record kind the decoder does not name (op_info's default).
    bpf(b, "unknown", "host", "info", "syscall-451");
}

// Audit user-space records as the mapper fills them.
v1::Event& audit_user(Builder& b, const char* action, const char* category, const char* type, const char* msg_type,
                      uint32_t pid, const char* exe) {
    auto& ev = b.add(action, "audit", category, type);
    auto* p = ev.mutable_process();
    p->set_pid(pid);
    std::string name(exe);
    p->set_name(name.substr(name.rfind('/') + 1));
    p->set_executable(exe);
    auto* a = ev.mutable_auditd();
    a->set_message_type(msg_type);
    (*a->mutable_data())["sequence"] = "88121";
    return ev;
}

v1::Event& ssh_login(Builder& b, const char* action, const char* type, const char* msg_type) {
    auto& ev = audit_user(b, action, "authentication", type, msg_type, 5100, "/usr/sbin/sshd");
    ev.mutable_user()->set_name("alice");
    ev.mutable_user()->set_id(1000);
    ev.mutable_source()->set_ip("203.0.113.7");
    ev.mutable_source()->set_port(51234);
    auto* s = ev.mutable_session();
    s->set_id(7);
    s->set_login_user("alice");
    s->set_remote_ip("203.0.113.7");
    s->set_tty("ssh");
    (*ev.mutable_auditd()->mutable_data())["acct"] = "alice";
    (*ev.mutable_auditd()->mutable_data())["addr"] = "203.0.113.7";
    return ev;
}

v1::Event& admin(Builder& b, const char* action, const char* category, const char* type, const char* msg_type,
                 const char* exe) {
    auto& ev = audit_user(b, action, category, type, msg_type, 5200, exe);
    alice(ev);
    ev.mutable_user()->set_id(0);
    ev.mutable_user()->set_name("root");
    ev.mutable_process()->mutable_parent()->set_pid(5199);
    return ev;
}

void add_audit_auth(Builder& b) {
    auto& auth_fail = ssh_login(b, "authenticated", "info", "user_auth");
    auth_fail.set_outcome("failure");
    auth_fail.mutable_user()->set_name("admin");
    auth_fail.mutable_user()->clear_id();
    auth_fail.mutable_session()->clear_id();
    auth_fail.mutable_session()->set_login_user("admin");
    ssh_login(b, "authenticated", "info", "user_auth");
    ssh_login(b, "was-authorized", "info", "user_acct");
    ssh_login(b, "acquired-credentials", "info", "cred_acq");
    auto& loginuid = ssh_login(b, "changed-login-id-to", "start", "login");
    loginuid.mutable_user()->mutable_audit()->set_id(1000);
    ssh_login(b, "started-session", "start", "user_start");
    ssh_login(b, "logged-in", "start", "user_login");
    ssh_login(b, "refreshed-credentials", "info", "cred_refr");
    ssh_login(b, "logged-out", "end", "user_logout");
    ssh_login(b, "ended-session", "end", "user_end");
    ssh_login(b, "disposed-credentials", "info", "cred_disp");
    auto& err = ssh_login(b, "error", "info", "user_err");
    err.set_outcome("failure");
    auto& grp = admin(b, "authenticated-to-group", "authentication", "info", "grp_auth", "/usr/bin/newgrp");
    grp.mutable_user()->set_name("alice");
    grp.mutable_user()->set_id(1000);

    auto& sudo = admin(b, "ran-command", "process", "start", "user_cmd", "/usr/bin/sudo");
    sudo.mutable_process()->set_command_line("/usr/bin/systemctl restart nginx");
    sudo.mutable_process()->set_working_directory("/home/alice");
    sudo.add_tags("privileged");
}

v1::Event& account(Builder& b, const char* action, const char* type, const char* msg_type, const char* exe,
                   const char* target, uint32_t id) {
    auto& ev = admin(b, action, "iam", type, msg_type, exe);
    auto* t = ev.mutable_user()->mutable_target();
    t->set_name(target);
    t->set_id(id);
    ev.add_tags("identity");
    return ev;
}

v1::Event& group(Builder& b, const char* action, const char* type, const char* msg_type, const char* exe) {
    auto& ev = admin(b, action, "iam", type, msg_type, exe);
    ev.mutable_group()->set_name("developers");
    ev.mutable_group()->set_id(1500);
    return ev;
}

void add_audit_iam(Builder& b) {
    account(b, "added-user-account", "creation", "add_user", "/usr/sbin/useradd", "mallory", 1001);
    account(b, "modified-user-account", "change", "user_mgmt", "/usr/sbin/usermod", "mallory", 1001);
    account(b, "changed-password", "change", "user_chauthtok", "/usr/bin/passwd", "mallory", 1001);
    account(b, "locked-account", "info", "acct_lock", "/usr/sbin/faillock", "mallory", 1001);
    account(b, "unlocked-account", "info", "acct_unlock", "/usr/sbin/faillock", "mallory", 1001);
    account(b, "assigned-user-role-to", "change", "role_assign", "/usr/sbin/semanage", "mallory", 1001);
    account(b, "removed-user-role-from", "change", "role_remove", "/usr/sbin/semanage", "mallory", 1001);
    account(b, "modified-role", "change", "role_modify", "/usr/sbin/semanage", "staff_r", 0).mutable_user()
        ->mutable_target()->clear_id();
    account(b, "changed-role-to", "change", "user_role_change", "/usr/bin/newrole", "alice", 1000);
    account(b, "deleted-user-account", "deletion", "del_user", "/usr/sbin/userdel", "mallory", 1001);
    group(b, "added-group-account-to", "creation", "add_group", "/usr/sbin/groupadd");
    group(b, "modified-group-account", "change", "grp_mgmt", "/usr/sbin/groupmod");
    group(b, "changed-group-password", "change", "grp_chauthtok", "/usr/bin/gpasswd");
    group(b, "deleted-group-account-from", "deletion", "del_group", "/usr/sbin/groupdel");
}

// Admin audit rules' hits (SYSCALL events) and the other record types.
v1::Event& syscall(Builder& b, const char* action, const char* category, const char* type, const char* name,
                   const char* key) {
    auto& ev = b.add(action, "audit", category, type);
    alice(ev);
    process(ev, 4600, "/usr/bin/python3", {"python3", "tool.py"});
    ev.mutable_ktrail()->set_syscall(name);
    if (*key) ev.add_tags(key);
    auto* a = ev.mutable_auditd();
    a->set_message_type("syscall");
    (*a->mutable_data())["syscall"] = name;
    (*a->mutable_data())["key"] = key;
    return ev;
}

void add_audit_syscalls(Builder& b) {
    syscall(b, "read-file", "file", "info", "read", "secrets").mutable_file()->set_path("/etc/ssl/private/web.key");
    syscall(b, "wrote-to-file", "file", "change", "write", "cron").mutable_file()->set_path("/etc/cron.d/job");
    syscall(b, "opened-file", "file", "info", "openat", "secrets").mutable_file()->set_path("/etc/shadow");
    syscall(b, "killed-pid", "process", "end", "kill", "kill");
    syscall(b, "traced-process", "process", "info", "ptrace", "ptrace");
    syscall(b, "connected-to", "network", "connection", "connect", "egress");
    syscall(b, "bound-socket", "network", "start", "bind", "");
    syscall(b, "listen-for-connections", "network", "start", "listen", "");
    syscall(b, "accepted-connection-from", "network", "connection", "accept4", "");
    syscall(b, "changed-system-time", "host", "change", "clock_settime", "time-change");
    syscall(b, "changed-system-name", "host", "change", "sethostname", "system-locale");
    syscall(b, "ioctl", "process", "info", "ioctl", "ioctl");  // a syscall with no Auditbeat name
    auto& avc = syscall(b, "violated-selinux-policy", "intrusion_detection", "denied", "openat", "");
    avc.set_outcome("failure");
    avc.mutable_file()->set_path("/var/www/html/index.html");
    (*avc.mutable_auditd()->mutable_data())["scontext"] = "system_u:system_r:httpd_t:s0";
    syscall(b, "violated-apparmor-policy", "intrusion_detection", "denied", "openat", "").set_outcome("failure");
    syscall(b, "access-permission", "intrusion_detection", "info", "openat", "");
    syscall(b, "changed-audit-configuration", "configuration", "change", "sendto", "");
    syscall(b, "loaded-firewall-rule-to", "configuration", "change", "setsockopt", "");
    syscall(b, "loaded-kernel-module", "driver", "start", "finit_module", "modules").mutable_ktrail()
        ->set_module_name("nf_tables");
}

void add_audit_records(Builder& b) {
    struct R {
        const char *action, *category, *type, *msg, *exe;
    };
    for (const R& r : {
             R{"changed-auditd-configuration", "configuration", "change", "daemon_config", "/usr/sbin/auditd"},
             R{"started-audit", "process", "start", "daemon_start", "/usr/sbin/auditd"},
             R{"shutdown-audit", "process", "end", "daemon_end", "/usr/sbin/auditd"},
             R{"started-service", "process", "start", "service_start", "/usr/lib/systemd/systemd"},
             R{"stopped-service", "process", "end", "service_stop", "/usr/lib/systemd/systemd"},
             R{"booted-system", "host", "start", "system_boot", "/usr/lib/systemd/systemd"},
             R{"shutdown-system", "host", "end", "system_shutdown", "/usr/lib/systemd/systemd"},
             R{"changed-to-runlevel", "host", "change", "system_runlevel", "/usr/lib/systemd/systemd"},
             R{"changed-configuration", "configuration", "change", "usys_config", "/usr/sbin/semanage"},
             R{"package-updated", "package", "info", "software_update", "/usr/bin/dpkg"},
             R{"crashed-program", "process", "end", "anom_abend", "/usr/sbin/nginx"},
             R{"changed-promiscuous-mode-on-device", "intrusion_detection", "change", "anom_promiscuous",
               "/usr/bin/tcpdump"},
             R{"violated-seccomp-policy", "process", "info", "seccomp", "/usr/bin/chromium"},
             R{"typed", "process", "info", "tty", "/usr/bin/bash"},
             R{"anom_login_failures", "process", "info", "anom_login_failures", "/usr/sbin/sshd"},
         }) {
        auto& ev = admin(b, r.action, r.category, r.type, r.msg, r.exe);
        if (std::string_view(r.action) == "crashed-program") {
            ev.set_outcome("failure");
            ev.set_reason("SIGSEGV");
        }
        if (std::string_view(r.action) == "started-service") (*ev.mutable_auditd()->mutable_data())["unit"] = "nginx";
    }
}

void add_agent(Builder& b) {
    b.add("agent-started", "agent", "host", "start");
    b.add("rules-loaded", "agent", "host", "change");
    auto& lost = b.add("events-lost", "agent", "host", "error");
    lost.set_outcome("failure");
    lost.mutable_ktrail()->set_lost_stage("kernel-ringbuf");
    lost.mutable_ktrail()->set_lost_count(1523);
    auto& damaged = b.add("events-lost", "agent", "host", "error");
    damaged.set_outcome("failure");
    damaged.mutable_ktrail()->set_lost_stage("spool-damaged");
    damaged.mutable_ktrail()->set_lost_count(12);
    damaged.mutable_ktrail()->set_lost_first_sequence(880);
    damaged.mutable_ktrail()->set_lost_last_sequence(891);
    b.add("agent-stopped", "agent", "host", "end");
}

// An alert as rules/engine.cc builds one from the event that crossed it.
void add_alert(Builder& b) {
    auto& a = b.add("ssh-brute-force", "rules", "authentication", "info");
    a.set_kind("alert");
    a.set_outcome("failure");
    a.set_reason("5 failed ssh logins from one address within 60s");
    auto* p = a.mutable_process();
    p->set_pid(5100);
    p->set_name("sshd");
    p->set_executable("/usr/sbin/sshd");
    a.mutable_user()->set_name("admin");
    a.mutable_source()->set_ip("198.51.100.23");
    a.mutable_source()->set_port(40022);
    a.mutable_rule()->set_id("ssh-brute-force");
    a.mutable_rule()->set_name("SSH brute force");
    a.add_tags("attack.credential_access");
    a.set_severity(73);
    a.set_technique_id("T1110.001");
    auto* info = a.mutable_ktrail()->mutable_alert();
    info->set_count(5);
    info->set_window_ns(60'000'000'000);
    for (int i = 0; i < 5; ++i) info->add_event_ids("7f3a9c1e-agent:" + std::to_string(1040 + i));
    (*info->mutable_group())["source.ip"] = "198.51.100.23";
}

}  // namespace

std::vector<v1::Event> format_fixture_events() {
    Builder b;
    add_bpf(b);
    add_audit_auth(b);
    add_audit_iam(b);
    add_audit_syscalls(b);
    add_audit_records(b);
    add_agent(b);
    add_alert(b);
    return std::move(b.events);
}

}  // namespace ktrail::test
