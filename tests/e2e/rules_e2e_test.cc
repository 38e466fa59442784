// e2e ktrail rules on the real ktraild (without the default set): a tag rule
// marks only the events it matches; real su failures cross an alert
// threshold; SIGHUP with a broken file keeps the running rules, with a good
// one replaces them; a drop rule's path prefix is stopped in the kernel; a
// bad rule file stops ktraild from starting; `ktrail rules check`.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../support/host_fixtures.h"
#include "ktraild_harness.h"

using namespace ktrail::e2e;
using ktrail::test::AuditStateGuard;
using ktrail::test::su_as_nobody;
using ktrail::test::TempUser;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    REQUIRE(out.good());
}

// ktraild with exactly these ktrail rules (and `extra` options).
Agent start_with_rules(const TempDir& dir, const std::string& rules, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--no-default-rules", "--rules", rules};
    args.insert(args.end(), extra.begin(), extra.end());
    return start_agent(dir, args);
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// Waits until ktraild's log holds `what` at least `times` times, or 10 s.
bool wait_log(const Agent& a, const std::string& what, size_t times = 1) {
    for (int i = 0; i < 200; ++i) {
        if (count_of(slurp(a.err), what) >= times) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

bool is_created(const json& e, const std::string& path) {
    return e["event"]["action"] == "created-file" && e.contains("file") && e["file"].value("path", "") == path;
}

const json* created(const std::vector<json>& events, const std::string& path) {
    for (const auto& e : events)
        if (is_created(e, path)) return &e;
    return nullptr;
}

std::vector<std::string> tags_of(const json& e) {
    std::vector<std::string> out;
    if (e.contains("tags"))
        for (const auto& t : e["tags"]) out.push_back(t.get<std::string>());
    return out;
}

// Touches `path` and waits for its created-file event.
const json* touch_and_wait(const Agent& a, std::vector<json>& events, const std::string& path) {
    REQUIRE(run({"touch", path}) == 0);
    return wait_for(a, events, [&](const json& e) { return is_created(e, path); });
}

std::string tag_rule(const std::string& id, const std::string& prefix, const std::string& tag) {
    return "- rule: " + id + "\n  description: d\n  condition: event.action = created-file and file.path startswith " +
           prefix + "\n  actions: [tag " + tag + "]\n";
}

}  // namespace

TEST_CASE("a tag rule adds its tag, severity, technique and rule to the matching event only", "[rules]") {
    TempDir dir;
    const std::string rules = dir / "rules.yaml", marked = dir / "marked", plain = dir / "plain";
    write_file(rules, "- rule: marked-file\n"
                      "  name: Marked file created\n"
                      "  description: someone made the marked file\n"
                      "  condition: event.action = created-file and file.path = " + marked + "\n"
                      "  actions: [tag marked, severity 42, technique T1565.001]\n");
    Agent a = start_with_rules(dir, rules, {"--no-audit"});
    wait_started(a);
    REQUIRE(run({"touch", marked}) == 0);
    std::vector<json> events;
    REQUIRE(touch_and_wait(a, events, plain));
    REQUIRE(WEXITSTATUS(stop_agent(a)) == 0);
    events = read_events(a.out);
    CHECK(slurp(a.err).find("ktrail rules: 1 rule(s) from 1 file(s)") != std::string::npos);

    const json* m = created(events, marked);
    const json* p = created(events, plain);
    REQUIRE(m);
    REQUIRE(p);
    INFO(m->dump(2) << "\n" << p->dump(2));
    CHECK(tags_of(*m) == std::vector<std::string>{"marked"});
    CHECK((*m)["event"]["severity"] == 42);
    CHECK((*m)["rule"]["id"] == "marked-file");
    CHECK((*m)["rule"]["name"] == "Marked file created");
    CHECK((*m)["threat"]["technique"]["id"] == "T1565.001");
    for (const char* key : {"tags", "rule", "threat"}) CHECK_FALSE(p->contains(key));
    CHECK_FALSE((*p)["event"].contains("severity"));
    // Nothing else was marked.
    size_t marked_events = 0;
    for (const auto& e : events) marked_events += e.contains("rule") || e.contains("tags") || e["event"].contains("severity");
    CHECK(marked_events == 1);
}

TEST_CASE("five real su failures within a minute raise one alert naming them", "[rules]") {
    AuditStateGuard guard;
    TempUser user;
    TempDir dir;
    const std::string rules = dir / "rules.yaml";
    write_file(rules, R"(- rule: su-brute-force
  name: Repeated authentication failures
  description: five failed authentications for one account within a minute
  condition: event.action = authenticated and event.outcome = failure
  actions: ["alert 5 within 60s by user.name", severity 60, technique T1110.001]
)");
    Agent a = start_with_rules(dir, rules);
    wait_started(a);
    for (int i = 0; i < 5; ++i) {
        int status = su_as_nobody(user.name, "not-the-password");
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) != 0);
    }
    std::vector<json> events;
    REQUIRE(wait_for(a, events, [](const json& e) { return e["event"]["kind"] == "alert"; }));
    std::this_thread::sleep_for(500ms);  // nothing more is coming
    REQUIRE(WEXITSTATUS(stop_agent(a)) == 0);
    events = read_events(a.out);

    std::vector<const json*> failures, alerts;
    for (const auto& e : events) {
        if (e["event"]["kind"] == "alert") alerts.push_back(&e);
        else if (e["event"]["action"] == "authenticated" && e["event"]["outcome"] == "failure" &&
                 e.contains("user") && e["user"].value("name", "") == user.name)
            failures.push_back(&e);
    }
    REQUIRE(failures.size() == 5);
    REQUIRE(alerts.size() == 1);
    const json& alert = *alerts[0];
    INFO(alert.dump(2));
    std::vector<std::string> failure_ids;
    for (const json* f : failures) {
        failure_ids.push_back((*f)["event"]["id"].get<std::string>());
        CHECK((*f)["rule"]["id"] == "su-brute-force");  // each matched the rule
        CHECK((*f)["event"]["severity"] == 60);
        CHECK((*f)["process"]["executable"] == "/usr/bin/su");
    }
    CHECK(alert["ktrail"]["alert"]["event_ids"] == json(failure_ids));
    CHECK(alert["ktrail"]["alert"]["count"] == 5);
    CHECK(alert["ktrail"]["alert"]["window_seconds"] == 60);
    CHECK(alert["ktrail"]["alert"]["group"] == json({{"user.name", user.name}}));
    CHECK(alert["rule"]["id"] == "su-brute-force");
    CHECK(alert["rule"]["name"] == "Repeated authentication failures");
    CHECK(alert["event"]["severity"] == 60);
    CHECK(alert["threat"]["technique"]["id"] == "T1110.001");
    CHECK(alert["user"]["name"] == user.name);
    // The alert follows the fifth failure, with an id of its own.
    CHECK(alert["event"]["sequence"].get<uint64_t>() > (*failures[4])["event"]["sequence"].get<uint64_t>());
    CHECK(std::find(failure_ids.begin(), failure_ids.end(), alert["event"]["id"]) == failure_ids.end());
    CHECK(slurp(a.err).find("alert su-brute-force: 5 events within 60 s") != std::string::npos);
}

