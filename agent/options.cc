#include "options.h"

#include "util/parse_size.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "config/config_file.h"
#include "default_rules_dir.h"
#include "rules/rule_set.h"

#include <algorithm>
#include <filesystem>
#include <charconv>
#include <iterator>
#include <string_view>

namespace ktrail {
namespace {

// ktrail rules by extension; anything else is in auditctl syntax. A
// directory is given to each loader that has files in it.
void add_rule_path(const std::string& path, AgentOptions& o) {
    std::error_code ec;
    if (!std::filesystem::is_directory(path, ec)) {
        (rules::is_rule_file(path) ? o.ktrail_rules : o.audit_rules).push_back(path);
        return;
    }
    bool yaml = false, audit = false;
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
        yaml |= rules::is_rule_file(e.path().string());
        audit |= e.path().extension() == ".rules";
    }
    if (yaml) o.ktrail_rules.push_back(path);
    if (audit || !yaml) o.audit_rules.push_back(path);  // an empty directory: say so there
}


}  // namespace

const char* usage() {
    static const std::string text = std::string(R"(usage: ktraild [options]

Captures file, permission, process and kernel-module events with eBPF, and
logins, authentication and account changes from the Linux audit stream, and
spools every event (hash-chained, signed) before any output reads it.

  --config FILE        the config file (default /etc/ktrail/ktrail.yaml), then
                       every *.yaml in conf.d/ next to it; each key is a long
                       flag without --, and flags given here win
  --output SPEC        where events go; repeatable, each with its own cursor in
                       the spool (delivered at least once):
                         stdout (default)
                         file:PATH[?max-size=SIZE&keep=5&fsync=batch|none]
                         collector:HOST:PORT (over mutual TLS)
                         syslog+tcp://HOST:PORT, syslog+tls://HOST:PORT
                           [?facility=audit&ca=FILE&cert=FILE&key=FILE]
                         kafka://BROKER[,BROKER]/TOPIC[?compression=zstd&...]
                       any but collector also takes ?format=json|ocsf|cef
  --format FORMAT      json (the event contract, ECS names; default), ocsf
                       (OCSF 1.1 classes) or cef (ArcSight CEF)
  --state DIR          agent state (agent id, signing key, output cursors);
                       default /var/lib/ktrail
  --spool DIR          the write-ahead spool; default STATE/spool
  --spool-max-bytes N  the spool's cap (default 1G); past it new events are
                       counted and reported in one events-lost event
  --spool-full POLICY  what a full spool does: drop-newest (the only policy)
  --tls-ca FILE        the CA of the collector's certificate (default
                       /etc/ktrail/tls/ca.crt)
  --tls-cert FILE      this agent's certificate, its CN naming this host
                       (default /etc/ktrail/tls/agent.crt)
  --tls-key FILE       its private key (default /etc/ktrail/tls/agent.key)
  --watch PATH         also capture reads under PATH; repeatable
  --exclude PATH       capture nothing under PATH; repeatable
  --watched-only       capture only under --watch paths
  --exclude-pid PID    never report this process; repeatable
  --disable KIND       do not capture KIND at all (decided in the kernel): exec,
                       fork, exit, file, cred or module; repeatable
  --no-audit           do not read the Linux audit stream (logins, accounts)
  --rules PATH         load rules: ktrail rules (*.yaml, *.yml) and audit rules in
                       auditctl syntax (*.rules, or any other file); a directory
                       loads both kinds it holds; repeatable. Audit rules are
                       removed again when ktraild stops. SIGHUP reloads them all.
  --no-default-rules   do not load the default rule set ()") + default_rules_dir() + R"()
  --audit-allow-lock   accept -e 2 in rules files (locks audit until reboot)
  --audit-allow-panic  accept -f 2 in rules files (kernel panic on audit failure)
  --ringbuf-size BYTES kernel ring buffer size, a power of two (default 16 MiB)
  --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics, e.g.
                       127.0.0.1:9464 (port 0: any free port, logged); default off
  --control PATH       the status socket `ktrail status` reads (root only);
                       default /run/ktrail/ktraild.sock
  --user NAME          run the outputs, forwarders and the metrics and status
                       servers as NAME (its uid, gid and groups); their files
                       (file: outputs, TLS keys) must be NAME's to use. Default:
                       root without capabilities. The package sets ktrail.
  --log-level LEVEL    trace, debug, info, warn, error (default info)
  --version, --help

Every flag but --config, --help and --version is also a config key:
  output: [stdout, "file:/var/log/ktrail/events.json"]
  watch: /srv/secrets
  no-audit: true
)";
    return text.c_str();
}

namespace {

using config::Kind;
using R = Result<void>;

Result<uint64_t> number(const std::string& v) {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || v.empty()) return fail(fmt::format("takes a number, not '{}'", v));
    return n;
}

bool is_true(const std::string& v) { return v == "true"; }

// A rules path must be there and, if a directory, readable: the error names
// the flag or the config line, not a loader later.
R add_rules(CommandLine& c, const std::string& v) {
    std::error_code ec;
    auto st = std::filesystem::status(v, ec);
    if (ec || !std::filesystem::exists(st))
        return fail(fmt::format("cannot read '{}' ({}): give an existing rules file or directory", v,
                                ec ? ec.message() : "no such file or directory"));
    if (std::filesystem::is_directory(st)) {
        std::filesystem::directory_iterator it(v, ec);
        if (ec) return fail(fmt::format("cannot read the directory '{}' ({}): make it readable by root", v, ec.message()));
    }
    add_rule_path(v, c.agent);
    return {};
}

