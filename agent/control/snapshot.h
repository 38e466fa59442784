// What the agent publishes about itself, as plain numbers and strings: the
// agent loop fills one about once a second; the metrics server and the
// status socket render the latest copy on their own threads.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace ktrail::control {

// The stages the agent reports `events-lost` for (ktrail.lost.stage).
inline constexpr std::array<const char*, 6> kLostStages = {"kernel-ringbuf", "kernel-audit", "spool-full",
                                                           "spool-damaged", "decode",       "output-skipped"};
using LostCounts = std::array<uint64_t, kLostStages.size()>;
// The index of `stage` in kLostStages; kLostStages.size() if unknown.
size_t lost_stage_index(const char* stage);

// The kernel's record kinds (kt_kind), as labels; index = kind.
inline constexpr std::array<const char*, 5> kKindNames = {"unknown", "exec", "fork", "exit", "syscall"};

struct KernelKind {
    uint64_t produced = 0, dropped = 0, filtered = 0;
};

struct OutputSnapshot {
    std::string name;
    uint64_t acked = 0;                  // the last sequence the output confirmed
    uint64_t backlog_events = 0;         // durable, not yet confirmed
    double oldest_unacked_age_s = 0;     // the oldest of those, at least this old; 0: none
    uint64_t events = 0, batches = 0, retries = 0, duplicates = 0;
    int64_t last_delivery_ns = 0;        // unix time; 0: none since start
    bool retrying = false;               // the last attempt failed
    std::string last_error;              // of the last failure (kept after recovery)
};

struct RuleSnapshot {
    std::string id;
    uint64_t evaluated = 0, matched = 0, dropped = 0, alerts = 0;
};

struct Snapshot {
    int64_t taken_ns = 0;  // unix time
    int64_t start_ns = 0;  // when the agent started
    int pid = 0;
    std::string version, agent_id, hostname;
    std::string audit_mode;  // daemon | multicast | off
    std::vector<std::string> programs;
    size_t ktrail_rules = 0, ktrail_rule_files = 0, audit_rules = 0;

    std::array<KernelKind, kKindNames.size()> kernel{};
    uint64_t ringbuf_read = 0;       // records the agent read from the ring buffer
    uint64_t ringbuf_used = 0, ringbuf_size = 0;  // bytes waiting in it, of its size (0 of 0: not known)
    uint64_t agent_filtered = 0;     // rejected by the agent's path filter
    uint64_t decode_errors = 0;
    uint64_t audit_events = 0;
    uint64_t audit_malformed = 0, audit_overruns = 0;
    bool audit_status = false;       // the kernel's audit status was read
    uint32_t audit_kernel_lost = 0, audit_backlog = 0, audit_backlog_limit = 0;
    uint64_t emitted = 0;            // events written to the spool
    uint64_t rule_dropped = 0;
    uint64_t reloads = 0, reload_failures = 0;
    LostCounts lost{};               // reported as events-lost, by stage
    double events_per_second = 0;    // emitted, over the last ~10 s

    uint64_t spool_bytes = 0, spool_max_bytes = 0, spool_last_sequence = 0, spool_durable_sequence = 0;
    std::vector<OutputSnapshot> outputs;
    std::vector<RuleSnapshot> rules;
    uint64_t processes_live = 0, processes_exited = 0;
    uint64_t rss_bytes = 0;

    uint64_t lost_total() const;
};

// The latest snapshot, shared between the agent loop and the servers.
class SnapshotBox {
public:
    // Stores `s`, filling in its events_per_second from the ones before.
    void publish(Snapshot s);
    Snapshot latest() const;

private:
    mutable std::mutex mu_;
    Snapshot latest_;
    struct Sample {
        int64_t ns;
        uint64_t emitted;
    };
    std::vector<Sample> window_;  // the last ~10 s of publications
};

// Resident set size of this process, from /proc/self/statm; 0 if unreadable.
uint64_t resident_bytes();

}  // namespace ktrail::control
