#include "forward/forwarder.h"

#include <spdlog/spdlog.h>

#include <random>

#include "util/boot_clock.h"

namespace ktrail::forward {
namespace {

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Forwarder::Forwarder(spool::Spool& spool, std::unique_ptr<CollectorClient> client, Identity identity,
                     ForwarderOptions options)
    : spool_(spool), client_(std::move(client)), identity_(std::move(identity)), options_(options) {
    prev_sequence_ = spool_.acked();
    prev_hash_ = spool_.acked_hash();
}

Forwarder::~Forwarder() { stop(std::chrono::milliseconds(0)); }

void Forwarder::start() { thread_ = std::thread([this] { loop(); }); }

void Forwarder::stop(std::chrono::milliseconds drain) {
    if (!thread_.joinable()) return;
    drain_until_ns_.store(now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(drain).count());
    stopping_.store(true);
    cv_.notify_all();
    thread_.join();
}

std::vector<spool::LostRange> Forwarder::take_damaged() {
    std::lock_guard lock(mu_);
    return std::exchange(damaged_, {});
}

void Forwarder::sleep_for(std::chrono::milliseconds d) {
    // A stop request wakes a sleep once (a last prompt attempt); sleeps
    // while draining are bounded by the drain deadline instead.
    std::unique_lock lock(mu_);
    if (stopping_.load()) {
        auto left = std::chrono::nanoseconds(drain_until_ns_.load() - now_ns());
        cv_.wait_for(lock, std::min<std::chrono::nanoseconds>(d, std::max(left, std::chrono::nanoseconds(0))));
        return;
    }
    cv_.wait_for(lock, d, [this] { return stopping_.load() || hurry_.exchange(false); });
}

bool Forwarder::flush(std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    if (spool_.acked() >= spool_.durable_sequence()) return true;
    {
        // One prompt attempt instead of the rest of a backoff wait; after
        // that the usual backoff applies.
        std::lock_guard lock(mu_);
        hurry_.store(true);
    }
    cv_.notify_all();
    while (spool_.acked() < spool_.durable_sequence()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

void Forwarder::loop() {
    spool::Reader reader(spool_);
    std::vector<spool::LostRange> damaged;
    size_t bytes = 0;
    auto first_read = std::chrono::steady_clock::now();
    for (;;) {
        bool stopping = stopping_.load();
        if (stopping && now_ns() >= drain_until_ns_.load()) break;
        size_t events = 0;
        for (const auto& r : records_) events += r.type == spool::Record::Type::event;
        bool was_empty = records_.empty();
        auto got = reader.read(options_.max_events - std::min(events, options_.max_events),
                               options_.max_bytes - std::min(bytes, options_.max_bytes), records_, damaged);
        if (!got) {
            spdlog::error("forwarder: {}", got.error().message);
            sleep_for(std::chrono::seconds(1));
            continue;
        }
        for (size_t i = records_.size() - *got; i < records_.size(); ++i) bytes += records_[i].bytes.size() + 48;
        damaged_bytes_.store(reader.damaged_bytes(), std::memory_order_relaxed);
        if (!damaged.empty()) {
            std::lock_guard lock(mu_);
            damaged_.insert(damaged_.end(), damaged.begin(), damaged.end());
            damaged.clear();
        }
        if (records_.empty()) {
            if (stopping) break;  // everything durable was delivered
            sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        if (was_empty) first_read = std::chrono::steady_clock::now();
        events = 0;
        for (const auto& r : records_) events += r.type == spool::Record::Type::event;
        bool full = events >= options_.max_events || bytes >= options_.max_bytes;
        if (!full && !stopping && std::chrono::steady_clock::now() - first_read < options_.linger) {
            sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        if (send_all()) {
            records_.clear();
            bytes = 0;
        }
    }
}

bool Forwarder::send_all() {
    // One batch per run of consecutive sequences; the checkpoints travel with
    // the events they follow.
    size_t i = 0;
    while (i < records_.size()) {
        v1::Batch batch;
        batch.set_agent_id(identity_.agent_id);
        batch.set_host_id(identity_.host_id);
        batch.set_host_name(identity_.host_name);
        batch.set_public_key(identity_.public_key);
        uint64_t first = 0, last = 0;
        chain::Hash last_hash = prev_hash_;
        size_t j = i;
        for (; j < records_.size(); ++j) {
            auto& r = records_[j];
            if (r.type == spool::Record::Type::checkpoint) {
                auto* c = batch.add_checkpoints();
                c->set_sequence(r.sequence);
                c->set_chain_head(std::string(chain::as_bytes(r.hash)));
                c->set_time_ns(r.time_ns);
                c->set_signature(r.bytes);
                continue;
            }
            if (first == 0) {
                first = r.sequence;
                if (first == prev_sequence_ + 1)
                    batch.set_prev_hash(std::string(chain::as_bytes(prev_hash_)));
                else  // the events before it were lost from a damaged segment
                    batch.set_first_hash(std::string(chain::as_bytes(r.hash)));
            } else if (r.sequence != last + 1) {
                break;
            }
            last = r.sequence;
            last_hash = r.hash;
            batch.add_events(r.bytes);
        }
        if (first == 0) {  // checkpoints only
            batch.set_first_sequence(prev_sequence_ + 1);
            batch.set_prev_hash(std::string(chain::as_bytes(prev_hash_)));
            last = prev_sequence_;
        } else {
            batch.set_first_sequence(first);
        }
        if (!send(batch, last, last_hash)) {
            // Keep what is not delivered; the next attempt starts with it.
            records_.erase(records_.begin(), records_.begin() + static_cast<ptrdiff_t>(i));
            return false;
        }
        i = j;
    }
    return true;
}

bool Forwarder::send(v1::Batch& batch, uint64_t last_sequence, const chain::Hash& last_hash) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    while (true) {
        auto ack = client_->submit(batch);
        if (ack) {
            backoff_ = std::chrono::milliseconds(0);
            stats_.batches.fetch_add(1, std::memory_order_relaxed);
            stats_.events.fetch_add(static_cast<uint64_t>(batch.events_size()), std::memory_order_relaxed);
            stats_.duplicates.fetch_add(ack->duplicates(), std::memory_order_relaxed);
            stats_.last_delivery_ns.store(BootClock::now_unix_ns(), std::memory_order_relaxed);
            if (batch.events_size() > 0) {
                prev_sequence_ = last_sequence;
                prev_hash_ = last_hash;
                if (auto ok = spool_.ack(last_sequence, last_hash); !ok)
                    spdlog::error("forwarder: {}", ok.error().message);
            }
            return true;
        }
        stats_.retries.fetch_add(1, std::memory_order_relaxed);
        backoff_ = backoff_.count() == 0 ? options_.backoff_initial : std::min(backoff_ * 2, options_.backoff_max);
        // Full jitter in [backoff/2, backoff]: agents that lost the same
        // collector do not come back in step.
        auto half = backoff_.count() / 2;
        std::chrono::milliseconds wait(half + static_cast<int64_t>(rng() % static_cast<uint64_t>(half + 1)));
        if ((backoff_ == options_.backoff_initial || backoff_ >= options_.backoff_max) && !stopping_.load())
            spdlog::warn("forwarder: batch {}..{} not delivered ({}); retrying in {} ms", batch.first_sequence(),
                         last_sequence, ack.error().message, wait.count());
        sleep_for(wait);
        if (stopping_.load() && now_ns() >= drain_until_ns_.load()) return false;
    }
}

}  // namespace ktrail::forward
