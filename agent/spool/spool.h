// The durable spool: a write-ahead log of every event that passed the rules,
// kept on local disk until the collector has committed it.
//
// DIR/NNNNNNNNNNNNNNNNNNNN.wal, named by the first sequence it holds, each
//   "KTSPOOL1" then records: u32 length, u32 CRC32C(payload), payload
//   payload: u8 type 1 (event):      u64 sequence, 32-byte chain hash, event bytes
//            u8 type 2 (checkpoint): u64 sequence, 32-byte head, i64 time_ns, 64-byte signature
//   (integers little-endian). Each consumer (an output) has a cursor file
//   (Options::cursors) holding the sequence it acknowledged and its chain
//   hash, so the chain continues even when every segment is gone.
//   DIR/LOCK is held (flock) while the spool is open: one agent per spool.
//
// One writer (the agent's loop) owns the directory: it appends and commits
// (write + fdatasync, every `commit_interval`), writes the consumers' cursor
// files and deletes whole segments below every consumer's ack. One reader per
// consumer (a forwarder thread) reads what is durable through read-only fds
// the writer opened, and acks in memory what its destination confirmed: a
// reader needs no access to the directory, so forwarders can run as an
// unprivileged user while the spool stays root's.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
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
    // One cursor file per consumer (consumer index = position); empty: one
    // consumer, DIR/acked. The agent keeps them in its state directory, so a
    // spool directory that is wiped does not take the chain head with it. A
    // consumer without a cursor file yet starts at the oldest record kept.
    std::vector<std::string> cursors = {};
};

// What opening found: where the chain stands and what was damaged.
struct Recovery {
    uint64_t last_sequence = 0;    // the newest event on disk (0: none)
    chain::Hash head = chain::kGenesis;
    uint64_t acked = 0;            // the lowest consumer's acknowledged sequence
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

// A consumer's view: records after its ack, up to what is durable.
class Reader {
public:
    explicit Reader(Spool& spool, size_t consumer = 0);
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
    // Writes what is buffered and fdatasyncs it (then readers may see it),
    // writes the cursor files of consumers that acked since, and deletes the
    // segments every consumer is past.
    Result<void> commit();
    uint64_t last_sequence() const { return last_sequence_; }
    const chain::Hash& head() const { return head_; }

    // --- reader side (any thread; one reader per consumer) ---
    uint64_t durable_sequence() const { return durable_.load(std::memory_order_acquire); }
    size_t consumers() const { return cursors_.size(); }
    // Consumer `c` has delivered everything up to `sequence` (whose chain hash
    // is `hash`). The writer's next commit() persists it.
    void ack(uint64_t sequence, const chain::Hash& hash, size_t c = 0);
    uint64_t acked(size_t c = 0) const { return cursors_[c]->acked.load(std::memory_order_acquire); }
    // The chain hash at acked(c); empty when not known (a new consumer that
    // starts after records it never saw).
    std::optional<chain::Hash> acked_hash(size_t c = 0) const;
    uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
    const std::string& dir() const { return options_.dir; }

private:
    friend class Reader;
    Spool() = default;
    Result<void> roll();
    Result<void> write_buffer();
    Result<void> recover(Recovery& r);
    Result<void> lock();
    void publish_durable();
    Result<void> save_cursors();  // the writer's side of ack()

    Options options_;
    int fd_ = -1;                       // the segment being written
    std::string current_path_;          // its path (the writer's own copy: acks reshape segments_)
    uint64_t segment_size_ = 0;
    uint64_t last_sequence_ = 0;
    chain::Hash head_ = chain::kGenesis;
    std::string buf_;                   // appended, not yet written
    std::atomic<uint64_t> durable_{0};  // last event sequence fdatasynced
    struct Cursor {
        std::string path;
        std::atomic<uint64_t> acked{0};
        std::optional<chain::Hash> hash;  // guarded by segments_mu_
        bool found = false;               // its file existed at open
        uint64_t saved = 0;               // in its file (the writer's)
    };
    std::vector<std::unique_ptr<Cursor>> cursors_;
    uint64_t min_acked() const;
    void drop_acked_segments();  // segments_mu_ held; below every cursor saved
    int lock_fd_ = -1;
    std::atomic<uint64_t> bytes_{0};    // on disk + buffered
    mutable std::mutex segments_mu_;    // guards segments_ and the durable position
    uint64_t durable_segment_ = 0;      // first_sequence of the segment durable_offset_ is in
    uint64_t durable_offset_ = 0;       // readers stop there (never a half-written record)
    // A read-only fd of a segment, shared by the readers using it: it stays
    // readable after the writer deletes the segment.
    struct SegmentFile {
        int fd = -1;
        ~SegmentFile();
    };
    struct Segment {
        uint64_t first_sequence;
        std::string path;
        uint64_t size;
        std::shared_ptr<SegmentFile> file;  // opened by the writer
    };
    static Result<std::shared_ptr<SegmentFile>> open_for_readers(const std::string& path);
    std::vector<Segment> segments_;
};

uint32_t crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace ktrail::spool
