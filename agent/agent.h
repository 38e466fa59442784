// The agent's pipeline: BPF and audit sources -> decode/map -> enrich
// (process, users, session, container) -> rules -> stamp (host, agent,
// sequence) -> spool (durable, hash-chained, signed checkpoints) -> one
// forwarder thread per output (collector, stdout, file, syslog, Kafka), each
// with its own spool cursor. Losses anywhere become `events-lost` events with
// the exact count.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <deque>
#include <functional>

#include <unistd.h>

#include "control/ack_ages.h"
#include "control/metrics_server.h"
#include "control/snapshot.h"
#include "control/status_socket.h"
#include "enrich/enricher.h"
#include "enrich/host.h"

#include "ktrail/v1/event.pb.h"
#include "forward/collector_client.h"
#include "forward/forwarder.h"
#include "format/event_format.h"
#include "output/output_spec.h"
#include "spool/chain.h"
#include "spool/spool.h"
#include "rules/engine.h"
#include "source/audit/audit_rules.h"
#include "source/audit/audit_source.h"
#include "source/bpf/bpf_source.h"
#include "source/bpf/decoder.h"
#include "source/bpf/path_filter.h"
#include "util/boot_clock.h"
#include "util/capabilities.h"
#include "util/error.h"
#include "util/host_root.h"
#include "version.h"

namespace ktrail {


struct AgentOptions {
    std::vector<std::string> outputs;  // --output SPECs; empty: stdout
    Format format = Format::json;      // --format: what SIEM outputs get (a spec's ?format= wins)
    std::string state_dir = "/var/lib/ktrail";
    bpf::BpfOptions bpf;
    bool audit = true;  // read the Linux audit stream (logins, accounts, rule hits)
    std::vector<std::string> audit_rules;  // auditctl-syntax files or directories to load
    std::vector<std::string> ktrail_rules; // ktrail rule files (*.yaml) or directories
    bool default_rules = true;             // load default_rules_dir() first
    audit::ParseOptions audit_rule_options;
    // Every output reads from the spool.
    std::string spool_dir;                 // empty: STATE/spool
    uint64_t spool_max_bytes = 1ull << 30;
    forward::TlsFiles tls{"/etc/ktrail/tls/ca.crt", "/etc/ktrail/tls/agent.crt", "/etc/ktrail/tls/agent.key"};
    std::string metrics;                           // --metrics ADDR:PORT; empty: no metrics server
    std::string control = "/run/ktrail/ktraild.sock";  // --control: the status socket; empty: none
    bool control_given = false;  // a --control that cannot be made stops the start; the default only warns
    // Least privilege (ktraild sets it; tests that host an Agent in their own
    // process do not): once the programs are attached, audit is set up and
    // the rules are loaded, keep only the capabilities the running agent
    // uses; outputs and forwarders run with none.
    bool drop_capabilities = false;
    // --user: outputs, forwarders and the metrics/status servers run as this
    // user (empty: as root, without capabilities).
    std::string user;
};

// What the agent tells its service manager (ktraild: sd_notify), from run().
struct ServiceHooks {
    std::function<void()> ready;      // capturing: the loop is about to start
    std::function<void()> stopping;   // the stop flag was seen
    std::function<void()> reloading;  // SIGHUP: reading the rules again
    std::function<void()> reloaded;   // done (applied or refused)
};

struct AgentStats {
    uint64_t delivered = 0;       // records read from the ring buffer
    uint64_t decode_errors = 0;   // malformed records, counted and skipped
    uint64_t filtered = 0;        // named paths the path filter rejected in the agent
    uint64_t emitted = 0;         // events written to the spool
    uint64_t kernel_dropped = 0;  // reported as events-lost so far
    uint64_t audit_events = 0;    // events from the audit stream
    uint64_t audit_own = 0;       // of them, the agent's own (not reported)
    uint64_t rule_dropped = 0;    // events the rules dropped in userspace
    uint64_t reloads = 0;         // rule reloads that took effect
    uint64_t reload_failures = 0; // rule reloads refused (the old rules kept running)
    uint64_t spool_full_lost = 0; // events a full spool could not take (reported as events-lost)
    uint64_t spool_damaged = 0;   // sequence numbers lost to damaged spool records
    control::LostCounts lost{};   // reported in events-lost events, by stage (control::kLostStages)
};

class Agent {
public:
    static Result<std::unique_ptr<Agent>> create(const AgentOptions& options);
    // Runs until `stop` becomes true; then detaches and drains. Whenever
    // `reload` is set (SIGHUP; it is reset), `on_reload` runs, or without
    // one the rule files are read again.
    Result<void> run(const std::atomic<bool>& stop, std::atomic<bool>* reload = nullptr,
                     const std::function<void()>& on_reload = {});
    // Reads the rule files again; on any error the running rules stay.
    Result<void> reload_rules();
    // The same from the ktrail rule paths `options` name (a changed config):
    // if they load, they become the running paths.
    Result<void> reload_rules(const AgentOptions& options);
    void set_service_hooks(ServiceHooks hooks) { hooks_ = std::move(hooks); }
    const AgentStats& stats() const { return stats_; }
    EnricherStats enrich_stats() const { return enricher_->stats(); }

