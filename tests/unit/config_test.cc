// Config files: every flag has a twin key, conf.d/ overrides in name order,
// flags win, and every mistake is one line naming FILE:LINE, the key and the fix.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config_file.h"
#include "options.h"

namespace fs = std::filesystem;

namespace {

struct Dir {
    Dir() {
        char tmpl[] = "/tmp/ktrail-config-XXXXXX";
        REQUIRE(mkdtemp(tmpl));
        path = tmpl;
    }
    ~Dir() { fs::remove_all(path); }
    std::string write(const std::string& leaf, const std::string& text) const {
        fs::create_directories(fs::path(path + "/" + leaf).parent_path());
        std::ofstream(path + "/" + leaf) << text;
        return path + "/" + leaf;
    }
    std::string config() const { return path + "/ktrail.yaml"; }
    std::string path;
};

// ktraild with these flags and DIR/ktrail.yaml (and DIR/conf.d) as the default config.
ktrail::Result<ktrail::CommandLine> load(const Dir& dir, std::vector<const char*> args = {}) {
    args.insert(args.begin(), "ktraild");
    return ktrail::parse_command_line(static_cast<int>(args.size()), const_cast<char**>(args.data()), dir.config());
}

// The error of a ktrail.yaml holding `text`.
std::string error_of(const Dir& dir, const std::string& text) {
    dir.write("ktrail.yaml", text);
    auto cl = load(dir);
    REQUIRE_FALSE(cl.has_value());
    return cl.error().message;
}

}  // namespace

TEST_CASE("every flag but --config, --help and --version is a config key, and in --help", "[config]") {
    Dir dir;
    std::vector<std::string> cli_only;
    for (const auto& flag : ktrail::flags()) {
        INFO("--" << flag.name);
        CHECK(std::string(ktrail::usage()).find("--" + std::string(flag.name)) != std::string::npos);
        if (!flag.twin) {
            cli_only.emplace_back(flag.name);
            continue;
        }
        std::string key(flag.name);
        auto path = dir.write("one.yaml", key + (flag.kind == ktrail::config::Kind::boolean ? ": true\n" : ": v\n"));
        auto read = ktrail::config::read_config_file(ktrail::config::specs(ktrail::flags()), path);
        REQUIRE(read.has_value());
        REQUIRE(read->contains(key));
        CHECK(read->at(key).values == std::vector<std::string>{flag.kind == ktrail::config::Kind::boolean ? "true" : "v"});
        CHECK(read->at(key).origin.line == 1);
    }
    CHECK(cli_only == std::vector<std::string>{"config", "help", "version"});
}

TEST_CASE("a config file sets what the flags set; lists take one value or many", "[config]") {
    Dir dir;
    dir.write("ktrail.yaml", "# ktraild\n"
                             "output: [stdout, 'file:/tmp/x.json']\n"
                             "format: ocsf\n"
                             "watch: /etc\n"
                             "exclude:\n  - /proc\n  - /sys\n"
                             "watched-only: true\n"
                             "no-audit: yes\n"
                             "spool-max-bytes: 64M\n"
                             "exclude-pid: [42, 43]\n"
                             "log-level: debug\n"
                             "no-default-rules: false\n");
    auto cl = load(dir);
    REQUIRE(cl.has_value());
    CHECK(cl->agent.outputs == std::vector<std::string>{"stdout", "file:/tmp/x.json"});
    CHECK(cl->agent.format == ktrail::Format::ocsf);
    CHECK(cl->agent.bpf.watch == std::vector<std::string>{"/etc"});
    CHECK(cl->agent.bpf.exclude == std::vector<std::string>{"/proc", "/sys"});
    CHECK(cl->agent.bpf.watched_only);
    CHECK_FALSE(cl->agent.audit);
    CHECK(cl->agent.spool_max_bytes == 64ull << 20);
    CHECK(cl->agent.bpf.exclude_pids == std::vector<pid_t>{42, 43});
    CHECK(cl->log_level == "debug");
    CHECK(cl->agent.default_rules);
    CHECK(cl->settings.at("exclude").lines == std::vector<int>{6, 7});
}

