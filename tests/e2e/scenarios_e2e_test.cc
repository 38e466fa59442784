// e2e scenarios: the default rule set (rules/*.yaml), loaded by the real
// ktraild as shipped, labels real attacker actions on this host with the
// right tag, MITRE ATT&CK technique, actor and object; and labels nothing
// while the host idles and does ordinary work. Every change a test makes to
// the host (files, users) is undone however it ends.
#include <catch2/catch.hpp>
#include <libaudit.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include "../support/host_fixtures.h"
#include "enrich/entity_id.h"
#include "enrich/host.h"
#include "enrich/proc_reader.h"
#include "ktraild_harness.h"

using namespace ktrail::e2e;
using ktrail::test::AuditStateGuard;
using ktrail::test::run_shell;
using ktrail::test::shell_line;
using ktrail::test::TempUser;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
bool has_tag(const json& e, const std::string& tag) {
    if (!e.contains("tags")) return false;
    for (const auto& t : e["tags"])
        if (t == tag) return true;
    return false;
}

std::string technique(const json& e) { return str(e, {"threat", "technique", "id"}); }
// Anything the rules put on an event, or an alert.
bool labelled(const json& e) {
    return e.contains("tags") || e.contains("rule") || e.contains("threat") || e["event"].contains("severity") ||
           e["event"].value("kind", "") == "alert";
}

std::string random_suffix() {
    std::mt19937 rng(std::random_device{}());
    return std::to_string(100000 + rng() % 900000);
}

const std::string kShell = fs::canonical("/bin/sh").string();  // /usr/bin/dash on Debian

// ktraild with the default rule set and nothing else, as installed; stopped
// and reaped however the test ends.
struct DefaultSetAgent {
    TempDir dir;
    Agent agent;
    bool running = false;
    size_t followed = 0;     // bytes of the output read by wait_for
    std::vector<json> seen;  // the events in them