    ~Agent();

private:
    Agent() = default;
    void on_record(std::span<const uint8_t> rec);
    void on_audit_event(audit::AuditEvent&& e);
    // Audit events wait here until the BPF records older than them are
    // handled, so both sources reach the enricher in time order: a login is
    // known before the file events of its session, a fork before the audit
    // records of the child.
    void handle_audit_until(int64_t unix_ns);
    void handle_audit(audit::AuditEvent& e);
    Result<void> wait_and_read(int timeout_ms);
    // Rules, then out: a dropped event takes no sequence number.
    void process(v1::Event& ev);
    Result<void> apply_rules(std::shared_ptr<const rules::RuleSet> set);
    // Stamps the sequence and identity and spools it.
    // `from_reserve`: may use the spool's room kept for loss reports.
    void emit(v1::Event& ev, bool from_reserve = false);
    void emit_agent_event(const char* action, const char* type);
    void emit_lost(const char* stage, uint64_t count, uint64_t first_sequence = 0, uint64_t last_sequence = 0);
    // Checks every --output; build_outputs() makes their destinations (with
    // threads of their own: after the capability drop, in a thread without
    // any); open_spool() then opens the spool with one cursor per output and
    // makes the forwarders.
    Result<void> open_outputs(const AgentOptions& options);
    Result<void> build_outputs(const AgentOptions& options);
    Result<void> open_spool();
    // Least privilege (privileges.cc): keeps what the running agent still
    // uses and logs it; build_outputs() then runs in a thread without any.
    // Least privilege (privileges.cc): keep_only() the running agent's
    // capabilities, decide how unprivileged threads run; give up what was
    // held for them once they started.
    Result<void> settle_thread_privileges(const AgentOptions& options);
    Result<void> finish_dropping_privileges();
    Result<void> build_outputs_unprivileged(const AgentOptions& options);
    // Group commit every kCommitInterval, a signed checkpoint every second.
    void spool_tick(bool checkpoint);
    void note_spool_write(const Result<void>& written);
    void check_losses();
    // Waits up to `limit` for every output to confirm what is durable.
    void flush_outputs(std::chrono::milliseconds limit);
    // Metrics and status (agent_control.cc): the servers are made in
    // create(), run on their own threads from run(), and read the snapshot
    // the loop publishes once a second.
    Result<void> open_control(const AgentOptions& options);
    void start_control();
    void stop_control();
    void publish_snapshot();

    HostIdentity host_;
    BootClock clock_;
    // The host's root, under which the decoder resolves names (before it: it
    // outlives the decoder).
    std::unique_ptr<HostRoot> host_root_;
    std::unique_ptr<bpf::Decoder> decoder_;
    std::unique_ptr<Enricher> enricher_;
    std::unique_ptr<rules::Engine> rules_;
    std::vector<std::string> rule_paths_;  // ktrail rule files and directories, as loaded
    bpf::BpfOptions base_bpf_;             // the command line's; the rules add to it
    std::vector<const rules::Rule*> alert_hits_;
    std::vector<v1::Event> alerts_;
    std::deque<audit::AuditEvent> pending_audit_;
    uint32_t self_pid_ = static_cast<uint32_t>(getpid());
    std::unique_ptr<bpf::AgentPathFilter> path_filter_;
    std::unique_ptr<bpf::BpfSource> source_;
    std::unique_ptr<audit::AuditSource> audit_;
    audit::LoadedRules audit_rules_;
    uint32_t audit_lost_seen_ = 0;  // the kernel's audit lost counter, last read
    int epoll_fd_ = -1;
    // Spool (durable, chained) -> a forwarder thread per output.
    std::unique_ptr<spool::Spool> spool_;
    std::vector<std::unique_ptr<forward::Forwarder>> forwarders_;
    spool::Options pending_spool_;  // between open_outputs() and open_spool()
    std::vector<OutputSpec> pending_specs_;
    ThreadPrivileges thread_privileges_;  // outputs, forwarders, metrics/status servers
    caps::Set held_for_threads_ = 0;      // cap_setuid etc. until those threads switched users
    ServiceHooks hooks_;
    std::vector<std::unique_ptr<forward::Destination>> pending_destinations_;
    uint64_t damage_reported_through_ = 0;  // damaged ranges are seen by every output; reported once
    std::optional<chain::SigningKey> key_;
    std::string raw_;                      // the event's bytes, as spooled and hashed
    uint64_t checkpoint_sequence_ = 0;     // the last sequence a checkpoint signed
    uint64_t spool_lost_pending_ = 0;      // dropped while full, not reported yet
    std::optional<Error> spool_error_;
    static constexpr std::chrono::milliseconds kCommitInterval{50};
    // One Event, cleared and refilled for every event: its sub-messages and
    // strings keep their capacity (event.proto's optional message fields),
    // so steady state allocates nothing.
    v1::Event& next_event() { return scratch_; }
    v1::Event scratch_;
    uint64_t sequence_ = 0;
    uint64_t decode_errors_reported_ = 0;
    AgentStats stats_;
    std::optional<audit::AuditStatus> audit_status_;  // the kernel's, last read (check_losses)
    uint64_t spool_max_bytes_ = 0;
    int64_t start_ns_ = 0;
    control::AckAges ack_ages_;
    // The box outlives the servers that read it (members go in reverse order).
    std::unique_ptr<control::SnapshotBox> snapshots_;
    std::unique_ptr<control::MetricsServer> metrics_;
    std::unique_ptr<control::StatusSocket> status_;
};

}  // namespace ktrail
