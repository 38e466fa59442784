#include "verify_cmd.h"

#include <fmt/format.h>

#include <cstdio>

#include "format/json_writer.h"
#include "query.h"
#include "store/store.h"

namespace ktrail::cli {

const char* const kVerifyUsage =
    "usage: ktrail verify [--store URL] [--host H] [--json]\n"
    "\n"
    "  checks every stored event against its agent's hash chain and signed checkpoints;\n"
    "  per host: ok, gaps (missing sequence numbers, each saying whether an events-lost\n"
    "  event explains it) or tampered (which events); exit status 0 when every host is ok,\n"
    "  1 when any gap is unexplained or anything was tampered with\n"
    "  --store URL   sqlite:PATH or postgresql://USER@HOST[:PORT]/DB\n"
    "                (default sqlite:/var/lib/ktrail/collector/events.db)\n"
    "  --host H      only this host (host.name, host.id or agent id)\n"
    "  --json        one JSON object per host and line\n";

namespace {

std::string range(uint64_t first, uint64_t last) {
    return first == last ? fmt::format("seq {}", first) : fmt::format("seq {}..{}", first, last);
}

std::string printable(std::string_view s) {
    std::string out;
    for (char c : s) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
    return out;
}

}  // namespace

std::string format_verify_text(const verify::Report& report) {
    std::string out;
    size_t counts[3] = {0, 0, 0};
    for (const auto& a : report.agents) {
        auto status = a.status();
        ++counts[static_cast<int>(status)];
        std::string host = a.host_name.empty() ? "(unknown host)" : printable(a.host_name);
        out += fmt::format("{} (agent {}): {}: {} event{}", host, printable(a.agent_id), verify::to_string(status),
                           a.events, a.events == 1 ? "" : "s");
        if (a.events) out += fmt::format(", {}", range(a.first_sequence, a.last_sequence));
        out += fmt::format(", {} signed checkpoint{}", a.checkpoints_valid, a.checkpoints_valid == 1 ? "" : "s");
        if (a.purged_through) out += fmt::format(", seq 1..{} removed by retention", a.purged_through);
        out += '\n';
        for (const auto& g : a.gaps) {
            uint64_t n = g.last - g.first + 1;
            if (g.tail)
                out += fmt::format("  gap: tail missing: {} ({} event{}), signed checkpoint at {}",
                                   range(g.first, g.last), n, n == 1 ? "" : "s", g.checkpoint_sequence);
            else
                out += fmt::format("  gap: {} ({} event{} missing)", range(g.first, g.last), n, n == 1 ? "" : "s");
            if (g.explained)
                out += fmt::format(": explained by events-lost {}", fmt::join(g.explained_by, ", "));
            else if (!g.explained_by.empty())
                out += fmt::format(": not explained (events-lost {} covers only part of it)",
                                   fmt::join(g.explained_by, ", "));
            else
                out += ": not explained by any events-lost event";
            out += '\n';
        }
        for (const auto& t : a.tampered) {
            if (!t.event_id.empty())
                out += fmt::format("  tampered: {} (seq {}): {}\n", printable(t.event_id), t.sequence, t.reason);
            else
                out += fmt::format("  tampered: {}\n", t.reason);
        }
        if (a.tampered_total > a.tampered.size())
            out += fmt::format("  tampered: ... and {} more\n", a.tampered_total - a.tampered.size());
    }
    if (report.agents.empty())
        out += "no agents in this store\n";
    else
        out += fmt::format("{} host{}: {} ok, {} with unexplained gaps, {} tampered\n", report.agents.size(),
                           report.agents.size() == 1 ? "" : "s", counts[0], counts[1], counts[2]);
    return out;
}

std::string format_verify_json(const verify::Report& report) {
    std::string out;
    for (const auto& a : report.agents) {
        JsonWriter w(out);
        w.begin_object();
        w.key("agent_id");
        w.value(a.agent_id);
        w.key("host_name");
        w.value(a.host_name);
        w.key("host_id");
        w.value(a.host_id);
        w.key("status");
        w.value(verify::to_string(a.status()));
        w.key("registered");
        w.value(a.registered);
        w.key("events");
        w.value(a.events);
        w.key("first_sequence");
        w.value(a.first_sequence);
        w.key("last_sequence");
        w.value(a.last_sequence);
        w.key("purged_through");
        w.value(a.purged_through);
        w.key("checkpoints");
        w.value(a.checkpoints);
        w.key("checkpoints_valid");
        w.value(a.checkpoints_valid);
        w.key("gaps");
        w.begin_array();
        for (const auto& g : a.gaps) {
            w.begin_object();
            w.key("first");
            w.value(g.first);
            w.key("last");
            w.value(g.last);
            w.key("explained");
            w.value(g.explained);
            w.key("explained_by");
            w.begin_array();
            for (const auto& id : g.explained_by) w.value(id);
            w.end_array();
            w.key("tail");
            w.value(g.tail);
            if (g.tail) {
                w.key("checkpoint_sequence");
                w.value(g.checkpoint_sequence);
            }
            w.end_object();
        }
        w.end_array();
        w.key("tampered");
        w.begin_array();
        for (const auto& t : a.tampered) {
            w.begin_object();
            w.key("sequence");
            w.value(t.sequence);
            w.key("event_id");
            w.value(t.event_id);
            w.key("reason");
            w.value(t.reason);
            w.end_object();
        }
        w.end_array();
        w.key("tampered_total");
        w.value(a.tampered_total);
        w.end_object();
        out += '\n';
    }
    return out;
}

int verify_main(const std::vector<std::string>& args) {
    std::string url = kDefaultStore;
    verify::Options options;
    bool json = false;
    auto usage_error = [](const std::string& msg) {
        fprintf(stderr, "ktrail verify: %s\n%s", msg.c_str(), kVerifyUsage);
        return 2;
    };
    for (size_t i = 0; i < args.size(); ++i) {
        std::string flag = args[i];
        std::optional<std::string> value;
        if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
        }
        if (flag == "--help" || flag == "-h") {
            fputs(kVerifyUsage, stdout);
            return 0;
        }
        if (flag == "--json") {
            if (value) return usage_error("--json takes no value");
            json = true;
            continue;
        }
        if (flag != "--store" && flag != "--host") return usage_error(fmt::format("unknown flag '{}'", flag));
        if (!value) {
            if (i + 1 >= args.size()) return usage_error(fmt::format("{} needs a value", flag));
            value = args[++i];
        }
        if (value->empty()) return usage_error(fmt::format("{} needs a value", flag));
        (flag == "--store" ? url : options.host) = *value;
    }
    auto store = store::open_store(url, store::OpenOptions{.create = false});
    if (!store) {
        fprintf(stderr, "ktrail verify: %s\n", store.error().message.c_str());
        return 1;
    }
    auto report = verify::verify_store(**store, options);
    if (!report) {
        fprintf(stderr, "ktrail verify: %s\n", report.error().message.c_str());
        return 1;
    }
    if (!options.host.empty() && report->agents.empty()) {
        fprintf(stderr, "ktrail verify: no agent with host name, host id or agent id '%s' in this store\n",
                options.host.c_str());
        return 1;
    }
    std::string out = json ? format_verify_json(*report) : format_verify_text(*report);
    fwrite(out.data(), 1, out.size(), stdout);
    fflush(stdout);
    return report->status() == verify::Status::ok ? 0 : 1;
}

}  // namespace ktrail::cli
