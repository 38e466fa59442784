// e2e enrichment: the real ktraild names who did what for real processes,
// real ssh sessions, real account changes and real cgroups.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "../support/host_fixtures.h"
#include "enrich/entity_id.h"
#include "enrich/host.h"
#include "enrich/proc_reader.h"
#include "ktraild_harness.h"

using namespace ktrail::e2e;
using ktrail::test::AuditStateGuard;
using ktrail::test::Sshd;
using ktrail::test::TempUser;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const json* executed_by(const std::vector<json>& events, uint32_t pid) {
    for (const auto& e : events)
        if (e["event"]["action"] == "executed" && e["process"]["pid"] == pid) return &e;
    return nullptr;
}

// A directory everyone can write to, as /tmp is.
void open_to_all(const std::string& dir) { REQUIRE(chmod(dir.c_str(), 01777) == 0); }

// Runs argv as uid/gid through setpriv; its status.
int run_as(uint32_t uid, uint32_t gid, std::vector<std::string> argv) {
    std::vector<std::string> cmd = {"setpriv", "--reuid", std::to_string(uid), "--regid", std::to_string(gid),
                                    "--clear-groups"};
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    return run(cmd);
}

long status_kib(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(field + ":")) return std::stol(line.substr(field.size() + 1));
    return -1;
}

std::string cgroup2_mount() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        auto dash = line.find(" - cgroup2 ");
        if (dash == std::string::npos) continue;
        std::istringstream pre(line.substr(0, dash));
        std::string id, parent, dev, root, point;
        pre >> id >> parent >> dev >> root >> point;
        return point;
    }
    return "";
}

}  // namespace

TEST_CASE("a file event names its process, parent and ancestry, though they exited before it was read", "[enrich]") {
    TempDir dir;
    auto agent = start_agent(dir);
    wait_started(agent);
    // The agent reads nothing until bash, sh and touch have all exited.
    REQUIRE(kill(agent.pid, SIGSTOP) == 0);
    const std::string f = dir / "F";
    const std::string script = "sh -c 'touch " + f + "; true'; true";  // "; true": no exec shortcut
    fflush(nullptr);
    pid_t bash = fork();
    REQUIRE(bash >= 0);
    if (bash == 0) {
        execl("/bin/bash", "bash", "-c", script.c_str(), nullptr);
        _exit(127);
    }
    int status = 0;
    REQUIRE(waitpid(bash, &status, 0) == bash);
    REQUIRE(status == 0);
    REQUIRE(kill(agent.pid, SIGCONT) == 0);

    std::vector<json> events;
    const json* touched = wait_for(agent, events, [&](const json& e) { return is_file_event(e, "created-file", f); });
    REQUIRE(touched);
    stop_agent(agent);
    events = read_events(agent.out);
    touched = nullptr;
    for (const auto& e : events)
        if (is_file_event(e, "created-file", f)) touched = &e;
    REQUIRE(touched);
    INFO(touched->dump(2));

    const json& p = (*touched)["process"];
    CHECK(p["executable"] == "/usr/bin/touch");
    CHECK(p["args"] == json::array({"touch", f}));
    CHECK(p["working_directory"] == fs::current_path().string());
    CHECK(p["parent"]["executable"] == fs::canonical("/bin/sh").string());
    CHECK(p["parent"]["args"] == json::array({"sh", "-c", "touch " + f + "; true"}));
    const json& ancestry = p["ancestry"];
    REQUIRE(ancestry.size() >= 3);
    CHECK(ancestry[0] == p["parent"]["entity_id"]);

    // The ancestry's ids are the ids the processes' own events carry.
    const json* touch_exec = executed_by(events, p["pid"].get<uint32_t>());
    const json* sh_exec = executed_by(events, p["parent"]["pid"].get<uint32_t>());
    const json* bash_exec = executed_by(events, static_cast<uint32_t>(bash));
    REQUIRE(touch_exec);
    REQUIRE(sh_exec);
    REQUIRE(bash_exec);
    CHECK((*touch_exec)["process"]["entity_id"] == p["entity_id"]);
    CHECK((*sh_exec)["process"]["entity_id"] == ancestry[0]);
    CHECK((*bash_exec)["process"]["entity_id"] == ancestry[1]);
    CHECK((*bash_exec)["process"]["executable"] == "/usr/bin/bash");
    // ...up to this test, started long before the agent: seeded from /proc.
    auto self = ktrail::read_proc_start(static_cast<uint32_t>(getpid()));
    REQUIRE(self);
    ktrail::EntityIds ids(ktrail::read_boot_id());
    CHECK(ancestry[2] == ktrail::EntityIds::format(ids.key(static_cast<uint32_t>(getpid()), self->first)));
    CHECK((*bash_exec)["process"]["parent"]["entity_id"] == ancestry[2]);

    // Where, on every event.
    std::string machine_id = ktrail::e2e::slurp("/etc/machine-id");
    machine_id.erase(machine_id.find_last_not_of('\n') + 1);
    std::string agent_id = ktrail::e2e::slurp(dir / "state/agent-id");
    agent_id.erase(agent_id.find_last_not_of('\n') + 1);
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    for (const auto& e : events) {
        INFO(e.dump());
        CHECK(str(e, {"host", "id"}) == machine_id);
        CHECK(str(e, {"host", "name"}) == host);
        CHECK(str(e, {"host", "boot", "id"}) == ktrail::read_boot_id());
        CHECK(str(e, {"agent", "id"}) == agent_id);
    }
}

