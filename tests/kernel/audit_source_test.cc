// The audit source on the real kernel: it becomes the audit daemon when there
// is none and hands the kernel back as found; it listens along read-only when
// another daemon is registered; and it sees real logins through PAM (su) and
// real account changes (useradd, userdel). Every test restores users and the
// audit state it found.
#include <catch2/catch.hpp>
#include <libaudit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../support/corpus.h"
#include "../support/host_fixtures.h"
#include "capture.h"
#include "ktrail/v1/event.pb.h"
#include "source/audit/audit_rules.h"
#include "source/audit/audit_source.h"
#include "source/audit/mapper.h"

using ktrail::audit::AuditMode;
using ktrail::audit::AuditSource;
using ktrail::audit::read_audit_status;
using ktrail::test::AuditStateGuard;
using ktrail::test::Sshd;
using ktrail::test::TempDir;
using ktrail::test::TempUser;
using ktrail::test::run_shell;
using ktrail::test::su_as_nobody;
using namespace std::chrono_literals;

namespace {

struct Collector {
    std::vector<ktrail::v1::Event> events;
    uint64_t lost = 0;
    std::unique_ptr<AuditSource> start() {
        auto src = AuditSource::start(
            {}, [this](ktrail::audit::AuditEvent&& e) {
                ktrail::v1::Event ev;
                ktrail::audit::map_event(e, ev);
                events.push_back(std::move(ev));
            },
            [this](uint64_t n) { lost += n; });
        if (!src) FAIL("AuditSource::start: " << src.error().message);
        return std::move(*src);
    }
    // Reads until `want` finds an event, or 10 s. Expires as the agent's
    // loop does: a record that never completes (a CONFIG_CHANGE from a task
    // with no audit context has no EOE) holds back the events behind it only
    // for the reorder window.
    const ktrail::v1::Event* wait_for(AuditSource& src, const std::function<bool(const ktrail::v1::Event&)>& want) {
        for (int i = 0; i < 500; ++i) {
            REQUIRE(src.read_available(0).has_value());
            src.expire();
            for (const auto& e : events)
                if (want(e)) return &e;
            std::this_thread::sleep_for(20ms);
        }
        return nullptr;
    }
};

void send_user_auth(const std::string& acct, bool ok) {
    int fd = audit_open();
    REQUIRE(fd >= 0);
    std::string msg = "op=ktrail-test acct=\"" + acct + "\"";
    REQUIRE(audit_log_user_message(fd, AUDIT_USER_AUTH, msg.c_str(), nullptr, "127.0.0.1", "pts/9", ok ? 1 : 0) > 0);
    audit_close(fd);
}

// With another daemon registered: ktraild listens along (multicast), still
// sees an authentication, and does not take the stream over.
void expect_read_beside(uint32_t daemon, const std::string& acct) {
    Collector c;
    auto src = c.start();
    CHECK(src->mode() == AuditMode::kMulticast);
    send_user_auth(acct, false);
    const auto* ev = c.wait_for(*src, [&](const auto& e) { return e.user().name() == acct; });
    REQUIRE(ev);
    CHECK(ev->action() == "authenticated");
    CHECK(ev->outcome() == "failure");
    auto s = read_audit_status();
    REQUIRE(s.has_value());
    CHECK(s->pid == daemon);
}

}  // namespace

TEST_CASE("with no audit daemon, ktraild becomes it and gives the kernel back as found", "[audit]") {
    AuditStateGuard guard;
    Collector c;
    {
        auto src = c.start();
        CHECK(src->mode() == AuditMode::kDaemon);
        auto s = read_audit_status();
        REQUIRE(s.has_value());
        CHECK(s->pid == static_cast<uint32_t>(getpid()));
        CHECK(s->enabled >= 1);
        CHECK(s->backlog_limit >= 8192);

        send_user_auth("ktrail-probe", false);
        const auto* ev = c.wait_for(*src, [](const auto& e) { return e.user().name() == "ktrail-probe"; });
        REQUIRE(ev);
        CHECK(ev->action() == "authenticated");
        CHECK(ev->outcome() == "failure");
        CHECK(ev->module() == "audit");
        CHECK(ev->process().pid() == static_cast<uint32_t>(getpid()));
        CHECK(ev->source().ip() == "127.0.0.1");
        CHECK(ev->session().tty() == "pts/9");
        CHECK(src->malformed() == 0);
    }
    auto after = read_audit_status();
    REQUIRE(after.has_value());
    CHECK(after->pid == 0);
    CHECK(after->enabled == guard.found.enabled);
    CHECK(after->backlog_limit == guard.found.backlog_limit);
}