// Name, kind, and what one value does. Keep in --help's order; a new flag
// added here is a config key too (tests/unit/config_test.cc checks both).
const std::vector<config::Flag<CommandLine>> kFlags = {
    {{"config", Kind::scalar, false}, [](CommandLine& c, const std::string& v) -> R {
         c.config = v;
         c.config_given = true;
         return {};
     }},
    {{"help", Kind::boolean, false}, [](CommandLine& c, const std::string& v) -> R { c.help = is_true(v); return {}; }},
    {{"version", Kind::boolean, false},
     [](CommandLine& c, const std::string& v) -> R { c.version = is_true(v); return {}; }},
    {{"output", Kind::list}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.outputs.push_back(v);
         return {};
     }},
    {{"format", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R {
         auto f = parse_format(v);
         if (!f) return fail(fmt::format("takes json, ocsf or cef, not '{}'", v));
         c.agent.format = *f;
         return {};
     }},
    {{"state", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.agent.state_dir = v; return {}; }},
    {{"spool", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.agent.spool_dir = v; return {}; }},
    {{"spool-max-bytes", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R {
         auto n = parse_size("", v);
         if (!n) return fail(fmt::format("takes a size like 512M or 2G, not '{}'", v));
         c.agent.spool_max_bytes = *n;
         return {};
     }},
    {{"spool-full", Kind::scalar}, [](CommandLine&, const std::string& v) -> R {
         if (v != "drop-newest") return fail(fmt::format("takes drop-newest, not '{}'", v));
         return {};
     }},
    {{"tls-ca", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.agent.tls.ca = v; return {}; }},
    {{"tls-cert", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.agent.tls.cert = v; return {}; }},
    {{"tls-key", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.agent.tls.key = v; return {}; }},
    {{"watch", Kind::list}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.bpf.watch.push_back(v);
         return {};
     }},
    {{"exclude", Kind::list}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.bpf.exclude.push_back(v);
         return {};
     }},
    {{"watched-only", Kind::boolean}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.bpf.watched_only = is_true(v);
         return {};
     }},
    {{"exclude-pid", Kind::list}, [](CommandLine& c, const std::string& v) -> R {
         auto n = number(v);
         if (!n) return std::unexpected(n.error());
         c.agent.bpf.exclude_pids.push_back(static_cast<pid_t>(*n));
         return {};
     }},
    {{"disable", Kind::list}, [](CommandLine& c, const std::string& v) -> R {
         if (std::find(std::begin(bpf::kKinds), std::end(bpf::kKinds), v) == std::end(bpf::kKinds))
             return fail(fmt::format("takes exec, fork, exit, file, cred or module, not '{}'", v));
         c.agent.bpf.disable.push_back(v);
         return {};
     }},
    {{"no-audit", Kind::boolean}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.audit = !is_true(v);
         return {};
     }},
    {{"rules", Kind::list}, add_rules},
    {{"no-default-rules", Kind::boolean}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.default_rules = !is_true(v);
         return {};
     }},
    {{"audit-allow-lock", Kind::boolean}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.audit_rule_options.allow_lock = is_true(v);
         return {};
     }},
    {{"audit-allow-panic", Kind::boolean}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.audit_rule_options.allow_panic = is_true(v);
         return {};
     }},
    {{"ringbuf-size", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R {
         auto n = number(v);
         if (!n) return std::unexpected(n.error());
         c.agent.bpf.ringbuf_bytes = *n;
         return {};
     }},
    {{"metrics", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.metrics = v;
         return {};
     }},
    {{"user", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.user = v;
         return {};
     }},
    {{"control", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R {
         c.agent.control = v;
         c.agent.control_given = true;
         return {};
     }},
    {{"log-level", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R {
         if (auto ok = config::check_log_level(v); !ok) return ok;
         c.log_level = v;
         return {};
     }},
};

}  // namespace

const std::vector<config::Flag<CommandLine>>& flags() { return kFlags; }

Result<config::Settings> parse_flags(int argc, char** argv) {
    return config::parse_args(config::specs(kFlags), argc, argv);
}

Result<CommandLine> load_options(const config::Settings& flags, const std::string& default_config) {
    CommandLine cl;
    config::Settings all;
    if (!flags.contains("help") && !flags.contains("version")) {
        auto path = flags.contains("config") ? flags.at("config").values.back() : default_config;
        auto dropins = (std::filesystem::path(path).parent_path() / "conf.d").string();
        auto files = config::read_config(config::specs(kFlags), path, flags.contains("config"), dropins);
        if (!files) return std::unexpected(files.error());
        all = std::move(*files);
    }
    config::overlay(all, flags);
    if (auto ok = config::apply(kFlags, all, cl); !ok) return std::unexpected(ok.error());
    cl.settings = std::move(all);
    return cl;
}

Result<CommandLine> parse_command_line(int argc, char** argv, const std::string& default_config) {
    auto f = parse_flags(argc, argv);
    if (!f) return std::unexpected(f.error());
    return load_options(*f, default_config);
}

}  // namespace ktrail