TEST_CASE("events of an ssh session name the login; after sudo -s the audit user is still the login user",
          "[enrich]") {
    AuditStateGuard guard;
    TempUser user;
    user.allow_sudo();
    TempDir dir;
    open_to_all(dir.path);
    Sshd sshd(dir.path);
    auto agent = start_agent(dir);
    wait_started(agent);
    // At once: the agent's own audit set-up (a CONFIG_CHANGE record without
    // EOE when the kernel skips the daemon's syscalls) holds the login behind
    // it for the reassembler's 50 ms reorder window only, not its timeout.

    const std::string mine = dir / "by-user", root = dir / "by-root";
    REQUIRE(sshd.login(user, user.password, "touch " + mine + " && sudo -s touch " + root) == 0);
    std::vector<json> events;
    REQUIRE(wait_for(agent, events, [&](const json& e) { return is_file_event(e, "created-file", root); }));
    stop_agent(agent);
    events = read_events(agent.out);

    const json* as_user = find(events, "created-file", mine);
    const json* as_root = find(events, "created-file", root);
    REQUIRE(as_user);
    REQUIRE(as_root);
    INFO(as_user->dump(2) << "\n" << as_root->dump(2));
    CHECK(str(*as_user, {"user", "name"}) == user.name);
    CHECK(str(*as_user, {"user", "audit", "name"}) == user.name);
    CHECK(str(*as_user, {"session", "login_user"}) == user.name);
    CHECK(str(*as_user, {"session", "remote_ip"}) == "127.0.0.1");
    REQUIRE((*as_user)["session"].contains("id"));
    CHECK((*as_user)["session"].contains("start"));

    CHECK(str(*as_root, {"user", "name"}) == "root");
    CHECK(str(*as_root, {"user", "audit", "name"}) == user.name);
    CHECK((*as_root)["session"]["id"] == (*as_user)["session"]["id"]);
    CHECK(str(*as_root, {"session", "login_user"}) == user.name);
    CHECK(str(*as_root, {"session", "remote_ip"}) == "127.0.0.1");
    // sudo -s ran the user's shell, which ran touch.
    CHECK(str(*as_root, {"process", "parent", "executable"}) == "/usr/bin/dash");
    const json* shell = nullptr;
    for (const auto& e : events)
        if (e["event"]["action"] == "executed" && e["process"]["entity_id"] == (*as_root)["process"]["parent"]["entity_id"])
            shell = &e;
    REQUIRE(shell);
    CHECK(str(*shell, {"process", "parent", "executable"}) == "/usr/bin/sudo");
    CHECK((*as_root)["process"]["ancestry"][1] == (*shell)["process"]["parent"]["entity_id"]);

    // One process graph: sshd's login records (audit) and its file opens
    // (BPF) carry the same entity id; so do sudo's.
    for (const char* action : {"logged-in", "ran-command"}) {
        const json* audit_ev = nullptr;
        for (const auto& e : events)
            if (e["event"]["action"] == action && e["event"]["module"] == "audit" &&
                str(e, {"user", "audit", "name"}) == user.name)
                audit_ev = &e;
        INFO(action);
        REQUIRE(audit_ev);
        uint32_t pid = (*audit_ev)["process"]["pid"];
        const json* bpf_ev = nullptr;
        for (const auto& e : events)
            if (e["event"]["module"] == "bpf" && e["process"]["pid"] == pid && e["event"]["action"] != "forked")
                bpf_ev = &e;
        REQUIRE(bpf_ev);
        CHECK(str(*audit_ev, {"process", "entity_id"}).size() == 16);
        CHECK((*audit_ev)["process"]["entity_id"] == (*bpf_ev)["process"]["entity_id"]);
        CHECK((*audit_ev)["process"]["executable"] == (*bpf_ev)["process"]["executable"]);
    }
}

