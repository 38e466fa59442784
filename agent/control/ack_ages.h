// How long an output's oldest unconfirmed event has waited, without reading
// the spool: the agent notes (last sequence, time) once a tick; an event is
// at least as old as the first note that covers its sequence. Resolution is
// the tick; memory is bounded by thinning old notes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace ktrail::control {

class AckAges {
public:
    // Every sequence up to `last_sequence` was written by `now_ns`.
    void note(uint64_t last_sequence, int64_t now_ns);
    // The age in seconds of event acked+1 if it is durable; 0 if all is confirmed.
    double age_s(uint64_t acked, uint64_t durable, int64_t now_ns) const;
    // Forgets notes no output needs (every output confirmed past them).
    void forget_through(uint64_t min_acked);
    size_t size() const { return notes_.size(); }

    static constexpr size_t kMaxNotes = 4096;

private:
    struct Note {
        uint64_t sequence;
        int64_t ns;
    };
    std::deque<Note> notes_;
};

}  // namespace ktrail::control