TEST_CASE("conf.d/*.yaml override the config key by key, in name order", "[config]") {
    Dir dir;
    dir.write("ktrail.yaml", "format: ocsf\nwatch: [/a, /b]\nstate: /s0\n");
    dir.write("conf.d/20-late.yaml", "state: /s2\n");
    dir.write("conf.d/10-early.yaml", "format: cef\nstate: /s1\n");
    dir.write("conf.d/30-off.yaml.disabled", "format: json\n");  // only *.yaml
    dir.write("conf.d/40-other.yml", "format: json\n");
    auto cl = load(dir);
    REQUIRE(cl.has_value());
    CHECK(cl->agent.format == ktrail::Format::cef);
    CHECK(cl->agent.state_dir == "/s2");
    CHECK(cl->agent.bpf.watch == std::vector<std::string>{"/a", "/b"});
    CHECK(cl->settings.at("state").origin.file == dir.path + "/conf.d/20-late.yaml");

    // A drop-in's empty list clears the config's.
    dir.write("conf.d/50-clear.yaml", "watch: []\n");
    CHECK(load(dir)->agent.bpf.watch.empty());
}

TEST_CASE("flags win: a flag replaces the key whole, lists included", "[config]") {
    Dir dir;
    dir.write("ktrail.yaml", "output: ['file:/a', 'file:/b']\nformat: ocsf\nwatch: /w\nwatched-only: true\n");
    auto cl = load(dir, {"--output", "stdout", "--format=json", "--watched-only=false"});
    REQUIRE(cl.has_value());
    CHECK(cl->agent.outputs == std::vector<std::string>{"stdout"});
    CHECK(cl->agent.format == ktrail::Format::json);
    CHECK(cl->agent.bpf.watch == std::vector<std::string>{"/w"});  // not given: the config's
    CHECK_FALSE(cl->agent.bpf.watched_only);
    // A flag's bad value is named by the flag, a config's by its line.
    auto bad = load(dir, {"--format", "xml"});
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message == "--format takes json, ocsf or cef, not 'xml'");
}

TEST_CASE("--config names the file; a missing one is an error, a missing default is none", "[config]") {
    Dir dir;
    CHECK(load(dir).has_value());  // no DIR/ktrail.yaml
    auto other = dir.write("other/agent.yaml", "state: /from-other\n");
    dir.write("other/conf.d/1.yaml", "format: cef\n");
    auto cl = load(dir, {"--config", other.c_str()});
    REQUIRE(cl.has_value());
    CHECK(cl->agent.state_dir == "/from-other");
    CHECK(cl->agent.format == ktrail::Format::cef);
    auto missing = load(dir, {"--config", (dir.path + "/nope.yaml").c_str()});
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().message ==
          dir.path + "/nope.yaml: cannot read the config file (No such file or directory); fix its path or permissions");
    // --help reads no config, so a broken one cannot hide it.
    dir.write("ktrail.yaml", "bogus: 1\n");
    CHECK(load(dir, {"--help"})->help);
}