TEST_CASE("a user renamed with usermod -l is named by its new name in the next event", "[enrich]") {
    AuditStateGuard guard;
    TempUser user;
    TempDir dir;
    open_to_all(dir.path);
    auto agent = start_agent(dir);
    wait_started(agent);
    const std::string before = dir / "before", after = dir / "after";
    const std::string old_name = user.name;

    REQUIRE(run_as(user.uid, user.gid, {"touch", before}) == 0);
    std::vector<json> events;
    REQUIRE(wait_for(agent, events, [&](const json& e) { return is_file_event(e, "created-file", before); }));
    user.rename(old_name + "r");
    REQUIRE(run_as(user.uid, user.gid, {"touch", after}) == 0);
    REQUIRE(wait_for(agent, events, [&](const json& e) { return is_file_event(e, "created-file", after); }));
    stop_agent(agent);
    events = read_events(agent.out);

    const json* first = find(events, "created-file", before);
    const json* second = find(events, "created-file", after);
    REQUIRE(first);
    REQUIRE(second);
    CHECK(str(*first, {"user", "id"}) == std::to_string(user.uid));
    CHECK(str(*first, {"user", "name"}) == old_name);
    CHECK(str(*second, {"user", "id"}) == std::to_string(user.uid));
    CHECK(str(*second, {"user", "name"}) == user.name);
    CHECK(str(*second, {"user", "effective", "name"}) == user.name);
}

TEST_CASE("a process moved into a docker-style cgroup gets that container.id", "[enrich]") {
    const std::string mount = cgroup2_mount();
    REQUIRE_FALSE(mount.empty());
    std::mt19937_64 rng(std::random_device{}());
    std::string id;
    for (int i = 0; i < 4; ++i) id += ktrail::EntityIds::format(rng());  // 16 hex digits each
    REQUIRE(id.size() == 64);
    const std::string slice = mount + "/ktrail-test.slice";
    const std::string scope = slice + "/docker-" + id + ".scope";
    REQUIRE((mkdir(slice.c_str(), 0755) == 0 || errno == EEXIST));
    REQUIRE(mkdir(scope.c_str(), 0755) == 0);
    struct Cleanup {
        std::string scope, slice;
        ~Cleanup() {
            rmdir(scope.c_str());
            rmdir(slice.c_str());
        }
    } cleanup{scope, slice};

    TempDir dir;
    auto agent = start_agent(dir);
    wait_started(agent);
    const std::string inside = dir / "inside", outside = dir / "outside";
    int go[2];
    REQUIRE(pipe(go) == 0);
    fflush(nullptr);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1) _exit(2);
        int fd = open(inside.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        _exit(fd >= 0 ? 0 : 1);
    }
    close(go[0]);
    std::ofstream(scope + "/cgroup.procs") << child << std::endl;
    REQUIRE(write(go[1], "x", 1) == 1);
    close(go[1]);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(status == 0);
    REQUIRE(run({"touch", outside}) == 0);

    std::vector<json> events;
    REQUIRE(wait_for(agent, events, [&](const json& e) { return is_file_event(e, "created-file", outside); }));
    stop_agent(agent);
    events = read_events(agent.out);
    const json* in = find(events, "created-file", inside);
    const json* out = find(events, "created-file", outside);
    REQUIRE(in);
    REQUIRE(out);
    CHECK(str(*in, {"container", "id"}) == id);
    CHECK_FALSE(out->contains("container"));
}

TEST_CASE("a storm of 100k short-lived processes leaves the process table and memory bounded", "[enrich]") {
    TempDir dir;
    auto agent = start_agent(dir);
    wait_started(agent);
    auto storm = [](int n) {
        for (int i = 0; i < n; ++i) {
            pid_t pid = fork();
            REQUIRE(pid >= 0);
            if (pid == 0) _exit(0);
            REQUIRE(waitpid(pid, nullptr, 0) == pid);
        }
    };
    // Warm up: ring pages, output buffers, a full table of exited entries.
    storm(20000);
    std::this_thread::sleep_for(1s);
    long warm_kib = status_kib(agent.pid, "VmRSS");
    storm(100000);
    std::this_thread::sleep_for(2s);
    long peak_kib = status_kib(agent.pid, "VmHWM");
    stop_agent(agent);

    // "process table: L live, X exited kept, peak P entries, E evicted, ..."
    std::string log = slurp(agent.err);
    std::smatch m;
    REQUIRE(std::regex_search(log, m, std::regex(R"(process table: (\d+) live, (\d+) exited kept, peak (\d+) entries, (\d+) evicted)")));
    INFO(log);
    const long live = std::stol(m[1]), exited = std::stol(m[2]), peak = std::stol(m[3]), evicted = std::stol(m[4]);
    // 16384 exited processes are kept at most; live ones are what runs.
    CHECK(exited <= 16384);
    CHECK(peak <= live + 16384 + 64);
    CHECK(evicted >= 120000 - 16384);
    // Growth beyond the warmed-up agent: bounded, not 100k entries' worth.
    INFO("VmRSS after warm-up " << warm_kib << " KiB, VmHWM after the storm " << peak_kib << " KiB");
    CHECK(peak_kib - warm_kib < 24 * 1024);
    CHECK(peak_kib < 128 * 1024);
}
