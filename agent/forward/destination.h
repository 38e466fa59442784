// Where a forwarder delivers what it reads from the spool: the collector, a
// file, syslog, Kafka. Every destination has its own spool cursor; the
// forwarder advances it only for what the destination has confirmed.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "spool/chain.h"
#include "spool/spool.h"
#include "util/error.h"

namespace ktrail::forward {

// A run of consecutive events read from the spool, with the checkpoints
// among them, in spool order.
struct Batch {
    std::span<const spool::Record> records;
    uint64_t first_sequence = 0;  // the first event's (no events: the previous one + 1)
    uint64_t last_sequence = 0;   // the last event's (no events: the previous one)
    size_t events = 0;
    // The chain hash of event first_sequence - 1 when the batch follows it
    // directly; empty when events before it are missing (a damaged spool).
    std::optional<chain::Hash> prev_hash;
};

struct Delivered {
    uint64_t duplicates = 0;  // the receiver already had them (a retry)
};

class Destination {
public:
    virtual ~Destination() = default;
    // For logs and metrics, e.g. "syslog+tls://siem.example:6514".
    virtual std::string name() const = 0;
    // Delivers the batch and returns once the receiver holds it (committed,
    // written, acknowledged by the broker) or the delivery failed. After a
    // failure the forwarder re-reads from its last confirmed position and
    // delivers again: destinations must accept re-delivery (at-least-once).
    virtual Result<Delivered> deliver(const Batch& batch) = 0;
    // For receivers that do not acknowledge (syslog over TCP): the highest
    // sequence delivered so far that is now safe to drop from the spool. An
    // error means delivered events may be lost (the connection broke): the
    // forwarder re-delivers everything after its last confirmed position.
    // Default: everything delivered is confirmed.
    virtual Result<uint64_t> confirmed_through() { return UINT64_MAX; }
    // From another thread while stopping: a deliver() in progress should
    // give up soon (its batch stays in the spool).
    virtual void cancel() {}
    // Events this destination skipped for good since the last call (a record
    // that does not parse, an event the broker refuses as too large): the
    // agent reports them as events-lost. Any thread.
    uint64_t take_skipped() { return skipped_.exchange(0, std::memory_order_relaxed); }

protected:
    void count_skipped() { skipped_.fetch_add(1, std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> skipped_{0};
};

}  // namespace ktrail::forward
