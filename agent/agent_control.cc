// The agent's side of metrics and status: the servers' lifetime and the
// snapshot the loop publishes for them.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent.h"
#include "control/metrics_server.h"
#include "control/status_socket.h"

namespace ktrail {

static_assert(KT_KIND__MAX == control::kKindNames.size(), "a label for every kt_kind");

Result<void> Agent::open_control(const AgentOptions& options) {
    snapshots_ = std::make_unique<control::SnapshotBox>();
    start_ns_ = BootClock::now_unix_ns();
    // What the spool held at start is at least as old as the start.
    ack_ages_.note(spool_->last_sequence(), start_ns_);
    if (!options.metrics.empty()) {
        auto m = control::MetricsServer::listen(options.metrics, *snapshots_);
        if (!m) return std::unexpected(m.error());
        metrics_ = std::move(*m);
    }
    if (!options.control.empty()) {
        auto s = control::StatusSocket::listen(options.control, *snapshots_);
        if (s) {
            status_ = std::move(*s);
        } else if (options.control_given) {
            return std::unexpected(s.error());
        } else {
            spdlog::warn("no status socket, `ktrail status` will not reach this agent: {}", s.error().message);
        }
    }
    return {};
}

void Agent::start_control() {
    publish_snapshot();
    if (metrics_) {
        metrics_->start(thread_privileges_);
        spdlog::info("metrics on {}", metrics_->address());
    }
    if (status_) {
        status_->start(thread_privileges_);
        spdlog::info("status on {}", status_->path());
    }
}

void Agent::stop_control() {
    if (metrics_) metrics_->stop();
    status_.reset();  // removes the socket
}

void Agent::publish_snapshot() {
    control::Snapshot s;
    s.taken_ns = BootClock::now_unix_ns();
    s.start_ns = start_ns_;
    s.pid = static_cast<int>(self_pid_);
    s.version = kVersion;
    s.agent_id = host_.agent_id;
    s.hostname = host_.hostname;
    s.audit_mode = !audit_ ? "off" : audit_->mode() == audit::AuditMode::kDaemon ? "daemon" : "multicast";
    s.programs = source_->attached();
    if (rules_) {
        const auto& set = rules_->rules();
        s.ktrail_rules = set.rules.size();
        s.ktrail_rule_files = set.files.size();
        const auto& counts = rules_->rule_counts();
        for (size_t i = 0; i < set.rules.size() && i < counts.size(); ++i)
            s.rules.push_back({set.rules[i].id, counts[i].evaluated, counts[i].matched, counts[i].dropped,
                               counts[i].alerts});
    }
    s.audit_rules = audit_rules_.size();

    auto k = source_->counters();
    for (size_t kind = 0; kind < s.kernel.size(); ++kind)
        s.kernel[kind] = {k.by_kind[kind][KT_CNT_PRODUCED], k.by_kind[kind][KT_CNT_DROPPED],
                          k.by_kind[kind][KT_CNT_FILTERED]};
    s.ringbuf_read = stats_.delivered;
    auto fill = source_->ring_fill();
    s.ringbuf_used = fill.used;
    s.ringbuf_size = fill.size;
    s.agent_filtered = stats_.filtered;
    s.decode_errors = stats_.decode_errors;
    s.audit_events = stats_.audit_events - stats_.audit_own;
    if (audit_) {
        s.audit_malformed = audit_->malformed();
        s.audit_overruns = audit_->overruns();
    }
    if (audit_status_) {
        s.audit_status = true;
        s.audit_kernel_lost = audit_status_->lost;
        s.audit_backlog = audit_status_->backlog;
        s.audit_backlog_limit = audit_status_->backlog_limit;
    }
    s.emitted = stats_.emitted;
    s.rule_dropped = stats_.rule_dropped;
    s.reloads = stats_.reloads;
    s.reload_failures = stats_.reload_failures;
    s.lost = stats_.lost;

    s.spool_bytes = spool_->bytes();
    s.spool_max_bytes = spool_max_bytes_;
    s.spool_last_sequence = spool_->last_sequence();
    s.spool_durable_sequence = spool_->durable_sequence();
    ack_ages_.note(s.spool_last_sequence, s.taken_ns);
    uint64_t min_acked = s.spool_last_sequence;
    for (const auto& f : forwarders_) {
        control::OutputSnapshot o;
        o.name = f->name();
        o.acked = spool_->acked(f->consumer());
        min_acked = std::min(min_acked, o.acked);
        o.backlog_events = s.spool_durable_sequence > o.acked ? s.spool_durable_sequence - o.acked : 0;
        o.oldest_unacked_age_s = ack_ages_.age_s(o.acked, s.spool_durable_sequence, s.taken_ns);
        const auto& st = f->stats();
        o.events = st.events.load(std::memory_order_relaxed);
        o.batches = st.batches.load(std::memory_order_relaxed);
        o.retries = st.retries.load(std::memory_order_relaxed);
        o.duplicates = st.duplicates.load(std::memory_order_relaxed);
        o.last_delivery_ns = st.last_delivery_ns.load(std::memory_order_relaxed);
        o.retrying = f->retrying();
        o.last_error = f->last_error();
        s.outputs.push_back(std::move(o));
    }
    ack_ages_.forget_through(min_acked);
    auto e = enricher_->stats();
    s.processes_live = e.processes.live;
    s.processes_exited = e.processes.exited;
    s.rss_bytes = control::resident_bytes();
    snapshots_->publish(std::move(s));
}

}  // namespace ktrail
