// The durable spool: a write-ahead log of every event that passed the rules,
// kept on local disk until the collector has committed it.
//
// DIR/NNNNNNNNNNNNNNNNNNNN.wal, named by the first sequence it holds, each
//   "KTSPOOL1" then records: u32 length, u32 CRC32C(payload), payload
//   payload: u8 type 1 (event):      u64 sequence, 32-byte chain hash, event bytes
//            u8 type 2 (checkpoint): u64 sequence, 32-byte head, i64 time_ns, 64-byte signature
//   (integers little-endian). The cursor file (Options::cursor) holds the
//   acknowledged sequence and its chain hash, so the chain continues even
//   when every segment is gone.
//
// One writer (the agent's loop) appends and commits (write + fdatasync, every
// `commit_interval`); one reader (the forwarder thread) reads what is durable
// and acks what the collector committed. Whole segments below the ack go.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "spool/chain.h"
#include "util/error.h"

namespace ktrail::spool {

struct Options {
    std::string dir;
    uint64_t max_bytes = 1ull << 30;        // all segments together
    uint64_t segment_bytes = 16ull << 20;   // roll to a new segment past this
    // Where the acknowledged cursor (sequence and chain hash) is kept; empty:
    // DIR/acked. The agent keeps it in its state directory, so a spool
    // directory that is wiped does not take the chain head with it.
    std::string cursor = {};
};

// What opening found: where the chain stands and what was damaged.
struct Recovery {
    uint64_t last_sequence = 0;    // the newest event on disk (0: none)
    chain::Hash head = chain::kGenesis;
    uint64_t acked = 0;
    uint64_t damaged_bytes = 0;    // cut from a torn tail or skipped as corrupt
    uint64_t damaged_records = 0;  // records that failed their CRC
};

struct Record {
    enum class Type : uint8_t { event = 1, checkpoint = 2 };
    Type type = Type::event;
    uint64_t sequence = 0;
    chain::Hash hash{};     // event: its chain hash; checkpoint: the head
    int64_t time_ns = 0;    // checkpoint only
    std::string bytes;      // event: the event; checkpoint: the signature
};

// A run of sequence numbers whose records were found damaged while reading.
struct LostRange {
    uint64_t first = 0, last = 0;
};

class Spool;

// The forwarder's view: records after the ack, up to what is durable.
class Reader {
public:
    explicit Reader(Spool& spool);
    ~Reader();
    // Appends to `out` up to `max_events` events (and the checkpoints among
    // them) or about `max_bytes`; returns how many records it added.
    // Corrupt records are skipped and reported through `damaged`.
    Result<size_t> read(size_t max_events, size_t max_bytes, std::vector<Record>& out,
                        std::vector<LostRange>& damaged);
    // Goes back to just after `sequence` (after a failed send).
    void rewind(uint64_t sequence);
    uint64_t damaged_bytes() const;    // skipped as corrupt so far
    uint64_t damaged_records() const;  // records that failed their CRC

private:
    struct Impl;
    Spool& spool_;
    std::unique_ptr<Impl> impl_;
};

class Spool {
public:
    static Result<std::unique_ptr<Spool>> open(const Options& options, Recovery* recovery = nullptr);
    ~Spool();

    // --- writer side (one thread) ---
    // False when `bytes` more would pass max_bytes: the caller counts the
    // event as lost (the events-lost event that reports it has room kept).
    // `from_reserve`: may use the room kept for events-lost and checkpoints.
    bool has_room(size_t bytes, bool from_reserve = false) const;
    // Hashes `event_bytes` onto the chain as `sequence` (last_sequence()+1).
    Result<void> append_event(uint64_t sequence, std::string_view event_bytes);
    Result<void> append_checkpoint(uint64_t sequence, const chain::Hash& head, int64_t time_ns,
                                   std::string_view signature);
    // Hands what is buffered to the kernel (it survives the agent being
    // killed, not the host crashing).
    Result<void> write() { return write_buffer(); }
    // Writes what is buffered and fdatasyncs it; then readers may see it.
    Result<void> commit();
    uint64_t last_sequence() const { return last_sequence_; }
    const chain::Hash& head() const { return head_; }

    // --- reader side (any thread) ---
    uint64_t durable_sequence() const { return durable_.load(std::memory_order_acquire); }
    // Everything up to `sequence` (whose chain hash is `hash`) is in the
    // store: persist that and delete the segments it covers.
    Result<void> ack(uint64_t sequence, const chain::Hash& hash);
    uint64_t acked() const { return acked_.load(std::memory_order_acquire); }
    chain::Hash acked_hash() const;  // the chain hash at acked()
    uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
    const std::string& dir() const { return options_.dir; }

private:
    friend class Reader;
    Spool() = default;
    Result<void> roll();
    Result<void> write_buffer();
    Result<void> recover(Recovery& r);
    void publish_durable();

    Options options_;
    int fd_ = -1;                       // the segment being written
    std::string current_path_;          // its path (the writer's own copy: acks reshape segments_)
    uint64_t segment_size_ = 0;
    uint64_t last_sequence_ = 0;
    chain::Hash head_ = chain::kGenesis;
    std::string buf_;                   // appended, not yet written
    std::atomic<uint64_t> durable_{0};  // last event sequence fdatasynced
    std::atomic<uint64_t> acked_{0};
    chain::Hash acked_hash_ = chain::kGenesis;  // guarded by segments_mu_
    std::atomic<uint64_t> bytes_{0};    // on disk + buffered
    mutable std::mutex segments_mu_;    // guards segments_ and the durable position
    uint64_t durable_segment_ = 0;      // first_sequence of the segment durable_offset_ is in
    uint64_t durable_offset_ = 0;       // readers stop there (never a half-written record)
    struct Segment {
        uint64_t first_sequence;
        std::string path;
        uint64_t size;
    };
    std::vector<Segment> segments_;
};

uint32_t crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace ktrail::spool
