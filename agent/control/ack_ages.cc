#include "control/ack_ages.h"

#include <algorithm>

namespace ktrail::control {

void AckAges::note(uint64_t last_sequence, int64_t now_ns) {
    if (!notes_.empty() && notes_.back().sequence >= last_sequence) return;
    notes_.push_back({last_sequence, now_ns});
    if (notes_.size() <= kMaxNotes) return;
    // Every other note goes: coarser for long outages, never wrong about
    // "at least this old".
    std::deque<Note> kept;
    for (size_t i = 0; i < notes_.size(); ++i)
        if (i % 2 == 1 || i + 1 == notes_.size()) kept.push_back(notes_[i]);
    notes_.swap(kept);
}

double AckAges::age_s(uint64_t acked, uint64_t durable, int64_t now_ns) const {
    if (acked >= durable) return 0;
    auto it = std::ranges::lower_bound(notes_, acked + 1, {}, &Note::sequence);
    if (it == notes_.end()) return 0;  // written after the last note: younger than a tick
    return static_cast<double>(std::max<int64_t>(now_ns - it->ns, 0)) / 1e9;
}

void AckAges::forget_through(uint64_t min_acked) {
    while (!notes_.empty() && notes_.front().sequence <= min_acked) notes_.pop_front();
}

}  // namespace ktrail::control