    DefaultSetAgent() {
        agent = start_agent(dir);
        running = true;
        try {
            wait_started(agent);
        } catch (...) {  // the destructor does not run for a constructor that throws
            terminate();
            throw;
        }
    }
    ~DefaultSetAgent() { terminate(); }
    void terminate() {
        if (!running) return;
        running = false;
        kill(agent.pid, SIGTERM);
        waitpid(agent.pid, nullptr, 0);
    }
    // Follows the output until `want` matches an event, or 20 s. Only whole
    // lines are read: the agent may be in the middle of writing the last one.
    bool wait_for(const std::function<bool(const json&)>& want) {
        for (const auto& e : seen)
            if (want(e)) return true;
        for (int i = 0; i < 400; ++i) {
            std::ifstream in(agent.out, std::ios::binary);
            in.seekg(static_cast<std::streamoff>(followed));
            std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            size_t end = chunk.rfind('\n');
            if (end != std::string::npos) {
                followed += end + 1;
                std::istringstream lines(chunk.substr(0, end + 1));
                bool found = false;
                for (std::string line; std::getline(lines, line);) {
                    INFO("line: " << line);
                    REQUIRE_NOTHROW(seen.push_back(json::parse(line)));
                    found |= want(seen.back());
                }
                if (found) return true;
            }
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
    // Stops the agent; every event it wrote.
    std::vector<json> stop() {
        running = false;
        stop_agent(agent);
        return read_events(agent.out);
    }
};

// Deletes a user (and a group left with its name) when the test ends.
struct UserRemover {
    std::string name;
    bool home = false;
    ~UserRemover() {
        if (name.empty()) return;
        run_shell("userdel " + std::string(home ? "-r " : "") + name + " 2>/dev/null");
        if (!shell_line("getent group " + name).empty()) run_shell("groupdel " + name + " 2>/dev/null");
    }
};

// A user with a home directory (useradd -m), removed with it (userdel -r).
struct HomeUser {
    UserRemover remover;
    std::string name, home;
    uint32_t uid = 0, gid = 0;

    HomeUser() {
        name = "ktrails" + random_suffix();
        remover.name = name;
        remover.home = true;
        REQUIRE(run_shell("useradd -m -s /bin/sh " + name) == 0);
        uid = static_cast<uint32_t>(std::stoul(shell_line("id -u " + name)));
        gid = static_cast<uint32_t>(std::stoul(shell_line("id -g " + name)));
        home = shell_line("getent passwd " + name + " | cut -d: -f6");
        REQUIRE(home.starts_with("/home/"));
    }
    // A file in the home, owned by the user.
    void give(const std::string& rel, const std::string& content, mode_t mode) const {
        const std::string path = home + "/" + rel;
        fs::create_directories(fs::path(path).parent_path());
        std::ofstream(path) << content;
        REQUIRE(run_shell("chown -R " + name + ": " + home + " && chmod " + fmt_mode(mode) + " " + path) == 0);
    }
    static std::string fmt_mode(mode_t m) {
        char buf[8];
        snprintf(buf, sizeof(buf), "%o", static_cast<unsigned>(m));
        return buf;
    }
};

// Puts a file back exactly as found (content, mode, owner), or removes it if
// it did not exist.
struct FileRestore {
    std::string path;
    bool existed = false;
    std::string content;
    struct stat st {};

    explicit FileRestore(std::string p) : path(std::move(p)) {
        existed = lstat(path.c_str(), &st) == 0;
        REQUIRE((!existed || S_ISREG(st.st_mode)));
        if (existed) content = slurp(path);
    }
    ~FileRestore() {
        if (!existed) {
            unlink(path.c_str());
            return;
        }
        if (slurp(path) != content) std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
        chmod(path.c_str(), st.st_mode & 07777);
        [[maybe_unused]] int rc = chown(path.c_str(), st.st_uid, st.st_gid);
    }
};

// Runs argv as uid/gid (no supplementary groups) through setpriv; its status.
int run_as(uint32_t uid, uint32_t gid, std::vector<std::string> argv) {
    std::vector<std::string> cmd = {"setpriv", "--reuid", std::to_string(uid), "--regid", std::to_string(gid),
                                    "--clear-groups"};
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    return run(cmd);
}

// The last event that matches.
const json* last(const std::vector<json>& events, const std::function<bool(const json&)>& want) {
    const json* out = nullptr;
    for (const auto& e : events)
        if (want(e)) out = &e;
    return out;
}

}  // namespace

TEST_CASE("a user reading /etc/shadow through sudo cat is credential access (T1003.008)", "[scenarios]") {
    TempUser user;
    user.allow_sudo();
    DefaultSetAgent agent;

    // As after a login (pam_loginuid): the user's session, then sudo.
    const std::string as_user = "setpriv --reuid " + std::to_string(user.uid) + " --regid " + std::to_string(user.gid) +
                                " --clear-groups sudo -n cat /etc/shadow >/dev/null";
    int status = run({"sh", "-c", "echo " + std::to_string(user.uid) + " > /proc/self/loginuid || exit 90; exec " + as_user});
    INFO("exit status " << WEXITSTATUS(status) << " (90: the audit login uid cannot be set: loginuid_immutable?)");
    REQUIRE(status == 0);
    auto read_by_cat = [](const json& e) {
        return is_file_event(e, "opened-file", "/etc/shadow") && str(e, {"process", "executable"}) == "/usr/bin/cat";
    };
    REQUIRE(agent.wait_for(read_by_cat));
    auto events = agent.stop();

    const json* read = last(events, read_by_cat);
    REQUIRE(read);
    INFO(read->dump(2));
    CHECK(has_tag(*read, "credential-access"));
    CHECK(technique(*read) == "T1003.008");
    CHECK(str(*read, {"rule", "id"}) == "shadow-read");
    CHECK(str(*read, {"user", "name"}) == "root");
    CHECK(str(*read, {"user", "audit", "name"}) == user.name);
    CHECK(str(*read, {"process", "parent", "executable"}) == "/usr/bin/sudo");
    // sudo itself reads /etc/shadow as its job: not labelled.
    for (const auto& e : events)
        if (str(e, {"process", "executable"}) == "/usr/bin/sudo") CHECK_FALSE(has_tag(e, "credential-access"));
}

TEST_CASE("chmod u+s on a copied binary is a setuid bit set (T1548.001)", "[scenarios]") {
    TempDir work;
    const std::string bin = work / "true";
    DefaultSetAgent agent;

    REQUIRE(run({"cp", "/usr/bin/true", bin}) == 0);
    REQUIRE(run({"chmod", "u+s", bin}) == 0);
    auto chmodded = [&](const json& e) { return is_file_event(e, "changed-file-permissions-of", bin); };
    REQUIRE(agent.wait_for(chmodded));
    auto events = agent.stop();

    const json* chmod_ev = last(events, chmodded);
    REQUIRE(chmod_ev);
    INFO(chmod_ev->dump(2));
    CHECK(str(*chmod_ev, {"file", "mode"}) == "4755");
    CHECK(has_tag(*chmod_ev, "setuid"));
    CHECK(technique(*chmod_ev) == "T1548.001");
    CHECK(str(*chmod_ev, {"rule", "id"}) == "setuid-bit-set");
    CHECK(str(*chmod_ev, {"process", "executable"}) == "/usr/bin/chmod");
    CHECK(str(*chmod_ev, {"user", "name"}) == "root");
    // The copy before it was no privilege change.
    const json* copied = find(events, "created-file", bin);
    REQUIRE(copied);
    CHECK_FALSE(labelled(*copied));
}

TEST_CASE("useradd creates an account (T1136.001); userdel removes it (T1531)", "[scenarios]") {
    AuditStateGuard guard;
    UserRemover remover{"ktrailu" + random_suffix()};
    const std::string& name = remover.name;
    DefaultSetAgent agent;

    REQUIRE(run({"useradd", "-M", "-s", "/usr/sbin/nologin", name}) == 0);
    // useradd names the new account by its uid only (the name is known when
    // the account exists by the time the record is read).
    const std::string uid = shell_line("id -u " + name);
    REQUIRE_FALSE(uid.empty());
    auto added = [&](const json& e) {
        return e["event"]["action"] == "added-user-account" && str(e, {"user", "target", "id"}) == uid &&
               str(e, {"process", "executable"}) == "/usr/sbin/useradd";
    };
    REQUIRE(agent.wait_for(added));
    REQUIRE(run({"userdel", name}) == 0);
    auto deleted = [&](const json& e) {
        return e["event"]["action"] == "deleted-user-account" && str(e, {"user", "target", "id"}) == uid &&
               str(e, {"process", "executable"}) == "/usr/sbin/userdel";
    };
    REQUIRE(agent.wait_for(deleted));
    auto events = agent.stop();

    const json* add = last(events, added);
    REQUIRE(add);
    INFO(add->dump(2));
    CHECK(add->at("event")["module"] == "audit");
    CHECK(has_tag(*add, "account"));
    CHECK(technique(*add) == "T1136.001");
    CHECK(str(*add, {"rule", "id"}) == "user-account-added");
    CHECK(str(*add, {"process", "args"}) == json::array({"useradd", "-M", "-s", "/usr/sbin/nologin", name}).dump());
    CHECK(str(*add, {"event", "outcome"}) == "success");

    const json* del = last(events, deleted);
    REQUIRE(del);
    INFO(del->dump(2));
    CHECK(has_tag(*del, "account"));
    CHECK(technique(*del) == "T1531");
    CHECK(str(*del, {"rule", "id"}) == "user-account-deleted");
    // useradd and userdel rewrote /etc/passwd and friends: their own job, reported
    // through audit, not as direct edits of the account databases.
    for (const auto& e : events)
        if (e.contains("file") && e["file"].value("path", "") == "/etc/passwd") CHECK_FALSE(has_tag(e, "identity"));
}

TEST_CASE("appending to a user's ~/.ssh/authorized_keys is SSH key persistence (T1098.004)", "[scenarios]") {
    HomeUser user;
    const std::string keys = user.home + "/.ssh/authorized_keys";
    user.give(".ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKtrailOldKey old@host\n", 0600);
    DefaultSetAgent agent;

    REQUIRE(run_as(user.uid, user.gid,
                   {"sh", "-c", "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKtrailNewKey new@host' >> " + keys}) == 0);
    auto appended = [&](const json& e) { return is_file_event(e, "opened-file", keys); };
    REQUIRE(agent.wait_for(appended));
    auto events = agent.stop();

    const json* app = last(events, appended);
    REQUIRE(app);
    INFO(app->dump(2));
    CHECK(has_tag(*app, "ssh"));
    CHECK(technique(*app) == "T1098.004");
    CHECK(str(*app, {"rule", "id"}) == "ssh-authorized-keys-changed");
    CHECK(str(*app, {"process", "executable"}) == kShell);
    CHECK(str(*app, {"user", "name"}) == user.name);
    CHECK(has_tag(*app, "persistence"));
    const auto flags = app->at("ktrail")["flags"];
    CHECK(std::find(flags.begin(), flags.end(), "O_APPEND") != flags.end());
}

TEST_CASE("a new file in /etc/cron.d is cron persistence (T1053.003)", "[scenarios]") {
    FileRestore cron_file("/etc/cron.d/ktrail-scenario-" + random_suffix());
    REQUIRE_FALSE(cron_file.existed);
    const std::string& path = cron_file.path;
    DefaultSetAgent agent;

    // Only a comment: nothing would run even if cron read it.
    REQUIRE(run({"sh", "-c", "echo '# ktrail scenario test' > " + path}) == 0);
    auto created = [&](const json& e) { return is_file_event(e, "created-file", path); };
    REQUIRE(agent.wait_for(created));
    REQUIRE(unlink(path.c_str()) == 0);
    auto events = agent.stop();

    const json* ev = last(events, created);
    REQUIRE(ev);
    INFO(ev->dump(2));
    CHECK(has_tag(*ev, "cron"));
    CHECK(technique(*ev) == "T1053.003");
    CHECK(str(*ev, {"rule", "id"}) == "cron-job-changed");
    CHECK(str(*ev, {"process", "executable"}) == kShell);
    CHECK(str(*ev, {"user", "name"}) == "root");
}

TEST_CASE("writing /etc/ld.so.preload is dynamic linker hijacking (T1574.006)", "[scenarios]") {
    // Normally absent; an empty file changes nothing for the programs that
    // start meanwhile (a bad path in it would make every one of them warn).
    FileRestore preload("/etc/ld.so.preload");
    const std::string& path = preload.path;
    DefaultSetAgent agent;

    REQUIRE(run({"sh", "-c", ": >> " + path}) == 0);  // created, or opened for writing if it exists
    auto written = [&](const json& e) {
        return (is_file_event(e, "created-file", path) || is_file_event(e, "opened-file", path)) &&
               str(e, {"process", "executable"}) == kShell;
    };
    REQUIRE(agent.wait_for(written));
    if (!preload.existed) REQUIRE(unlink(path.c_str()) == 0);
    auto events = agent.stop();

    const json* ev = last(events, written);
    REQUIRE(ev);
    INFO(ev->dump(2));
    CHECK(str(*ev, {"event", "action"}) == (preload.existed ? "opened-file" : "created-file"));
    CHECK(has_tag(*ev, "preload"));
    CHECK(technique(*ev) == "T1574.006");
    CHECK(str(*ev, {"rule", "id"}) == "ld-so-preload-changed");
    CHECK(str(*ev, {"user", "name"}) == "root");
    CHECK(ev->at("event")["severity"] == 80);
}

TEST_CASE("rm ~/.bash_history clears command history (T1070.003)", "[scenarios]") {
    HomeUser user;
    const std::string history = user.home + "/.bash_history";
    user.give(".bash_history", "ls\ncat secrets\n", 0600);
    DefaultSetAgent agent;

    REQUIRE(run_as(user.uid, user.gid, {"env", "HOME=" + user.home, "sh", "-c", "rm ~/.bash_history"}) == 0);
    auto removed = [&](const json& e) { return is_file_event(e, "deleted", history); };
    REQUIRE(agent.wait_for(removed));
    auto events = agent.stop();

    const json* ev = last(events, removed);
    REQUIRE(ev);
    INFO(ev->dump(2));
    CHECK(has_tag(*ev, "history"));
    CHECK(technique(*ev) == "T1070.003");
    CHECK(str(*ev, {"rule", "id"}) == "shell-history-removed");
    CHECK(str(*ev, {"process", "executable"}) == "/usr/bin/rm");
    CHECK(str(*ev, {"user", "name"}) == user.name);
}

TEST_CASE("five failed logins raise one alert per account and one per source address (T1110)", "[scenarios]") {
    AuditStateGuard guard;
    const std::string acct = "ktrail-bf-" + random_suffix();
    const std::string ip = "192.0.2." + std::to_string(1 + std::stoi(random_suffix()) % 250);  // TEST-NET-1
    DefaultSetAgent agent;

    // What pam_unix reports for a wrong password (audit_log_acct_message).
    int fd = audit_open();
    REQUIRE(fd >= 0);
    for (int i = 0; i < 5; ++i)
        CHECK(audit_log_user_message(fd, AUDIT_USER_AUTH, ("op=PAM:authentication acct=\"" + acct + "\"").c_str(),
                                     "attacker.example", ip.c_str(), "ssh", 0) > 0);
    audit_close(fd);
    auto alert_by = [&](const char* field, const std::string& value) {
        return [=](const json& e) {
            return e["event"].value("kind", "") == "alert" && e.contains("ktrail") &&
                   str(e, {"ktrail", "alert", "group", field}) == value;
        };
    };
    REQUIRE(agent.wait_for(alert_by("source.ip", ip)));
    REQUIRE(agent.wait_for(alert_by("user.name", acct)));
    auto events = agent.stop();

    int failures = 0;
    for (const auto& e : events)
        if (e["event"]["action"] == "authenticated" && str(e, {"user", "name"}) == acct) {
            ++failures;
            CHECK(e["event"]["outcome"] == "failure");
            CHECK(has_tag(e, "brute-force"));
        }
    CHECK(failures == 5);
    const json* by_user = last(events, alert_by("user.name", acct));
    const json* by_ip = last(events, alert_by("source.ip", ip));
    REQUIRE(by_user);
    REQUIRE(by_ip);
    INFO(by_user->dump(2) << "\n" << by_ip->dump(2));
    CHECK(str(*by_user, {"rule", "id"}) == "failed-logins-for-user");
    CHECK(technique(*by_user) == "T1110.001");
    CHECK(by_user->at("ktrail")["alert"]["event_ids"].size() == 5);
    CHECK(str(*by_ip, {"rule", "id"}) == "failed-logins-from-address");
    CHECK(technique(*by_ip) == "T1110");
    CHECK(by_ip->at("ktrail")["alert"]["event_ids"].size() == 5);
    CHECK(str(*by_ip, {"source", "ip"}) == ip);
}

TEST_CASE("the default set labels nothing while the host idles and does ordinary work", "[scenarios]") {
    TempDir work;
    HomeUser user;  // made before the agent starts: adding a user is labelled, on purpose
    user.give(".bash_history", "ls\n", 0600);
    DefaultSetAgent agent;
    const std::string f = work / "notes", shared = work / "shared";
    const std::string as_user = "setpriv --reuid " + std::to_string(user.uid) + " --regid " + std::to_string(user.gid) +
                                " --clear-groups env HOME=" + user.home + " ";
    for (const std::string& cmd : std::vector<std::string>{
             "ls /etc", "cat /etc/hostname", "id", "getent passwd root", "ps ax", "uname -a", "df -h", "sleep 2",
             // files: written, chmod'ed (sticky and plain modes are no set-id bits), renamed, compressed, removed
             "echo hello > " + f + " && chmod 600 " + f + " && mv " + f + " " + f + ".old && gzip " + f + ".old && rm " +
                 f + ".old.gz",
             "mkdir " + shared + " && chmod 1777 " + shared + " && chmod 0755 " + shared,
             // sudo and su read /etc/shadow and switch users as their job
             "sudo -n true", "su -s /bin/sh -c true nobody",
             // sshd checks its configuration and host keys; the package database is read
             "/usr/sbin/sshd -t", "ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub", "dpkg -l openssh-server",
             "apt-cache policy openssh-server",
             // a user's interactive shell rewrites its history and reads its startup files
             as_user + "bash -i -c 'history -s ls; history -w; cat ~/.profile' </dev/null 2>/dev/null",
             as_user + "bash -i -c 'history -s id; history -w' </dev/null 2>/dev/null",
         }) {
        INFO(cmd);
        CHECK(run({"sh", "-c", "(" + cmd + ") >/dev/null"}) == 0);
    }
    std::this_thread::sleep_for(3s);  // idle
    auto events = agent.stop();

    // Ours: this test process and what it started (the agent included).
    auto self = ktrail::read_proc_start(static_cast<uint32_t>(getpid()));
    REQUIRE(self);
    ktrail::EntityIds ids(ktrail::read_boot_id());
    const std::string me = ktrail::EntityIds::format(ids.key(static_cast<uint32_t>(getpid()), self->first));
    auto ours = [&](const json& e) {
        if (str(e, {"process", "entity_id"}) == me) return true;
        if (e.contains("process") && e["process"].contains("ancestry"))
            for (const auto& a : e["process"]["ancestry"])
                if (a == me) return true;
        return false;
    };
    std::string ours_labelled, elsewhere_labelled;
    size_t mine = 0;
    for (const auto& e : events) {
        bool our = ours(e);
        mine += our;
        if (labelled(e)) (our ? ours_labelled : elsewhere_labelled) += e.dump() + "\n";
    }
    INFO(mine << " events from this test and its processes");
    CHECK(ours_labelled == "");
    // The rest of the host: on a machine to itself (ctest runs the e2e and
    // kernel tiers one at a time) nothing happens here. On a shared one,
    // other people's tests add users and change audit rules on purpose:
    // shown, but not held against the rules.
    if (!elsewhere_labelled.empty()) WARN("labelled events from other processes on this host:\n" << elsewhere_labelled);
    // The work above was seen (and so was checked).
    auto executed_by_us = [&](const std::string& exe) {
        for (const auto& e : events)
            if (e["event"]["action"] == "executed" && str(e, {"process", "executable"}) == exe && ours(e)) return true;
        return false;
    };
    std::string ran;
    for (const auto& e : events)
        if (e["event"]["action"] == "executed" && ours(e)) ran += str(e, {"process", "executable"}) + " ";
    INFO("executed: " << ran);
    CHECK(executed_by_us("/usr/bin/id"));
    CHECK(executed_by_us("/usr/bin/sudo"));
    CHECK(executed_by_us("/usr/sbin/sshd"));
    CHECK(executed_by_us("/usr/bin/bash"));
    bool history_written = false;
    for (const auto& e : events)
        history_written |= e.contains("file") && e["file"].value("path", "") == user.home + "/.bash_history" && ours(e);
    CHECK(history_written);
}
