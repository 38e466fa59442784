// A forwarder: a thread that reads what is durable in the spool through its
// own cursor, delivers it to one destination in batches (by count, bytes and
// time), and acks the spool only for what the destination has confirmed.
// Failures are retried forever with capped exponential backoff and jitter,
// re-reading from the last confirmed position: nothing leaves the spool
// undelivered.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "forward/destination.h"
#include "spool/spool.h"
#include "util/thread_identity.h"

namespace ktrail::forward {

struct ForwarderOptions {
    size_t max_events = 4096;
    size_t max_bytes = 4u << 20;
    std::chrono::milliseconds linger{100};       // the oldest waiting record's longest wait
    std::chrono::milliseconds backoff_initial{200};
    std::chrono::milliseconds backoff_max{10000};
    ThreadPrivileges privileges;  // the thread applies them first (ktraild's least privilege)
};

struct ForwarderStats {
    std::atomic<uint64_t> batches{0};
    std::atomic<uint64_t> events{0};       // delivered (a re-delivery counts again)
    std::atomic<uint64_t> duplicates{0};   // the receiver already had them (a retry)
    std::atomic<uint64_t> retries{0};      // failed deliveries and broken confirmations
    std::atomic<int64_t> last_delivery_ns{0};
};

class Forwarder {
public:
    Forwarder(spool::Spool& spool, size_t consumer, std::unique_ptr<Destination> destination,
              ForwarderOptions options = {});
    ~Forwarder();
    void start();
    // Wakes the thread (no backoff wait) and waits up to `limit` until all
    // that is durable is confirmed; true if it was.
    bool flush(std::chrono::milliseconds limit);
    // Stops, first trying for up to `drain` to deliver what is durable.
    void stop(std::chrono::milliseconds drain);
    // Sequence ranges found damaged in the spool since the last call (the
    // agent reports them as events-lost); each range once.
    std::vector<spool::LostRange> take_damaged();
    const ForwarderStats& stats() const { return stats_; }
    // Events the destination skipped for good since the last call.
    uint64_t take_skipped() { return destination_->take_skipped(); }
    uint64_t damaged_bytes() const { return damaged_bytes_.load(std::memory_order_relaxed); }
    std::string name() const { return name_; }
    size_t consumer() const { return consumer_; }
    // Whether the last attempt failed (until one succeeds), and the last
    // failure's message (kept after a recovery); for `ktrail status`.
    bool retrying() const { return retrying_.load(std::memory_order_relaxed); }
    std::string last_error() const;

private:
    void loop();
    // Delivers records_ as batches split at sequence gaps; true when all were.
    bool deliver_all();
    // Acks what the destination has confirmed; false if it lost some.
    bool settle();
    // Back to the last confirmed position (after a failure).
    void rewind();
    void fail(const std::string& what, const Error& error);
    void note_damaged(std::vector<spool::LostRange>& ranges);
    void sleep_for(std::chrono::milliseconds d);

    spool::Spool& spool_;
    size_t consumer_;
    std::unique_ptr<Destination> destination_;
    std::string name_;
    ForwarderOptions options_;
    ForwarderStats stats_;
    std::thread thread_;
    std::unique_ptr<spool::Reader> reader_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> hurry_{false};         // flush(): skip the current backoff wait
    std::atomic<int64_t> drain_until_ns_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<spool::LostRange> damaged_;  // guarded by mu_
    uint64_t damage_seen_through_ = 0;       // ranges re-read after a rewind are not reported again
    std::atomic<uint64_t> damaged_bytes_{0};
    std::vector<spool::Record> records_;
    size_t record_bytes_ = 0;
    uint64_t prev_sequence_ = 0;             // the last event delivered and its hash
    std::optional<chain::Hash> prev_hash_;
    struct Pending {
        uint64_t sequence;
        chain::Hash hash;
    };
    std::deque<Pending> unconfirmed_;        // delivered, not yet confirmed (syslog)
    std::chrono::milliseconds backoff_{0};
    std::atomic<bool> retrying_{false};
    mutable std::mutex error_mu_;
    std::string last_error_;  // guarded by error_mu_
};

}  // namespace ktrail::forward