TEST_CASE("with another audit daemon registered, ktraild listens along read-only", "[audit]") {
    AuditStateGuard guard;
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t daemon = fork();
    REQUIRE(daemon >= 0);
    if (daemon == 0) {  // a minimal audit daemon: registers and drains, dies with the test
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = audit_open();
        if (fd < 0 || audit_set_pid(fd, static_cast<uint32_t>(getpid()), WAIT_YES) <= 0) _exit(1);
        audit_set_enabled(fd, 1);
        char ok = 1;
        if (write(ready[1], &ok, 1) != 1) _exit(1);
        char buf[9000];
        for (;;)
            if (recv(fd, buf, sizeof(buf), 0) < 0 && errno != EINTR && errno != ENOBUFS) _exit(0);
    }
    struct Reaper {
        pid_t pid;
        ~Reaper() {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    } reaper{daemon};
    char ok = 0;
    REQUIRE(read(ready[0], &ok, 1) == 1);
    expect_read_beside(static_cast<uint32_t>(daemon), "ktrail-multicast");
}

TEST_CASE("su logins through PAM and account changes are seen as they happen", "[audit]") {
    AuditStateGuard guard;
    Collector c;
    auto src = c.start();  // before the user exists: its creation is an event too
    TempUser temp_user;
    const std::string user = temp_user.name, password = temp_user.password;

    std::string group = user + "g";
    REQUIRE(run_shell("usermod -c 'ktrail test' " + user) == 0);
    REQUIRE(run_shell("groupadd " + group) == 0);
    REQUIRE(run_shell("groupdel " + group) == 0);

    int wrong = su_as_nobody(user, "not-the-password");
    CHECK(WEXITSTATUS(wrong) != 0);
    int right = su_as_nobody(user, password);
    CHECK(WIFEXITED(right));
    CHECK(WEXITSTATUS(right) == 0);
    REQUIRE(run_shell("userdel " + user) == 0);

    auto about = [&](const char* action, const char* outcome) {
        return c.wait_for(*src, [&](const auto& e) {
            bool names = e.user().name() == user || e.user().target().name() == user;
            return e.action() == action && e.outcome() == outcome && names;
        });
    };
    const auto* added = c.wait_for(*src, [](const auto& e) { return e.action() == "added-user-account"; });
    REQUIRE(added);
    CHECK(added->process().executable() == "/usr/sbin/useradd");

    const auto* failed = about("authenticated", "failure");
    REQUIRE(failed);
    CHECK(failed->process().executable() == "/usr/bin/su");
    CHECK(failed->session().login_user() == user);
    CHECK(!failed->session().tty().empty());

    const auto* ok = about("authenticated", "success");
    REQUIRE(ok);
    const auto* session = about("started-session", "success");
    REQUIRE(session);
    CHECK(session->process().executable() == "/usr/bin/su");
    CHECK(session->user().name() == user);

    const auto* deleted = c.wait_for(*src, [](const auto& e) { return e.action() == "deleted-user-account"; });
    REQUIRE(deleted);
    CHECK(deleted->process().executable() == "/usr/sbin/userdel");

    const auto* chauthtok = c.wait_for(*src, [](const auto& e) { return e.action() == "changed-password"; });
    REQUIRE(chauthtok);
    CHECK(chauthtok->process().executable() == "/usr/sbin/chpasswd");
    // shadow's usermod reports its changes as USER_CHAUTHTOK ("changing ...").
    const auto* modified = c.wait_for(*src, [](const auto& e) {
        return e.process().executable() == "/usr/sbin/usermod" && e.auditd().message_type() == "user_chauthtok";
    });
    REQUIRE(modified);
    CHECK(modified->action() == "changed-password");
    const auto* group_added = c.wait_for(*src, [&](const auto& e) {
        return e.action() == "added-group-account-to" && e.process().executable() == "/usr/sbin/groupadd";
    });
    REQUIRE(group_added);
    const auto* group_deleted = c.wait_for(*src, [&](const auto& e) {
        return e.action() == "deleted-group-account-from" && e.process().executable() == "/usr/sbin/groupdel";
    });
    REQUIRE(group_deleted);
    CHECK(c.lost == 0);
}

TEST_CASE("sudo's command is ran-command with the command line", "[audit]") {
    AuditStateGuard guard;
    Collector c;
    auto src = c.start();
    REQUIRE(run_shell("sudo -u nobody /bin/true ktrail-sudo-marker") == 0);
    const auto* cmd = c.wait_for(*src, [](const auto& e) {
        return e.action() == "ran-command" && e.process().command_line().find("ktrail-sudo-marker") != std::string::npos;
    });
    REQUIRE(cmd);
    CHECK(cmd->process().command_line() == "/bin/true ktrail-sudo-marker");
    CHECK(cmd->process().executable() == "/usr/bin/sudo");
    CHECK(cmd->outcome() == "success");
    CHECK(cmd->auditd().message_type() == "user_cmd");
}

TEST_CASE("ssh logins to a real sshd: a failure and a success from 127.0.0.1", "[audit]") {
    AuditStateGuard guard;
    TempUser user;
    TempDir tmp;
    const std::string dir = tmp.path;
    Collector c;
    auto src = c.start();
    Sshd sshd(dir);

    CHECK(sshd.login(user, "not-the-password") != 0);
    CHECK(sshd.login(user, user.password) == 0);

    const auto* failed = c.wait_for(*src, [&](const auto& e) {
        return e.action() == "authenticated" && e.outcome() == "failure" && e.user().name() == user.name;
    });
    REQUIRE(failed);
    CHECK(failed->process().executable() == "/usr/sbin/sshd");
    CHECK(failed->source().ip() == "127.0.0.1");

    const auto* login = c.wait_for(*src, [&](const auto& e) {
        return e.action() == "logged-in" && e.outcome() == "success" && e.source().ip() == "127.0.0.1" &&
               e.user().has_id() && e.user().id() == user.uid;
    });
    if (!login) {
        for (const auto& e : c.events) {
            std::string data;
            for (const auto& [k, v] : e.auditd().data()) data += k + "=" + v + " ";
            UNSCOPED_INFO(e.action() << " " << e.outcome() << " user=" << e.user().name() << "/" << e.user().id()
                                     << " ip=" << e.source().ip() << " :: " << data);
        }
    }
    REQUIRE(login);
    CHECK(login->process().executable() == "/usr/sbin/sshd");
    CHECK(login->session().has_id());
    CHECK(login->session().remote_ip() == "127.0.0.1");
    CHECK(login->user().audit().id() == user.uid);  // pam_loginuid set it
}

TEST_CASE("an admin's watch rule: its hits carry the key; the rule leaves with ktrail", "[audit]") {
    AuditStateGuard guard;
    TempDir tmp;
    const std::string dir = tmp.path;
    auto before = ktrail::audit::kernel_rule_count();
    REQUIRE(before.has_value());

    Collector c;
    auto src = c.start();
    ktrail::audit::ParsedRules parsed;
    ktrail::audit::parse_rules_text("-w " + dir + " -p wa -k ktrail-watch-key\n", "test.rules", {}, parsed);
    REQUIRE(parsed.errors.empty());
    {
        auto loaded = ktrail::audit::LoadedRules::load(parsed);
        REQUIRE(loaded.has_value());
        CHECK(ktrail::audit::kernel_rule_count().value() == *before + 1);

        REQUIRE(run_shell("sh -c 'echo x > " + dir + "/written'") == 0);
        const auto* hit = c.wait_for(*src, [](const auto& e) {
            return std::find(e.tags().begin(), e.tags().end(), "ktrail-watch-key") != e.tags().end();
        });
        REQUIRE(hit);
        CHECK(hit->file().path() == dir + "/written");
        CHECK(hit->outcome() == "success");
        CHECK(hit->module() == "audit");
        CHECK(hit->process().name() == "sh");
        CHECK(hit->ktrail().syscall() == "openat");
    }
    CHECK(ktrail::audit::kernel_rule_count().value() == *before);
}

TEST_CASE("the kernel lists ktrail's rules exactly as it lists auditctl -R's", "[audit]") {
    AuditStateGuard guard;
    auto empty = ktrail::audit::kernel_rules();
    REQUIRE(empty.has_value());
    INFO("the kernel already holds audit rules: this test needs none (it clears with auditctl -D)");
    REQUIRE(empty->empty());
    TempDir tmp;
    const std::string dir = tmp.path;
    struct Clear {
        ~Clear() { system("auditctl -D >/dev/null 2>&1"); }
    } clear;
    std::string file = dir + "/ktrail.rules";
    std::ofstream(file) << "-w /etc/passwd -p wa -k identity\n"
                        << "-w /etc/sudoers.d/ -p wa -k privileged -k actions\n"
                        << "-a always,exit -F arch=b64 -S openat,open_by_handle_at -F exit=-EACCES -F auid>=1000 "
                           "-F auid!=unset -k access\n"
                        << "-a exit,always -F arch=b32 -S chmod,fchmod -F a1&=0111 -k perm\n"
                        << "-a always,exit -F dir=" << dir << " -F perm=wa -F uid!=0 -C uid!=euid -k setuid\n"
                        << "-a always,exclude -F msgtype=CWD\n"
                        << "-a never,user -F subj_type=crond_t\n"
                        << "-A always,exit -F arch=b64 -S execve -F exe=/usr/bin/su -k su\n";
    ktrail::audit::ParsedRules parsed;
    parsed = ktrail::audit::parse_rules_file(file);
    INFO((parsed.errors.empty() ? std::string() : parsed.errors[0].where + ": " + parsed.errors[0].reason));
    REQUIRE(parsed.errors.empty());
    std::vector<std::vector<uint8_t>> by_ktrail;
    {
        auto loaded = ktrail::audit::LoadedRules::load(parsed);
        REQUIRE(loaded.has_value());
        by_ktrail = ktrail::audit::kernel_rules().value();
    }
    CHECK(ktrail::audit::kernel_rules().value().empty());  // exactly its rules went
    REQUIRE(run_shell("auditctl -R " + file + " >/dev/null") == 0);
    auto by_auditctl = ktrail::audit::kernel_rules().value();
    CHECK(by_ktrail.size() == 8);
    CHECK(by_ktrail == by_auditctl);
}

TEST_CASE("with Debian's auditd running, ktrail listens along and still sees logins", "[audit]") {
    AuditStateGuard guard;
    pid_t auditd = fork();
    REQUIRE(auditd >= 0);
    if (auditd == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execl("/usr/sbin/auditd", "/usr/sbin/auditd", "-n", nullptr);
        _exit(127);
    }
    struct Stop {
        pid_t pid;
        ~Stop() {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
    } stop{auditd};
    bool registered = false;
    for (int i = 0; i < 100 && !registered; ++i) {
        auto s = read_audit_status();
        registered = s && s->pid == static_cast<uint32_t>(auditd);
        if (!registered) std::this_thread::sleep_for(50ms);
    }
    REQUIRE(registered);
    expect_read_beside(static_cast<uint32_t>(auditd), "ktrail-beside-auditd");
}

namespace {
// auditctl with these arguments (no shell); true when it accepted them.
bool auditctl_accepts(const std::vector<std::string>& args) {
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        std::vector<char*> argv{const_cast<char*>("auditctl")};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv("/usr/sbin/auditctl", argv.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
}  // namespace

TEST_CASE("every corpus rule line: ktrail accepts what auditctl accepts and refuses what it refuses", "[audit]") {
    KTRAIL_REQUIRE_CORPUS(corpus);
    AuditStateGuard guard;
    REQUIRE(ktrail::audit::kernel_rules().value().empty());
    struct Clear {
        ~Clear() { system("auditctl -D >/dev/null 2>&1"); }
    } clear;
    size_t lines = 0, accepted = 0;
    std::vector<std::string> mismatches;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(corpus + "/rules")) {
        if (entry.path().extension() != ".rules") continue;
        size_t lineno = 0;
        std::ifstream in(entry.path());
        for (std::string line; std::getline(in, line);) {
            ++lineno;
            auto args = ktrail::audit::tokenize_rule_line(line);
            if (args.empty() || args[0].starts_with("#")) continue;
            static const std::vector<std::string> rule_ops = {"-a", "-A", "-w"};
            if (std::find(rule_ops.begin(), rule_ops.end(), args[0]) == rule_ops.end()) continue;
            ++lines;
            // ktrail: encode, then load into the kernel and take it out again.
            bool ours = false;
            ktrail::audit::ParsedRules parsed;
            ktrail::audit::parse_rules_text(line, entry.path().string(), {}, parsed);
            if (parsed.errors.empty()) {
                auto loaded = ktrail::audit::LoadedRules::load(parsed);
                ours = loaded.has_value();
            }
            bool theirs = auditctl_accepts(args);
            if (theirs) system("auditctl -D >/dev/null 2>&1");
            accepted += theirs;
            if (ours != theirs) {
                mismatches.push_back(entry.path().filename().string() + ":" + std::to_string(lineno) + " ktrail " +
                                     (ours ? "accepts" : "refuses") + ", auditctl " + (theirs ? "accepts" : "refuses") +
                                     ": " + line + (parsed.errors.empty() ? "" : "  [" + parsed.errors[0].reason + "]"));
            }
        }
    }
    std::string report;
    for (const auto& m : mismatches) report += "\n  " + m;
    INFO(mismatches.size() << " of " << lines << " lines disagree:" << report);
    CHECK(lines > 1000);
    CHECK(accepted > lines / 2);
    CHECK(mismatches.empty());
}
