// e2e config files on the real ktraild: a --config file and its conf.d/
// really drive it (output, state, watch); a bad config stops it with exit 2
// and one line; SIGHUP with a broken config keeps it running on the old
// config and rules, with a fixed one applies the new rules.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ktraild_harness.h"

using namespace ktrail::e2e;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

void write_file(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    REQUIRE(out.good());
}

// ktraild with exactly these arguments (no --output, no --state: the config's),
// its log in DIR/agent.log; `out` is where the config sends events.
Agent start_raw(const TempDir& dir, const std::vector<std::string>& flags, const std::string& out) {
    Agent a;
    a.out = out;
    a.err = dir / "agent.log";
    std::vector<std::string> args = {KTRAILD};
    args.insert(args.end(), flags.begin(), flags.end());
    fflush(nullptr);
    a.pid = fork();
    REQUIRE(a.pid >= 0);
    if (a.pid == 0) {
        int fd = open(a.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, STDERR_FILENO);
        std::vector<char*> argv;
        for (auto& s : args) argv.push_back(s.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(98);
    }
    return a;
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

std::string tag_rule(const std::string& id, const std::string& prefix, const std::string& tag) {
    return "- rule: " + id + "\n  description: d\n  condition: event.action = created-file and file.path startswith " +
           prefix + "\n  actions: [tag " + tag + "]\n";
}

// Touches `path` and waits for its created-file event; its tags.
std::vector<std::string> touch_tags(const Agent& a, const std::string& path) {
    REQUIRE(run({"touch", path}) == 0);
    std::vector<json> events;
    const json* e = wait_for(a, events, [&](const json& e) { return is_file_event(e, "created-file", path); });
    INFO(slurp(a.err));
    REQUIRE(e);
    std::vector<std::string> tags;
    if (e->contains("tags"))
        for (const auto& t : (*e)["tags"]) tags.push_back(t.get<std::string>());
    return tags;
}

}  // namespace

TEST_CASE("ktraild --config: the file and its conf.d/ choose the output, state and watch", "[config]") {
    TempDir dir;
    const std::string config = dir / "etc/ktrail.yaml", out = dir / "from-config.json";
    fs::create_directories(dir / "watched");
    fs::create_directories(dir / "elsewhere");
    write_file(dir / "watched/secret", "s\n");
    write_file(dir / "elsewhere/secret", "s\n");
    write_file(config, "output: 'file:" + out + "'\n"
                       "state: " + dir / "state" + "\n"
                       "watch: " + dir / "elsewhere" + "\n"
                       "watched-only: true\n"
                       "no-default-rules: true\n"
                       "no-audit: true\n");
    write_file(dir / "etc/conf.d/50-watch.yaml", "watch: [" + dir / "watched" + "]\n");  // replaces the list

    Agent a = start_raw(dir, {"--config", config}, out);
    wait_started(a);
    CHECK(fs::exists(dir / "state/agent-id"));
    REQUIRE(run({"sh", "-c", "cat " + dir / "elsewhere/secret" + " " + dir / "watched/secret" + " >/dev/null"}) == 0);
    std::vector<json> events;
    CHECK(wait_for(a, events, [&](const json& e) { return is_file_event(e, "opened-file", dir / "watched/secret"); }));
    REQUIRE(WEXITSTATUS(stop_agent(a)) == 0);
    events = read_events(out);
    CHECK_FALSE(find(events, "opened-file", dir / "elsewhere/secret"));
    CHECK(events.back()["event"]["action"] == "agent-stopped");
}

TEST_CASE("a bad config stops ktraild before anything starts: exit 2 and one line", "[config]") {
    TempDir dir;
    const std::string config = dir / "ktrail.yaml";
    auto fails_with = [&](const std::string& text, const std::string& message) {
        write_file(config, text);
        Agent a = start_raw(dir, {"--config", config}, dir / "events.json");
        int status = 0;
        REQUIRE(waitpid(a.pid, &status, 0) == a.pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 2);
        CHECK(slurp(a.err) == "ktraild: " + message + "\n");
        CHECK_FALSE(fs::exists(dir / "state"));
        CHECK_FALSE(fs::exists(dir / "events.json"));
    };
    const std::string head = "output: 'file:" + dir / "events.json" + "'\nstate: " + dir / "state" + "\n";
    fails_with(head + "spool-max-bytes: lots\n",
               config + ":3: key 'spool-max-bytes': takes a size like 512M or 2G, not 'lots'");
    fails_with(head + "wathc: /etc\n", config + ":3: key 'wathc': unknown key (did you mean 'watch'?); the keys are "
                                                "the long flags without '--' (see --help)");
    fails_with(head + "watch: [/etc\n", config + ":3: YAML syntax error: end of sequence flow not found; fix the syntax");
    Agent missing = start_raw(dir, {"--config", dir / "none.yaml"}, dir / "events.json");
    int status = 0;
    REQUIRE(waitpid(missing.pid, &status, 0) == missing.pid);
    CHECK(WEXITSTATUS(status) == 2);
    CHECK(slurp(missing.err) == "ktraild: " + dir / "none.yaml" +
                                    ": cannot read the config file (No such file or directory); fix its path or "
                                    "permissions\n");
}

TEST_CASE("SIGHUP: a broken config keeps the running config and rules; a fixed one applies new rules", "[config]") {
    TempDir dir;
    const std::string config = dir / "ktrail.yaml", out = dir / "events.json", files = dir.path + "/files/";
    fs::create_directories(files);
    write_file(dir / "rules-a.yaml", tag_rule("rule-a", files, "tag-a"));
    write_file(dir / "rules-b.yaml", tag_rule("rule-b", files, "tag-b"));
    const std::string head = "output: 'file:" + out + "'\nstate: " + dir / "state" +
                             "\nno-default-rules: true\nno-audit: true\n";
    write_file(config, head + "rules: " + dir / "rules-a.yaml" + "\n");
    Agent a = start_raw(dir, {"--config", config}, out);
    wait_started(a);
    CHECK(touch_tags(a, files + "1") == std::vector<std::string>{"tag-a"});

    // Broken: a bad value on line 6. Nothing changes, events keep coming.
    write_file(config, head + "rules: " + dir / "rules-b.yaml" + "\nformat: xml\n");
    REQUIRE(kill(a.pid, SIGHUP) == 0);
    CHECK(wait_log(a, "config reload refused: " + config +
                          ":6: key 'format': takes json, ocsf or cef, not 'xml'; the running config and rules stay"));
    CHECK(touch_tags(a, files + "2") == std::vector<std::string>{"tag-a"});

    // Fixed: the new rules apply; a key that needs a restart says so.
    write_file(config, head + "rules: " + dir / "rules-b.yaml" + "\nformat: ocsf\n");
    REQUIRE(kill(a.pid, SIGHUP) == 0);
    CHECK(wait_log(a, "ktrail rules: 1 rule(s) from 1 file(s)", 2));
    CHECK(slurp(a.err).find("config: 'format' changed; it takes effect when ktraild restarts") != std::string::npos);
    CHECK(touch_tags(a, files + "3") == std::vector<std::string>{"tag-b"});

    int status = stop_agent(a);
    INFO(slurp(a.err));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    auto events = read_events(out);  // still JSON: format waits for a restart
    CHECK(events.back()["event"]["action"] == "agent-stopped");
}
