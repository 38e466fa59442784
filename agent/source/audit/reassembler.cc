#include "source/audit/reassembler.h"

namespace ktrail::audit {

bool is_single_record(uint32_t type) {
    // 1100-1299: user-space messages (USER_AUTH, USER_LOGIN, ADD_USER, ...);
    // 2100-2999: user-space anomalies, integrity and virtualization events.
    return (type >= 1100 && type < 1300) || (type >= 2100 && type < 3000);
}

Reassembler::Reassembler(Options options, EventFn on_event, LostFn on_lost)
    : options_(options), on_event_(std::move(on_event)), on_lost_(std::move(on_lost)) {}

uint64_t Reassembler::unwrap(uint32_t serial) {
    if (!have_seen_) {
        have_seen_ = true;
        last_seen_ = (uint64_t{1} << 32) + serial;  // room below for stragglers
        return last_seen_;
    }
    int64_t delta = static_cast<int32_t>(serial - static_cast<uint32_t>(last_seen_));
    last_seen_ = static_cast<uint64_t>(static_cast<int64_t>(last_seen_) + delta);
    return last_seen_;
}

void Reassembler::push(AuditRecord&& record, int64_t now_ns) {
    uint32_t type = record.type;
    uint64_t k = unwrap(record.serial);
    auto [it, inserted] = pending_.try_emplace(k);
    Pending& p = it->second;
    if (inserted) {
        p.event.serial = record.serial;
        p.first_seen_ns = now_ns;
    }
    p.last_seen_ns = now_ns;
    if (type == kEoe) p.complete = true;
    else p.event.records.push_back(std::move(record));
    if (is_single_record(type)) p.complete = true;
    emit_ready(now_ns, false);
}

void Reassembler::expire(int64_t now_ns) { emit_ready(now_ns, false); }

void Reassembler::flush() { emit_ready(0, true); }

void Reassembler::emit_ready(int64_t now_ns, bool force_all) {
    // In serial order: the head goes once complete or timed out; a late head
    // holds back the events behind it, for at most the reorder window.
    while (!pending_.empty()) {
        auto head = pending_.begin();
        Pending& p = head->second;
        bool expired = now_ns - p.first_seen_ns >= options_.timeout_ns;
        bool overtaken = pending_.size() > 1 && now_ns - p.last_seen_ns >= options_.reorder_ns;
        bool crowded = pending_.size() > options_.max_pending;
        if (!(force_all || p.complete || expired || overtaken || crowded)) break;
        uint64_t k = head->first;
        Pending done = std::move(p);
        pending_.erase(head);
        emit(k, std::move(done));
    }
}

void Reassembler::emit(uint64_t k, Pending&& p) {
    if (have_emitted_ && k > last_emitted_ + 1) {
        uint64_t gap = k - last_emitted_ - 1;
        lost_ += gap;
        if (on_lost_) on_lost_(gap);
    }
    if (!have_emitted_ || k > last_emitted_) last_emitted_ = k;  // a straggler moves nothing
    have_emitted_ = true;
    if (!p.event.records.empty() && on_event_) on_event_(std::move(p.event));
}

}  // namespace ktrail::audit