TEST_CASE("every config mistake is one line: FILE:LINE: key 'x': what is wrong and the fix", "[config]") {
    Dir dir;
    const std::string f = dir.config();
    CHECK(error_of(dir, "format: json\nwacth: /etc\n") ==
          f + ":2: key 'wacth': unknown key (did you mean 'watch'?); the keys are the long flags without '--' "
              "(see --help)");
    CHECK(error_of(dir, "frobnicate: 1\n") ==
          f + ":1: key 'frobnicate': unknown key; the keys are the long flags without '--' (see --help)");
    CHECK(error_of(dir, "format: [json]\n") == f + ":1: key 'format': takes one value, not a list");
    CHECK(error_of(dir, "\nformat:\n") == f + ":2: key 'format': has no value: give one, or remove the key");
    CHECK(error_of(dir, "watch: {a: b}\n") ==
          f + ":1: key 'watch': takes a list (like [a, b]) or one value, not a mapping");
    CHECK(error_of(dir, "watch:\n  - /a\n  - [/b]\n") ==
          f + ":3: key 'watch': each item of the list is one value, not a list");
    CHECK(error_of(dir, "no-audit: maybe\n") == f + ":1: key 'no-audit': takes true or false, not 'maybe'");
    CHECK(error_of(dir, "spool-max-bytes: lots\n") ==
          f + ":1: key 'spool-max-bytes': takes a size like 512M or 2G, not 'lots'");
    CHECK(error_of(dir, "format: xml\n") == f + ":1: key 'format': takes json, ocsf or cef, not 'xml'");
    CHECK(error_of(dir, "spool-full: drop-oldest\n") == f + ":1: key 'spool-full': takes drop-newest, not 'drop-oldest'");
    CHECK(error_of(dir, "disable:\n  - fork\n  - forks\n") ==
          f + ":3: key 'disable': takes exec, fork, exit, file, cred or module, not 'forks'");
    CHECK(error_of(dir, "ringbuf-size: big\n") == f + ":1: key 'ringbuf-size': takes a number, not 'big'");
    CHECK(error_of(dir, "log-level: loud\n") ==
          f + ":1: key 'log-level': takes trace, debug, info, warn, error or off, not 'loud'");
    CHECK(error_of(dir, "config: /etc/other.yaml\n") ==
          f + ":1: key 'config': only works on the command line (--config); remove it here");
    CHECK(error_of(dir, "state: /a\nformat: json\nstate: /b\n") ==
          f + ":3: key 'state': given twice in this file (first on line 1); keep one");
    CHECK(error_of(dir, "- output: stdout\n") ==
          f + ":1: the config is a mapping of keys to values (like 'format: json'), not a list");
    CHECK(error_of(dir, "rules: " + dir.path + "/rules.d\n") ==
          f + ":1: key 'rules': cannot read '" + dir.path +
              "/rules.d' (No such file or directory): give an existing rules file or directory");
    CHECK(error_of(dir, "format: json\nwatch: [/a, /b\nstate: /s\n") ==
          f + ":3: YAML syntax error: end of sequence flow not found; fix the syntax");
}

TEST_CASE("a drop-in's mistake names the drop-in; an unreadable conf.d is an error", "[config]") {
    Dir dir;
    dir.write("ktrail.yaml", "format: json\n");
    dir.write("conf.d/10-ok.yaml", "state: /s\n");
    auto bad = dir.write("conf.d/20-bad.yaml", "\n\nspool-max-bytes: 1Q\n");
    auto cl = load(dir);
    REQUIRE_FALSE(cl.has_value());
    CHECK(cl.error().message == bad + ":3: key 'spool-max-bytes': takes a size like 512M or 2G, not '1Q'");

    fs::remove_all(dir.path + "/conf.d");
    dir.write("conf.d", "not a directory\n");
    cl = load(dir);
    REQUIRE_FALSE(cl.has_value());
    CHECK(cl.error().message == dir.path + "/conf.d: cannot read the drop-in directory (Not a directory); make it a "
                                           "readable directory of *.yaml files, or remove it");
}

TEST_CASE("rules from the config load like --rules: a directory of both kinds goes to both loaders", "[config]") {
    Dir dir;
    dir.write("rules.d/10-local.yaml", "");
    dir.write("rules.d/20-audit.rules", "");
    dir.write("ktrail.yaml", "rules: [" + dir.path + "/rules.d]\nno-default-rules: true\n");
    auto cl = load(dir);
    REQUIRE(cl.has_value());
    CHECK(cl->agent.ktrail_rules == std::vector<std::string>{dir.path + "/rules.d"});
    CHECK(cl->agent.audit_rules == std::vector<std::string>{dir.path + "/rules.d"});
    CHECK_FALSE(cl->agent.default_rules);
}
