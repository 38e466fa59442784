// ktraild's command line: every flag, both spellings, and clear errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <vector>

#include "options.h"

namespace {
ktrail::Result<ktrail::CommandLine> parse(std::vector<const char*> args) {
    args.insert(args.begin(), "ktraild");
    return ktrail::parse_command_line(static_cast<int>(args.size()), const_cast<char**>(args.data()));
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
    const std::string both = std::string(tmpl) + "/both", yaml_only = std::string(tmpl) + "/yaml";
    std::filesystem::create_directories(both);
    std::filesystem::create_directories(yaml_only);
    std::ofstream(both + "/a.yaml") << "";
    std::ofstream(both + "/b.rules") << "";
    std::ofstream(yaml_only + "/c.yml") << "";
    auto cl = parse({"--rules", "/etc/x.yaml", "--rules=/etc/audit/x.rules", "--rules", "/etc/plain", "--rules",
                     both.c_str(), "--rules", yaml_only.c_str(), "--no-default-rules"});
    std::filesystem::remove_all(tmpl);
    REQUIRE(cl.has_value());
    CHECK(cl->agent.ktrail_rules == std::vector<std::string>{"/etc/x.yaml", both, yaml_only});
    CHECK(cl->agent.audit_rules == std::vector<std::string>{"/etc/audit/x.rules", "/etc/plain", both});
    CHECK_FALSE(cl->agent.default_rules);
    CHECK(parse({})->agent.default_rules);
}