TEST_CASE("SIGHUP: a broken rule file keeps the running rules; a good one replaces them", "[rules]") {
    TempDir dir;
    fs::create_directory(dir / "files");
    const std::string rules = dir / "rules.yaml", files = dir.path + "/files/";
    write_file(rules, tag_rule("rule-a", files, "tag-a"));
    Agent a = start_with_rules(dir, rules, {"--no-audit"});
    wait_started(a);
    std::vector<json> events;
    const json* e = touch_and_wait(a, events, files + "1");
    REQUIRE(e);
    CHECK(tags_of(*e) == std::vector<std::string>{"tag-a"});

    // Broken: an unknown field on line 3, column 46, and a bad action on line 4.
    write_file(rules, "- rule: rule-b\n"
                      "  description: d\n"
                      "  condition: event.action = created-file and file.pth startswith " + files + "\n"
                      "  actions: [tag tag-b, sevrity 5]\n");
    REQUIRE(kill(a.pid, SIGHUP) == 0);
    const std::string field_error = rules + ":3:46: unknown field 'file.pth' (did you mean 'file.path'?)";
    const std::string action_error = rules + ":4:24: unknown action 'sevrity'";
    CHECK(wait_log(a, "rule reload refused"));
    CHECK(slurp(a.err).find(field_error) != std::string::npos);
    CHECK(slurp(a.err).find(action_error) != std::string::npos);
    e = touch_and_wait(a, events, files + "2");
    REQUIRE(e);
    CHECK(tags_of(*e) == std::vector<std::string>{"tag-a"});

    // Fixed, with another rule.
    write_file(rules, tag_rule("rule-b", files, "tag-b"));
    REQUIRE(kill(a.pid, SIGHUP) == 0);
    CHECK(wait_log(a, "ktrail rules: 1 rule(s) from 1 file(s)", 2));
    e = touch_and_wait(a, events, files + "3");
    REQUIRE(e);
    CHECK(tags_of(*e) == std::vector<std::string>{"tag-b"});
    CHECK((*e)["rule"]["id"] == "rule-b");

    REQUIRE(WEXITSTATUS(stop_agent(a)) == 0);
    events = read_events(a.out);
    const json* before = created(events, files + "1");
    const json* during = created(events, files + "2");
    const json* after = created(events, files + "3");
    REQUIRE(before);
    REQUIRE(during);
    REQUIRE(after);
    CHECK((*before)["rule"]["id"] == "rule-a");
    CHECK((*during)["rule"]["id"] == "rule-a");
    CHECK(tags_of(*after) == std::vector<std::string>{"tag-b"});
    CHECK(slurp(a.err).find("reloads 1 ok, 1 refused") != std::string::npos);
}

