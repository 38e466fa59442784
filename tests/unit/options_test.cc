// ktraild's command line: every flag, both spellings, and clear errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <vector>

#include "options.h"

namespace {
ktrail::Result<ktrail::CommandLine> parse(std::vector<const char*> args) {
    args.insert(args.begin(), "ktraild");
    // No config file: the flags alone, whatever the host has in /etc/ktrail.
    return ktrail::parse_command_line(static_cast<int>(args.size()), const_cast<char**>(args.data()),
                                      "/nonexistent/ktrail.yaml");
}
}  // namespace

TEST_CASE("flags fill the agent options", "[options]") {
    auto cl = parse({"--output", "stdout", "--output=file:/tmp/x.json", "--watch", "/etc", "--exclude=/proc",
                     "--watched-only", "--exclude-pid", "42", "--ringbuf-size", "65536", "--state", "/tmp/s",
                     "--log-level", "debug", "--disable", "fork", "--disable=exit"});
    REQUIRE(cl.has_value());
    CHECK(cl->agent.outputs == std::vector<std::string>{"stdout", "file:/tmp/x.json"});
    CHECK(cl->agent.bpf.watch == std::vector<std::string>{"/etc"});
    CHECK(cl->agent.bpf.exclude == std::vector<std::string>{"/proc"});
    CHECK(cl->agent.bpf.watched_only);
    CHECK(cl->agent.bpf.exclude_pids == std::vector<pid_t>{42});
    CHECK(cl->agent.bpf.ringbuf_bytes == 65536);
    CHECK(cl->agent.state_dir == "/tmp/s");
    CHECK(cl->log_level == "debug");
    CHECK(cl->agent.bpf.disable == std::vector<std::string>{"fork", "exit"});
}

TEST_CASE("bad flags are errors that say what to do", "[options]") {
    auto unknown = parse({"--bogus"});
    REQUIRE_FALSE(unknown.has_value());
    CHECK(unknown.error().message == "unknown option '--bogus'; see --help");
    auto missing = parse({"--output"});
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().message == "--output needs a value; see --help");
    auto kind = parse({"--disable", "forks"});
    REQUIRE_FALSE(kind.has_value());
    CHECK(kind.error().message == "--disable takes exec, fork, exit, file, cred or module, not 'forks'");
    auto nan = parse({"--ringbuf-size", "lots"});
    REQUIRE_FALSE(nan.has_value());
    CHECK(nan.error().message == "--ringbuf-size takes a number, not 'lots'");
}

TEST_CASE("--rules sorts ktrail rules from audit rules; a directory goes where its files belong", "[options]") {
    char tmpl[] = "/tmp/ktrail-opts-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    const std::string dir = tmpl, both = dir + "/both", yaml_only = dir + "/yaml";
    std::filesystem::create_directories(both);
    std::filesystem::create_directories(yaml_only);
    std::ofstream(both + "/a.yaml") << "";
    std::ofstream(both + "/b.rules") << "";
    std::ofstream(yaml_only + "/c.yml") << "";
    for (const char* f : {"/x.yaml", "/x.rules", "/plain"}) std::ofstream(dir + f) << "";
    const std::string yaml = dir + "/x.yaml", audit = "--rules=" + dir + "/x.rules", plain = dir + "/plain";
    auto cl = parse({"--rules", yaml.c_str(), audit.c_str(), "--rules", plain.c_str(), "--rules", both.c_str(),
                     "--rules", yaml_only.c_str(), "--no-default-rules"});
    auto missing = parse({"--rules", (dir + "/gone").c_str()});
    std::filesystem::remove_all(tmpl);
    REQUIRE(cl.has_value());
    CHECK(cl->agent.ktrail_rules == std::vector<std::string>{yaml, both, yaml_only});
    CHECK(cl->agent.audit_rules == std::vector<std::string>{dir + "/x.rules", plain, both});
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().message == "--rules cannot read '" + dir +
                                         "/gone' (No such file or directory): give an existing rules file or directory");
    CHECK_FALSE(cl->agent.default_rules);
    CHECK(parse({})->agent.default_rules);
}
