// e2e: ktraild's least privilege. After start-up the real ktraild keeps only
// cap_audit_control, cap_sys_ptrace and cap_dac_read_search (bounding set
// included, no_new_privs set), its other threads have no capability at all,
// and it still works: BPF and audit events flow, a SIGHUP reload pushes a new
// drop into the kernel maps, and a stop removes its audit rules and hands the
// audit state back.
#include <catch2/catch.hpp>
#include <linux/capability.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/host_fixtures.h"
#include "../support/proc_status.h"
#include "ktraild_harness.h"
#include "source/audit/audit_rules.h"
#include "source/audit/audit_source.h"

using namespace ktrail::e2e;
using ktrail::test::cap_field;
using ktrail::test::cap_mask;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

bool wait_log(const Agent& a, const std::string& what) {
    for (int i = 0; i < 200; ++i) {
        if (slurp(a.err).find(what) != std::string::npos) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

// Loaded kernel audit rules that carry `key` (the key is in the rule's bytes).
size_t kernel_rules_with(const std::string& key) {
    auto rules = ktrail::audit::kernel_rules();
    REQUIRE(rules.has_value());
    size_t n = 0;
    for (const auto& r : *rules) n += std::string(r.begin(), r.end()).find(key) != std::string::npos;
    return n;
}

bool has_tag(const json& e, const std::string& tag) {
    if (!e.contains("tags")) return false;
    for (const auto& t : e["tags"])
        if (t == tag) return true;
    return false;
}

bool created(const json& e, const std::string& path) { return is_file_event(e, "created-file", path); }

}  // namespace

TEST_CASE("ktraild keeps only what it uses after start-up, and keeps working", "[privileges]") {
    ktrail::test::AuditStateGuard audit_state;
    TempDir dir;
    fs::create_directories(dir / "audited");
    fs::create_directories(dir / "files/dropped");
    const std::string key = "ktrail_priv_e2e_" + std::to_string(getpid());
    const std::string audit_rules = dir / "watch.rules", rules = dir / "rules.yaml";
    write_file(audit_rules, "-w " + dir.path + "/audited -p wa -k " + key + "\n");
    // BPF events outside the test's directory are dropped: another busy
    // process on the host must not flood what this test reads.
    const std::string elsewhere = "- rule: elsewhere\n  description: d\n  condition: event.module = bpf and not "
                                  "file.path startswith " + dir.path + "/\n  actions: [drop]\n";
    write_file(rules, elsewhere + "- rule: first\n  description: d\n  condition: event.action = created-file\n"
                      "  actions: [tag first]\n");
    const auto before = ktrail::audit::read_audit_status();
    REQUIRE(before.has_value());

    Agent a = start_agent(dir, {"--no-default-rules", "--rules", audit_rules, "--rules", rules});
    wait_started(a);
    INFO(slurp(a.err));

    // The main thread: the kept set, everywhere, and nothing to regain.
    const uint64_t kept = cap_mask({CAP_AUDIT_CONTROL, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH});
    CHECK(cap_field(a.pid, "CapEff") == kept);
    CHECK(cap_field(a.pid, "CapPrm") == kept);
    CHECK(cap_field(a.pid, "CapBnd") == kept);
    CHECK(cap_field(a.pid, "CapInh") == 0);
    CHECK(cap_field(a.pid, "CapAmb") == 0);
    CHECK(ktrail::test::status_field(a.pid, "NoNewPrivs") == "1");
    CHECK(slurp(a.err).find("capabilities: kept cap_dac_read_search,cap_sys_ptrace,cap_audit_control") !=
          std::string::npos);
    // Every other thread (forwarder, output library threads): none at all.
    auto tids = ktrail::test::threads_of(a.pid);
    CHECK(tids.size() > 1);
    for (pid_t tid : tids) {
        if (tid == a.pid) continue;
        INFO("thread " << tid << " " << ktrail::test::status_field(a.pid, "Name", tid));
        CHECK(cap_field(a.pid, "CapEff", tid) == 0);
        CHECK(cap_field(a.pid, "CapPrm", tid) == 0);
        CHECK(ktrail::test::status_field(a.pid, "NoNewPrivs", tid) == "1");
    }
    CHECK(kernel_rules_with(key) == 1);

    // BPF and audit events still flow.
    std::vector<json> events;
    REQUIRE(run({"touch", dir / "files/one"}) == 0);
    const json* e = wait_for(a, events, [&](const json& x) { return created(x, dir / "files/one"); });
    REQUIRE(e);
    CHECK(has_tag(*e, "first"));
    REQUIRE(run({"touch", dir / "audited/hit"}) == 0);
    CHECK(wait_for(a, events, [&](const json& x) { return x["event"]["module"] == "audit" && has_tag(x, key); }));

    // A reload with a new tag and a kernel-side drop: maps updated through
    // the fds ktraild holds, without CAP_BPF.
    write_file(rules, elsewhere + "- rule: second\n  description: d\n  condition: event.action = created-file\n"
                      "  actions: [tag second]\n"
                      "- rule: quiet\n  description: d\n  condition: file.path startswith " + dir.path +
                      "/files/dropped/\n  actions: [drop]\n");
    REQUIRE(kill(a.pid, SIGHUP) == 0);
    REQUIRE(wait_log(a, "ktrail rules: 3 rule(s)"));
    CHECK(slurp(a.err).find("rule reload refused") == std::string::npos);
    REQUIRE(run({"touch", dir / "files/dropped/x", dir / "files/two"}) == 0);
    e = wait_for(a, events, [&](const json& x) { return created(x, dir / "files/two"); });
    REQUIRE(e);
    CHECK(has_tag(*e, "second"));
    CHECK_FALSE(has_tag(*e, "first"));

    REQUIRE(WEXITSTATUS(stop_agent(a)) == 0);
    events = read_events(a.out);
    CHECK_FALSE(find(events, "created-file", dir / "files/dropped/x"));
    // The stop still had what it needed: its audit rule removed, the audit
    // state as it was found.
    CHECK(kernel_rules_with(key) == 0);
    auto after = ktrail::audit::read_audit_status();
    REQUIRE(after.has_value());
    CHECK(after->pid == before->pid);
    CHECK(after->enabled == before->enabled);
    CHECK(after->backlog_limit == before->backlog_limit);
    CHECK(slurp(a.err).find("ktraild stopped") != std::string::npos);
}

TEST_CASE("with --user, outputs, forwarders and the metrics and status servers run as that user", "[privileges]") {
    ktrail::test::AuditStateGuard audit_state;
    TempDir dir;
    const uid_t nobody = 65534;
    // What the user writes must be the user's: the harness's events file and
    // a second file output in a directory of its own. The state and spool
    // stay root's (0700): the forwarders read the spool through fds the main
    // thread opened.
    fs::permissions(dir.path, fs::perms::others_exec, fs::perm_options::add);
    write_file(dir / "events.json", "");
    REQUIRE(chown((dir / "events.json").c_str(), nobody, nobody) == 0);
    fs::create_directories(dir / "out");
    REQUIRE(chown((dir / "out").c_str(), nobody, nobody) == 0);
    const std::string rules = dir / "rules.yaml";
    write_file(rules, "- rule: elsewhere\n  description: d\n  condition: event.module = bpf and not file.path "
                      "startswith " + dir.path + "/\n  actions: [drop]\n");
    Agent a = start_agent(dir, {"--no-default-rules", "--rules", rules, "--user", "nobody", "--output",
                                "file:" + dir / "out/second.json", "--metrics", "127.0.0.1:0", "--control",
                                dir / "ktraild.sock"});
    wait_started(a);
    INFO(slurp(a.err));
    uint16_t port = metrics_port_in_log(a.err);
    REQUIRE(port != 0);
    CHECK(slurp(a.err).find("capabilities: cap_setgid,cap_setuid,cap_setpcap given up too") != std::string::npos);

    // The main thread: root with the kept set only (what switching users
    // needed is gone from every set).
    const uint64_t kept = cap_mask({CAP_AUDIT_CONTROL, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH});
    CHECK(ktrail::test::status_field(a.pid, "Uid") == "0\t0\t0\t0");
    CHECK(cap_field(a.pid, "CapPrm") == kept);
    CHECK(cap_field(a.pid, "CapBnd") == kept);
    // Every other thread: the user, its group, no capability in any set.
    auto tids = ktrail::test::threads_of(a.pid);
    CHECK(tids.size() >= 5);  // two forwarders, metrics, status
    for (pid_t tid : tids) {
        if (tid == a.pid) continue;
        INFO("thread " << tid << " " << ktrail::test::status_field(a.pid, "Name", tid));
        CHECK(ktrail::test::status_field(a.pid, "Uid", tid) == "65534\t65534\t65534\t65534");
        CHECK(ktrail::test::status_field(a.pid, "Gid", tid) == "65534\t65534\t65534\t65534");
        CHECK(cap_field(a.pid, "CapPrm", tid) == 0);
        CHECK(cap_field(a.pid, "CapBnd", tid) == 0);
        CHECK(ktrail::test::status_field(a.pid, "NoNewPrivs", tid) == "1");
    }

    // It works: both files get the events, written by the user; /metrics
    // and `ktrail status` answer from the user's threads.
    REQUIRE(run({"touch", dir / "one"}) == 0);
    std::vector<json> events;
    CHECK(wait_for(a, events, [&](const json& x) { return is_file_event(x, "created-file", dir / "one"); }));
    CHECK(metric_value(scrape_metrics(port), "ktrail_events_emitted_total") > 0);
    CHECK(run({KTRAIL_CLI, "status", "--socket", dir / "ktraild.sock"}) == 0);
    REQUIRE(WEXITSTATUS(stop_agent(a)) == 0);
    auto second = read_events(dir / "out/second.json");
    CHECK(find(second, "created-file", dir / "one"));
    struct stat st{};
    REQUIRE(stat((dir / "out/second.json").c_str(), &st) == 0);
    CHECK(st.st_uid == nobody);
    REQUIRE(stat((dir / "state/spool").c_str(), &st) == 0);
    CHECK(st.st_uid == 0);
    CHECK((st.st_mode & 0777) == 0700);
    // Each output's cursor: written by the main thread from the forwarders' acks.
    size_t cursors = 0;
    for (const auto& f : fs::directory_iterator(dir / "state")) {
        if (!f.path().filename().string().starts_with("spool-acked.")) continue;
        ++cursors;
        REQUIRE(stat(f.path().c_str(), &st) == 0);
        CHECK(st.st_uid == 0);
    }
    CHECK(cursors == 2);
}

TEST_CASE("--user names an existing, unprivileged user", "[privileges]") {
    TempDir dir;
    for (const auto& [user, says] : {std::pair<std::string, std::string>{"root", "that is root"},
                                     {"ktrail-no-such-user", "no such user"}}) {
        Agent a = start_agent(dir, {"--no-default-rules", "--no-audit", "--user", user});
        int status = 0;
        REQUIRE(waitpid(a.pid, &status, 0) == a.pid);
        CHECK(WEXITSTATUS(status) == 1);
        CHECK(slurp(a.err).find("--user " + user + ": " + says) != std::string::npos);
    }
}
