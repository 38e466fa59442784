#include "control/prometheus.h"

#include <fmt/format.h>

#include <cmath>
#include <initializer_list>
#include <utility>

namespace ktrail::control {
namespace {

using Labels = std::initializer_list<std::pair<const char*, std::string_view>>;

class Exposition {
public:
    // A metric family; every sample after it until the next one belongs to it.
    void family(std::string_view name, const char* type, std::string_view help) {
        name_ = name;
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    template <typename T>
    void sample(T value, Labels labels = {}) {
        out_ += name_;
        if (labels.size()) {
            out_ += '{';
            bool first = true;
            for (const auto& [k, v] : labels) {
                fmt::format_to(std::back_inserter(out_), "{}{}=\"{}\"", first ? "" : ",", k, escape_label_value(v));
                first = false;
            }
            out_ += '}';
        }
        out_ += ' ';
        if constexpr (std::is_floating_point_v<T>) {
            out_ += std::isfinite(value) ? fmt::format("{}", value) : (std::isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf");
        } else {
            out_ += fmt::format("{}", value);
        }
        out_ += '\n';
    }
    // One family with a single unlabelled sample.
    template <typename T>
    void single(std::string_view name, const char* type, std::string_view help, T value) {
        family(name, type, help);
        sample(value);
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
    std::string name_;
};

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

void kernel(Exposition& x, const Snapshot& s) {
    struct Column {
        const char* name;
        const char* help;
        uint64_t KernelKind::*field;
    };
    static constexpr Column kColumns[] = {
        {"ktrail_kernel_produced_total", "Records the BPF programs wrote to the ring buffer, by kind.",
         &KernelKind::produced},
        {"ktrail_kernel_dropped_total", "Records the BPF programs lost because the ring buffer was full, by kind.",
         &KernelKind::dropped},
        {"ktrail_kernel_filtered_total",
         "Records stopped in the kernel by the path, pid, executable or uid filters, by kind.", &KernelKind::filtered},
    };
    for (const auto& c : kColumns) {
        x.family(c.name, "counter", c.help);
        for (size_t k = 1; k < s.kernel.size(); ++k) x.sample(s.kernel[k].*c.field, {{"kind", kKindNames[k]}});
    }
}

void pipeline(Exposition& x, const Snapshot& s) {
    x.single("ktrail_ringbuf_read_total", "counter", "Records the agent read from the ring buffer.", s.ringbuf_read);
    if (s.ringbuf_size) {
        x.single("ktrail_ringbuf_used_bytes", "gauge", "Bytes written to the ring buffer, not yet read (at the snapshot).",
                 s.ringbuf_used);
        x.single("ktrail_ringbuf_size_bytes", "gauge", "The ring buffer's size.", s.ringbuf_size);
    }
    x.single("ktrail_agent_filtered_total", "counter", "Records the agent's path filter rejected.", s.agent_filtered);
    x.single("ktrail_decode_errors_total", "counter", "Malformed ring buffer records, skipped.", s.decode_errors);
    x.single("ktrail_audit_events_total", "counter", "Events reassembled from the audit stream.", s.audit_events);
    x.single("ktrail_audit_malformed_total", "counter", "Audit records that could not be parsed.", s.audit_malformed);
    x.single("ktrail_audit_socket_overruns_total", "counter", "Times the audit netlink socket overflowed.",
             s.audit_overruns);
    if (s.audit_status) {
        x.single("ktrail_audit_kernel_lost_total", "counter", "The kernel's audit lost counter (audit status).",
                 s.audit_kernel_lost);
        x.single("ktrail_audit_backlog", "gauge", "Audit records waiting in the kernel (audit status).",
                 s.audit_backlog);
        x.single("ktrail_audit_backlog_limit", "gauge", "The kernel's audit backlog limit.", s.audit_backlog_limit);
    }
    x.single("ktrail_events_emitted_total", "counter", "Events written to the spool.", s.emitted);
    x.single("ktrail_events_rule_dropped_total", "counter", "Events the ktrail rules dropped in the agent.",
             s.rule_dropped);
    x.family("ktrail_events_lost_total", "counter", "Events lost, by stage, as reported in events-lost events.");
    for (size_t i = 0; i < kLostStages.size(); ++i) x.sample(s.lost[i], {{"stage", kLostStages[i]}});
}

void rules(Exposition& x, const Snapshot& s) {
    x.family("ktrail_rules_loaded", "gauge", "Rules loaded, by kind (ktrail rules, kernel audit rules).");
    x.sample(s.ktrail_rules, {{"kind", "ktrail"}});
    x.sample(s.audit_rules, {{"kind", "audit"}});
    x.single("ktrail_rule_reloads_total", "counter", "Rule reloads that took effect.", s.reloads);
    x.single("ktrail_rule_reload_failures_total", "counter", "Rule reloads refused (the old rules kept running).",
             s.reload_failures);
    struct Column {
        const char* name;
        const char* help;
        uint64_t RuleSnapshot::*field;
    };
    static constexpr Column kColumns[] = {
        {"ktrail_rule_evaluated_total", "Events a rule's condition was evaluated on (since the last reload).",
         &RuleSnapshot::evaluated},
        {"ktrail_rule_matched_total", "Events a rule matched (since the last reload).", &RuleSnapshot::matched},
        {"ktrail_rule_dropped_total", "Events a drop rule dropped (since the last reload).", &RuleSnapshot::dropped},
        {"ktrail_rule_alerts_total", "Alerts a rule raised (since the last reload).", &RuleSnapshot::alerts},
    };
    for (const auto& c : kColumns) {
        x.family(c.name, "counter", c.help);
        for (const auto& r : s.rules) x.sample(r.*c.field, {{"rule", r.id}});
    }
}

void outputs(Exposition& x, const Snapshot& s) {
    x.single("ktrail_spool_bytes", "gauge", "Bytes in the spool (on disk and buffered).", s.spool_bytes);
    x.single("ktrail_spool_max_bytes", "gauge", "The spool's cap (--spool-max-bytes).", s.spool_max_bytes);
    x.single("ktrail_spool_last_sequence", "gauge", "The newest event sequence in the spool.", s.spool_last_sequence);
    x.single("ktrail_spool_durable_sequence", "gauge", "The newest event sequence synced to disk.",
             s.spool_durable_sequence);
    auto each = [&](const char* name, const char* type, const char* help, auto value) {
        x.family(name, type, help);
        for (const auto& o : s.outputs) x.sample(value(o), {{"output", o.name}});
    };
    each("ktrail_output_acked_sequence", "gauge", "The last sequence the output confirmed.",
         [](const OutputSnapshot& o) { return o.acked; });
    each("ktrail_output_backlog_events", "gauge", "Durable events the output has not confirmed yet.",
         [](const OutputSnapshot& o) { return o.backlog_events; });
    each("ktrail_output_oldest_unacked_age_seconds", "gauge",
         "How long the oldest event the output has not confirmed has waited (0: none).",
         [](const OutputSnapshot& o) { return o.oldest_unacked_age_s; });
    each("ktrail_output_delivered_events_total", "counter", "Events delivered (a re-delivery counts again).",
         [](const OutputSnapshot& o) { return o.events; });
    each("ktrail_output_batches_total", "counter", "Batches delivered.", [](const OutputSnapshot& o) { return o.batches; });
    each("ktrail_output_retries_total", "counter", "Failed deliveries, retried.",
         [](const OutputSnapshot& o) { return o.retries; });
    each("ktrail_output_duplicates_total", "counter", "Events the receiver already had (after a retry).",
         [](const OutputSnapshot& o) { return o.duplicates; });
    each("ktrail_output_last_delivery_time_seconds", "gauge",
         "Unix time of the last successful delivery (0: none since start).",
         [](const OutputSnapshot& o) { return seconds(o.last_delivery_ns); });
    each("ktrail_output_up", "gauge", "1 while the output delivers, 0 while it retries after a failure.",
         [](const OutputSnapshot& o) { return o.retrying ? 0 : 1; });
}

}  // namespace

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string render_prometheus(const Snapshot& s) {
    Exposition x;
    x.family("ktrail_build_info", "gauge", "The running ktraild's version.");
    x.sample(1, {{"version", s.version}});
    x.single("ktrail_start_time_seconds", "gauge", "Unix time the agent started.", seconds(s.start_ns));
    x.single("ktrail_uptime_seconds", "gauge", "Seconds since the agent started.", seconds(s.taken_ns - s.start_ns));
    x.single("ktrail_resident_memory_bytes", "gauge", "Resident set size of ktraild.", s.rss_bytes);
    x.family("ktrail_processes", "gauge", "Entries in the process table, by state.");
    x.sample(s.processes_live, {{"state", "live"}});
    x.sample(s.processes_exited, {{"state", "exited"}});
    x.single("ktrail_bpf_programs_attached", "gauge", "BPF programs attached.", s.programs.size());
    kernel(x, s);
    pipeline(x, s);
    rules(x, s);
    outputs(x, s);
    return x.take();
}

}  // namespace ktrail::control