TEST_CASE("a drop rule on a path prefix: its events are not written, and it runs in the kernel", "[rules]") {
    TempDir dir;
    for (const char* d : {"quiet", "loud"}) fs::create_directory(dir / d);
    const std::string rules = dir / "rules.yaml", quiet = dir.path + "/quiet/", loud = dir.path + "/loud/";
    write_file(rules, "- rule: quiet-dir\n  description: d\n  condition: file.path startswith " + quiet +
                          "\n  actions: [drop]\n");
    Agent a = start_with_rules(dir, rules, {"--no-audit"});
    wait_started(a);
    CHECK(slurp(a.err).find("drop rule quiet-dir: in the kernel: paths " + quiet) != std::string::npos);
    // Opened files (decided in the kernel) and changes by name (in the agent).
    const std::string script = "touch " + quiet + "a && mkdir " + quiet + "sub && touch " + quiet + "sub/b && chmod 600 " +
                               quiet + "a && rm " + quiet + "a && touch " + loud + "c";
    REQUIRE(run({"sh", "-c", script}) == 0);
    REQUIRE(fs::exists(quiet + "sub/b"));
    std::vector<json> events;
    REQUIRE(wait_for(a, events, [&](const json& e) { return is_created(e, loud + "c"); }));
    REQUIRE(WEXITSTATUS(stop_agent(a)) == 0);
    events = read_events(a.out);
    size_t touch_runs = 0;
    for (const auto& e : events) {
        INFO(e.dump());
        if (e.contains("file")) CHECK_FALSE(e["file"].value("path", "").starts_with(quiet));
        // The processes themselves are still seen.
        if (e["event"]["action"] == "executed" && e["process"]["executable"] == "/usr/bin/touch") ++touch_runs;
    }
    CHECK(touch_runs == 3);
    CHECK(created(events, loud + "c"));
}

