#include "status.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "control/snapshot.h"
#include "control/status_socket.h"

namespace ktrail::cli {
namespace {

using nlohmann::json;

const char* kUsage =
    "usage: ktrail status [--socket PATH] [--json]\n"
    "\n"
    "  the running ktraild's state: audit mode, BPF programs, rules, events per second,\n"
    "  losses, the spool's backlog and every output's delivery; read from its control\n"
    "  socket (default /run/ktrail/ktraild.sock, ktraild --control PATH; root only).\n"
    "  --json prints the status document itself. Exit status 3: ktraild is not running.\n";

std::string bytes(uint64_t n) {
    if (n < 1024) return fmt::format("{} B", n);
    const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    int u = -1;
    while (v >= 1024 && u < 3) v /= 1024, ++u;
    return fmt::format("{:.1f} {}", v, units[u]);
}

std::string duration(double s) {
    auto n = static_cast<int64_t>(s);
    if (n < 60) return fmt::format("{} s", n);
    if (n < 3600) return fmt::format("{} min {} s", n / 60, n % 60);
    if (n < 86400) return fmt::format("{} h {} min", n / 3600, n % 3600 / 60);
    return fmt::format("{} d {} h", n / 86400, n % 86400 / 3600);
}

std::string ago(int64_t then_ns, int64_t now_ns) {
    if (then_ns <= 0) return "none since start";
    return duration(static_cast<double>(std::max<int64_t>(now_ns - then_ns, 0)) / 1e9) + " ago";
}

// Names and messages from the agent on one terminal line: control bytes escaped.
std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else out += static_cast<char>(c);
    }
    return out;
}

uint64_t u64(const json& j, const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<uint64_t>() : 0; }

std::string programs_line(const json& programs) {
    std::string names;
    for (const auto& p : programs) {
        std::string name = p.get<std::string>();
        if (names.size() + name.size() > 70) {
            names += ", ...";
            break;
        }
        names += (names.empty() ? "" : ", ") + name;
    }
    return programs.empty() ? "none attached" : fmt::format("{} attached ({})", programs.size(), names);
}

std::string audit_line(const json& a) {
    std::string mode = a.value("mode", "off");
    std::string line = mode == "daemon"      ? "ktraild is the audit daemon"
                       : mode == "multicast" ? "reading the multicast group (another audit daemon runs)"
                                             : "off";
    if (a.contains("backlog"))
        line += fmt::format("; kernel lost {}, backlog {}/{}", u64(a, "kernel_lost"), u64(a, "backlog"),
                            u64(a, "backlog_limit"));
    return line;
}

std::string losses_line(const json& doc) {
    uint64_t total = u64(doc, "lost_total");
    if (total == 0) return "none since start";
    std::string parts;
    for (const char* stage : control::kLostStages)  // the pipeline's order
        if (uint64_t n = u64(doc["lost"], stage)) parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", stage, n);
    return fmt::format("{} since start ({})", total, parts);
}

}  // namespace

std::string render_status(const json& doc, int64_t now_ns) {
    std::string out;
    auto line = [&](const char* label, const std::string& text) { out += fmt::format("{:<10} {}\n", label, text); };
    double up = static_cast<double>(doc.value("time_ns", int64_t{0}) - doc.value("start_ns", int64_t{0})) / 1e9;
    out += fmt::format("ktraild {} on {} (agent {}), pid {}, up {}\n", doc.value("version", "?"),
                       doc.value("hostname", "?"), doc.value("agent_id", "?"), doc.value("pid", 0), duration(up));
    line("audit:", audit_line(doc["audit"]));
    line("programs:", programs_line(doc["programs"]));
    const json& r = doc["rules"];
    line("rules:", fmt::format("{} ktrail rules from {} files, {} audit rules", u64(r, "ktrail"),
                               u64(r, "ktrail_files"), u64(r, "audit")));
    const json& e = doc["events"];
    line("events:", fmt::format("{:.1f}/s over the last 10 s; {} spooled, {} dropped by rules since start",
                                e.value("per_second", 0.0), u64(e, "emitted"), u64(e, "rule_dropped")));
    line("losses:", losses_line(doc));
    const json& s = doc["spool"];
    line("spool:", fmt::format("{} of {}, last sequence {}", bytes(u64(s, "bytes")), bytes(u64(s, "max_bytes")),
                               u64(s, "last_sequence")));
    for (const auto& o : doc["outputs"]) {
        out += fmt::format("output     {}\n", printable(o.value("name", "?")));
        std::string state = o.value("state", "?");
        if (state == "retrying") state += ": " + printable(o.value("last_error", ""));
        out += fmt::format("           {}\n", state);
        uint64_t waiting = u64(o, "backlog_events");
        std::string backlog = waiting == 0 ? "all delivered"
                                           : fmt::format("{} events waiting (oldest {})", waiting,
                                                         duration(o.value("oldest_unacked_age_seconds", 0.0)));
        out += fmt::format("           {} through sequence {}; last delivery {}\n", backlog, u64(o, "acked_sequence"),
                           ago(o.value("last_delivery_ns", int64_t{0}), now_ns));
    }
    return out;
}

int status_main(const std::vector<std::string>& args) {
    std::string path = control::kDefaultControlSocket;
    bool as_json = false;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--json") {
            as_json = true;
        } else if (args[i] == "--socket" && i + 1 < args.size()) {
            path = args[++i];
        } else if (args[i].starts_with("--socket=")) {
            path = args[i].substr(9);
        } else if (args[i] == "--help" || args[i] == "-h") {
            fputs(kUsage, stdout);
            return 0;
        } else {
            fprintf(stderr, "ktrail status: unknown argument '%s'\n%s", args[i].c_str(), kUsage);
            return 2;
        }
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
        fprintf(stderr, "ktrail status: --socket %s: a socket path must be 1 to %zu bytes long\n", path.c_str(),
                sizeof(addr.sun_path) - 1);
        return 1;
    }
    memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "ktrail status: socket: %s\n", strerror(errno));
        return 1;
    }
    timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT) {
            fprintf(stderr, "ktraild is not running (no socket at %s)\n", path.c_str());
            return 3;
        }
        if (e == ECONNREFUSED) {
            fprintf(stderr, "ktraild is not running (nothing answers at %s)\n", path.c_str());
            return 3;
        }
        fprintf(stderr, "ktrail status: cannot connect to %s: %s%s\n", path.c_str(), strerror(e),
                e == EACCES ? " (the socket is root's: run as root)" : "");
        return 1;
    }
    std::string text;
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
    int e = errno;
    close(fd);
    if (n < 0) {
        fprintf(stderr, "ktrail status: reading %s: %s\n", path.c_str(), strerror(e));
        return 1;
    }
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        fprintf(stderr, "ktrail status: %s did not answer with a status document\n", path.c_str());
        return 1;
    }
    if (as_json) {
        printf("%s\n", doc.dump(2).c_str());
        return 0;
    }
    int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
    fputs(render_status(doc, now).c_str(), stdout);
    return 0;
}

}  // namespace ktrail::cli
