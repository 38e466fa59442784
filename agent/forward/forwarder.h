// The forwarder: a thread that reads what is durable in the spool, ships it
// to the collector in batches (by count, bytes and time), and acks the spool
// only after the collector has committed. Failures are retried forever with
// capped exponential backoff and jitter: nothing leaves the spool unacked.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "forward/collector_client.h"
#include "spool/spool.h"

namespace ktrail::forward {

struct Identity {
    std::string agent_id;
    std::string host_id;
    std::string host_name;
    std::string public_key;  // Ed25519, 32 raw bytes
};

struct ForwarderOptions {
    size_t max_events = 4096;
    size_t max_bytes = 4u << 20;
    std::chrono::milliseconds linger{100};       // the oldest waiting record's longest wait
    std::chrono::milliseconds backoff_initial{200};
    std::chrono::milliseconds backoff_max{10000};
};

struct ForwarderStats {
    std::atomic<uint64_t> batches{0};
    std::atomic<uint64_t> events{0};       // acknowledged by the collector
    std::atomic<uint64_t> duplicates{0};   // the collector already had them (a retry)
    std::atomic<uint64_t> retries{0};
    std::atomic<int64_t> last_delivery_ns{0};
};

class Forwarder {
public:
    Forwarder(spool::Spool& spool, std::unique_ptr<CollectorClient> client, Identity identity,
              ForwarderOptions options = {});
    ~Forwarder();
    void start();
    // Wakes the thread (no backoff wait) and waits up to `limit` until all
    // that is durable is acknowledged; true if it was.
    bool flush(std::chrono::milliseconds limit);
    // Stops, first trying for up to `drain` to deliver what is durable.
    void stop(std::chrono::milliseconds drain);
    // Sequence ranges found damaged in the spool since the last call (the
    // agent reports them as events-lost).
    std::vector<spool::LostRange> take_damaged();
    const ForwarderStats& stats() const { return stats_; }
    uint64_t damaged_bytes() const { return damaged_bytes_.load(std::memory_order_relaxed); }

private:
    void loop();
    // Sends records_[0..) as batches split at sequence gaps; true when all
    // were committed.
    bool send_all();
    bool send(v1::Batch& batch, uint64_t last_sequence, const chain::Hash& last_hash);
    void sleep_for(std::chrono::milliseconds d);

    spool::Spool& spool_;
    std::unique_ptr<CollectorClient> client_;
    Identity identity_;
    ForwarderOptions options_;
    ForwarderStats stats_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> hurry_{false};         // flush(): skip the current backoff wait
    std::atomic<int64_t> drain_until_ns_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<spool::LostRange> damaged_;  // guarded by mu_
    std::atomic<uint64_t> damaged_bytes_{0};
    std::vector<spool::Record> records_;
    uint64_t prev_sequence_ = 0;             // the last event sent and its hash
    chain::Hash prev_hash_ = chain::kGenesis;
    std::chrono::milliseconds backoff_{0};
};

}  // namespace ktrail::forward
