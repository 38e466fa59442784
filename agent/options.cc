#include "options.h"

#include "util/parse_size.h"

#include <fmt/format.h>

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

  --output SPEC        where events go; repeatable, each with its own cursor in
                       the spool (delivered at least once):
                         stdout (default)
                         file:PATH[?max-size=100M&keep=5&fsync=batch|none]
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
  --log-level LEVEL    trace, debug, info, warn, error (default info)
  --version, --help
)";
    return text.c_str();
}

Result<CommandLine> parse_command_line(int argc, char** argv) {
    CommandLine cl;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::string value;
        // Both "--flag value" and "--flag=value".
        auto take = [&](std::string_view name) -> Result<std::string> {
            if (arg.size() > name.size() && arg.substr(0, name.size()) == name && arg[name.size()] == '=')
                return std::string(arg.substr(name.size() + 1));
            if (i + 1 >= argc) return fail(fmt::format("{} needs a value; see --help", name));
            return std::string(argv[++i]);
        };
        auto is = [&](std::string_view name) {
            return arg == name || (arg.starts_with(name) && arg.size() > name.size() && arg[name.size()] == '=');
        };
        auto number = [&](std::string_view name, const std::string& v) -> Result<uint64_t> {
            uint64_t n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc() || p != v.data() + v.size())
                return fail(fmt::format("{} takes a number, not '{}'", name, v));
            return n;
        };
#define KT_TAKE(name)                                  \
    auto v_ = take(name);                              \
    if (!v_) return std::unexpected(v_.error());       \
    value = *v_
        if (arg == "--help" || arg == "-h") {
            cl.help = true;
        } else if (arg == "--version") {
            cl.version = true;
        } else if (arg == "--no-audit") {
            cl.agent.audit = false;
        } else if (arg == "--audit-allow-lock") {
            cl.agent.audit_rule_options.allow_lock = true;
        } else if (arg == "--audit-allow-panic") {
            cl.agent.audit_rule_options.allow_panic = true;
        } else if (arg == "--no-default-rules") {
            cl.agent.default_rules = false;
        } else if (is("--rules")) {
            KT_TAKE("--rules");
            add_rule_path(value, cl.agent);
        } else if (arg == "--watched-only") {
            cl.agent.bpf.watched_only = true;
        } else if (is("--output")) {
            KT_TAKE("--output");
            cl.agent.outputs.push_back(value);
        } else if (is("--format")) {
            KT_TAKE("--format");
            auto f = parse_format(value);
            if (!f) return std::unexpected(f.error());
            cl.agent.format = *f;
        } else if (is("--spool-max-bytes")) {
            KT_TAKE("--spool-max-bytes");
            auto n = parse_size("--spool-max-bytes", value);
            if (!n) return std::unexpected(n.error());
            cl.agent.spool_max_bytes = *n;
        } else if (is("--spool-full")) {
            KT_TAKE("--spool-full");
            if (value != "drop-newest")
                return fail(fmt::format("--spool-full takes drop-newest, not '{}'", value));
        } else if (is("--spool")) {
            KT_TAKE("--spool");
            cl.agent.spool_dir = value;
        } else if (is("--tls-ca")) {
            KT_TAKE("--tls-ca");
            cl.agent.tls.ca = value;
        } else if (is("--tls-cert")) {
            KT_TAKE("--tls-cert");
            cl.agent.tls.cert = value;
        } else if (is("--tls-key")) {
            KT_TAKE("--tls-key");
            cl.agent.tls.key = value;
        } else if (is("--state")) {
            KT_TAKE("--state");
            cl.agent.state_dir = value;
        } else if (is("--watch")) {
            KT_TAKE("--watch");
            cl.agent.bpf.watch.push_back(value);
        } else if (is("--disable")) {
            KT_TAKE("--disable");
            if (std::find(std::begin(bpf::kKinds), std::end(bpf::kKinds), value) == std::end(bpf::kKinds))
                return fail(fmt::format("--disable takes exec, fork, exit, file, cred or module, not '{}'", value));
            cl.agent.bpf.disable.push_back(value);
        } else if (is("--exclude-pid")) {
            KT_TAKE("--exclude-pid");
            auto n = number("--exclude-pid", value);
            if (!n) return std::unexpected(n.error());
            cl.agent.bpf.exclude_pids.push_back(static_cast<pid_t>(*n));
        } else if (is("--exclude")) {
            KT_TAKE("--exclude");
            cl.agent.bpf.exclude.push_back(value);
        } else if (is("--ringbuf-size")) {
            KT_TAKE("--ringbuf-size");
            auto n = number("--ringbuf-size", value);
            if (!n) return std::unexpected(n.error());
            cl.agent.bpf.ringbuf_bytes = *n;
        } else if (is("--log-level")) {
            KT_TAKE("--log-level");
            cl.log_level = value;
        } else {
            return fail(fmt::format("unknown option '{}'; see --help", arg));
        }
#undef KT_TAKE
    }
    return cl;
}

}  // namespace ktrail