TEST_CASE("ktraild refuses to start with a bad rule file and lists every error", "[rules]") {
    TempDir dir;
    const std::string bad = dir / "bad.yaml", bad2 = dir / "more.yml";
    write_file(bad, R"(- rule: a
  description: d
  condition: user.nme = root
  actions: [tag x]
- rule: b
  description: d
  condition: user.id = 0
  actions: [severity 101]
- rule: c
  description: d
  condition: file.path startswith /x/ and
  actions: [frob]
)");
    write_file(bad2, "- macro: m\n  condition: user.id =\n");
    Agent a = start_agent(dir, {"--no-default-rules", "--rules", bad, "--rules", bad2, "--no-audit"});
    int status = 0;
    REQUIRE(waitpid(a.pid, &status, 0) == a.pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) != 0);
    std::string err = slurp(a.err);
    INFO(err);
    CHECK(err.find("5 error(s) in the ktrail rules, nothing started") != std::string::npos);
    CHECK(err.find(bad + ":3:14: unknown field 'user.nme' (did you mean 'user.name'?)") != std::string::npos);
    CHECK(err.find(bad + ":8:22: severity takes a number from 0 to 100") != std::string::npos);
    CHECK(err.find(bad + ":11:42: expected a condition (at the end of the condition)") != std::string::npos);
    CHECK(err.find(bad + ":12:13: unknown action 'frob'") != std::string::npos);
    CHECK(err.find(bad2 + ":2:23: expected a value (at the end of the condition)") != std::string::npos);
    CHECK(slurp(a.out).find("agent-started") == std::string::npos);
}

TEST_CASE("ktrail rules check: where each drop rule runs; every error; with audit rules in the same call", "[rules]") {
    TempDir dir;
    const std::string good = dir / "good.yaml", bad = dir / "bad.yaml";
    const std::string good_audit = dir / "good.rules", bad_audit = dir / "bad.rules";
    write_file(good, R"(- rule: quiet-tmp
  description: d
  condition: file.path startswith /tmp/
  actions: [drop]
- rule: nobody-here
  description: d
  condition: user.name = no-such-user-ktrail
  actions: [drop]
- rule: root-files
  description: d
  condition: user.id = 0 and event.category = file
  actions: [tag root]
)");
    write_file(bad, R"(- rule: x
  description: d
  condition: user.id = root
  actions: [drop, tag y]
- rule: x
  description: d
  condition: proces.name = sh
  actions: [keep]
)");
    write_file(good_audit, "-w /etc/passwd -p wa -k identity\n");
    write_file(bad_audit, "-a always,exit -S nope\n");
    const std::string out = dir / "out", err = dir / "err";
    auto check = [&](std::vector<std::string> files) {
        std::string cmd = std::string(KTRAIL_CLI) + " rules check";
        for (const auto& f : files) cmd += " " + f;
        return run({"sh", "-c", cmd + " >" + out + " 2>" + err});
    };

    int status = check({good});
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(slurp(out) == "ktrail rules: 3 rule(s) from 1 file(s), 0 errors\n"
                        "  drop rule quiet-tmp: in the kernel: paths /tmp/\n"
                        "  drop rule nobody-here: in userspace: a user name has no account here\n");
    CHECK(slurp(err).empty());

    status = check({bad});
    CHECK(WEXITSTATUS(status) == 1);
    const std::string bad_errors = bad + ":3:24: user.id is a number; 'root' is not\n" +
                                   bad + ":4:12: a dropped event is gone: drop cannot go with tag, severity, technique or alert\n" +
                                   bad + ":5:9: rule 'x' is already defined at " + bad + ":1\n" +
                                   bad + ":7:14: unknown field 'proces.name' (did you mean 'process.name'?)\n";
    CHECK(slurp(err) == bad_errors);
    CHECK(slurp(out) == "ktrail rules: 4 error(s) in 1 file(s)\n");

    // Both kinds in one call: each checked as ktraild loads it.
    status = check({good, good_audit});
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(slurp(out).find("ktrail rules: 3 rule(s) from 1 file(s), 0 errors\n") != std::string::npos);
    CHECK(slurp(out).find(good_audit + ": 1 rule(s), 0 error(s)\n") != std::string::npos);
    status = check({good_audit, bad, bad_audit});
    CHECK(WEXITSTATUS(status) == 1);
    CHECK(slurp(err).find(bad_errors) != std::string::npos);
    CHECK(slurp(err).find(bad_audit + ":1: unknown syscall 'nope'") != std::string::npos);
    status = check({good, bad_audit});
    CHECK(WEXITSTATUS(status) == 1);
    CHECK(slurp(err) == bad_audit + ":1: unknown syscall 'nope'\n");
}
