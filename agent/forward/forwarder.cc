#include "forward/forwarder.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <future>
#include <random>

#include "util/boot_clock.h"

namespace ktrail::forward {
namespace {

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

constexpr size_t kRecordOverhead = 48;  // a record's framing, roughly, for the byte bound

}  // namespace

Forwarder::Forwarder(spool::Spool& spool, size_t consumer, std::unique_ptr<Destination> destination,
                     ForwarderOptions options)
    : spool_(spool), consumer_(consumer), destination_(std::move(destination)), name_(destination_->name()),
      options_(options) {
    prev_sequence_ = spool_.acked(consumer_);
    prev_hash_ = spool_.acked_hash(consumer_);
    reader_ = std::make_unique<spool::Reader>(spool_, consumer_);
}

Forwarder::~Forwarder() { stop(std::chrono::milliseconds(0)); }

void Forwarder::start() {
    // It reads the spool through fds the writer opened and acks in memory:
    // no capability needed (and none for what the destination's code does).
    // start() returns once it has none, so no one sees the thread with them.
    std::promise<void> dropped;
    auto done = dropped.get_future();
    thread_ = std::thread([this, &dropped] {
        // Named for `top -H` and /proc/PID/task/*/comm: kt-out-N, N the cursor.
        pthread_setname_np(pthread_self(), fmt::format("kt-out-{}", consumer_).c_str());
        if (auto ok = options_.privileges.apply_to_this_thread(); !ok)
            spdlog::error("output {}: {}", name_, ok.error().message);
        dropped.set_value();
        loop();
    });
    done.wait();
}

void Forwarder::stop(std::chrono::milliseconds drain) {
    if (!thread_.joinable()) return;
    drain_until_ns_.store(now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(drain).count());
    stopping_.store(true);
    if (drain.count() == 0) destination_->cancel();
    cv_.notify_all();
    thread_.join();
}

std::vector<spool::LostRange> Forwarder::take_damaged() {
    std::lock_guard lock(mu_);
    return std::exchange(damaged_, {});
}

std::string Forwarder::last_error() const {
    std::lock_guard lock(error_mu_);
    return last_error_;
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
    if (spool_.acked(consumer_) >= spool_.durable_sequence()) return true;
    {
        // One prompt attempt instead of the rest of a backoff wait; after
        // that the usual backoff applies.
        std::lock_guard lock(mu_);
        hurry_.store(true);
    }
    cv_.notify_all();
    while (spool_.acked(consumer_) < spool_.durable_sequence()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

void Forwarder::note_damaged(std::vector<spool::LostRange>& ranges) {
    damaged_bytes_.store(reader_->damaged_bytes(), std::memory_order_relaxed);
    if (ranges.empty()) return;
    std::lock_guard lock(mu_);
    for (auto r : ranges) {
        if (r.last <= damage_seen_through_) continue;
        r.first = std::max(r.first, damage_seen_through_ + 1);
        damaged_.push_back(r);
        damage_seen_through_ = r.last;
    }
    ranges.clear();
}

void Forwarder::loop() {
    std::vector<spool::LostRange> damaged;
    auto first_read = std::chrono::steady_clock::now();
    for (;;) {
        bool stopping = stopping_.load();
        if (stopping && now_ns() >= drain_until_ns_.load()) break;
        if (!settle()) continue;
        size_t events = 0;
        for (const auto& r : records_) events += r.type == spool::Record::Type::event;
        bool was_empty = records_.empty();
        auto got = reader_->read(options_.max_events - std::min(events, options_.max_events),
                                 options_.max_bytes - std::min(record_bytes_, options_.max_bytes), records_, damaged);
        if (!got) {
            spdlog::error("output {}: {}", name_, got.error().message);
            {
                std::lock_guard lock(error_mu_);
                last_error_ = got.error().message;
            }
            retrying_.store(true, std::memory_order_relaxed);
            sleep_for(std::chrono::seconds(1));
            continue;
        }
        for (size_t i = records_.size() - *got; i < records_.size(); ++i)
            record_bytes_ += records_[i].bytes.size() + kRecordOverhead;
        note_damaged(damaged);
        if (records_.empty()) {
            if (stopping && unconfirmed_.empty()) break;  // everything durable was delivered
            sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        if (was_empty) first_read = std::chrono::steady_clock::now();
        events = 0;
        for (const auto& r : records_) events += r.type == spool::Record::Type::event;
        bool full = events >= options_.max_events || record_bytes_ >= options_.max_bytes;
        if (!full && !stopping && std::chrono::steady_clock::now() - first_read < options_.linger) {
            sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        if (deliver_all()) {
            records_.clear();
            record_bytes_ = 0;
        }
    }
}

bool Forwarder::deliver_all() {
    // One batch per run of consecutive sequences; the checkpoints travel with
    // the events they follow.
    size_t i = 0;
    while (i < records_.size()) {
        Batch batch;
        chain::Hash last_hash{};
        size_t j = i;
        for (; j < records_.size(); ++j) {
            const auto& r = records_[j];
            if (r.type == spool::Record::Type::checkpoint) continue;
            if (batch.events == 0) {
                batch.first_sequence = r.sequence;
            } else if (r.sequence != batch.last_sequence + 1) {
                break;
            }
            batch.last_sequence = r.sequence;
            last_hash = r.hash;
            ++batch.events;
        }
        batch.records = std::span<const spool::Record>(records_).subspan(i, j - i);
        if (batch.events == 0) {  // checkpoints only
            batch.first_sequence = prev_sequence_ + 1;
            batch.last_sequence = prev_sequence_;
        }
        if (batch.first_sequence == prev_sequence_ + 1) batch.prev_hash = prev_hash_;
        if (batch.events == 0 && !batch.prev_hash) {  // nothing it could be anchored to
            i = j;
            continue;
        }
        auto delivered = destination_->deliver(batch);
        if (!delivered) {
            fail(fmt::format("batch {}..{} not delivered", batch.first_sequence, batch.last_sequence),
                 delivered.error());
            return false;
        }
        backoff_ = std::chrono::milliseconds(0);
        retrying_.store(false, std::memory_order_relaxed);
        stats_.batches.fetch_add(1, std::memory_order_relaxed);
        stats_.events.fetch_add(batch.events, std::memory_order_relaxed);
        stats_.duplicates.fetch_add(delivered->duplicates, std::memory_order_relaxed);
        stats_.last_delivery_ns.store(BootClock::now_unix_ns(), std::memory_order_relaxed);
        if (batch.events > 0) {
            prev_sequence_ = batch.last_sequence;
            prev_hash_ = last_hash;
            unconfirmed_.push_back({batch.last_sequence, last_hash});
        }
        if (!settle()) return false;
        i = j;
    }
    return true;
}

bool Forwarder::settle() {
    if (unconfirmed_.empty()) return true;
    auto confirmed = destination_->confirmed_through();
    if (!confirmed) {
        fail(fmt::format("events after {} may not have arrived", spool_.acked(consumer_)), confirmed.error());
        return false;
    }
    std::optional<Pending> last;
    while (!unconfirmed_.empty() && unconfirmed_.front().sequence <= *confirmed) {
        last = unconfirmed_.front();
        unconfirmed_.pop_front();
    }
    if (last) spool_.ack(last->sequence, last->hash, consumer_);
    return true;
}

void Forwarder::fail(const std::string& what, const Error& error) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    stats_.retries.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(error_mu_);
        last_error_ = fmt::format("{}: {}", what, error.message);
    }
    retrying_.store(true, std::memory_order_relaxed);
    backoff_ = backoff_.count() == 0 ? options_.backoff_initial : std::min(backoff_ * 2, options_.backoff_max);
    // Full jitter in [backoff/2, backoff]: agents that lost the same
    // receiver do not come back in step.
    auto half = backoff_.count() / 2;
    std::chrono::milliseconds wait(half + static_cast<int64_t>(rng() % static_cast<uint64_t>(half + 1)));
    if ((backoff_ == options_.backoff_initial || backoff_ >= options_.backoff_max) && !stopping_.load())
        spdlog::warn("output {}: {} ({}); retrying in {} ms", name_, what, error.message, wait.count());
    rewind();
    sleep_for(wait);
}

void Forwarder::rewind() {
    // What the destination has not confirmed is delivered again from the
    // spool (it may see some of it twice; it loses none).
    uint64_t acked = spool_.acked(consumer_);
    reader_->rewind(acked);
    records_.clear();
    record_bytes_ = 0;
    unconfirmed_.clear();
    prev_sequence_ = acked;
    prev_hash_ = spool_.acked_hash(consumer_);
}

}  // namespace ktrail::forward
