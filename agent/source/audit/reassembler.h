// Groups audit records into events by serial. An event is complete on its
// EOE record, at once for single-record (user-space) types, or after a short
// timeout. Events come out in serial order; a serial that never showed up is
// counted as lost (the kernel numbers events without gaps), across the u32
// rollover, while records that arrive a little out of order are waited for.
//
// A record the kernel logs outside a syscall (a CONFIG_CHANGE from a task it
// does not audit, an ANOM_* or NETFILTER_CFG record) never gets an EOE. The
// kernel queues one syscall's records back to back, so a head that got no
// record for `reorder_ns` while later serials arrived is closed then, not
// after the full timeout: it holds the events behind it for that long only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "source/audit/audit_record.h"

namespace ktrail::audit {

struct AuditEvent {
    uint32_t serial = 0;
    std::vector<AuditRecord> records;
};

class Reassembler {
public:
    struct Options {
        int64_t timeout_ns = 500'000'000;  // an event without EOE closes after this
        int64_t reorder_ns = 50'000'000;   // ... or after this quiet, once later serials came
        size_t max_pending = 4096;         // events held at once; the oldest closes beyond
    };
    using EventFn = std::function<void(AuditEvent&&)>;
    using LostFn = std::function<void(uint64_t count)>;

    Reassembler(Options options, EventFn on_event, LostFn on_lost);
    // Adds a record that arrived at `now_ns` (any clock, used for timeouts).
    void push(AuditRecord&& record, int64_t now_ns);
    // Closes events older than the timeout; call now and then.
    void expire(int64_t now_ns);
    // Closes everything (at stop).
    void flush();
    uint64_t lost() const { return lost_; }
    size_t pending() const { return pending_.size(); }

private:
    struct Pending {
        AuditEvent event;
        int64_t first_seen_ns = 0;
        int64_t last_seen_ns = 0;  // its latest record
        bool complete = false;
    };
    // The serial on a 64-bit line, unwrapped across the u32 rollover: the
    // candidate nearest to the last one seen.
    uint64_t unwrap(uint32_t serial);
    void emit_ready(int64_t now_ns, bool force_all);
    void emit(uint64_t unwrapped, Pending&& p);

    Options options_;
    EventFn on_event_;
    LostFn on_lost_;
    std::map<uint64_t, Pending> pending_;  // by unwrapped serial
    bool have_seen_ = false;
    uint64_t last_seen_ = 0;     // unwrapped serial of the last record
    bool have_emitted_ = false;
    uint64_t last_emitted_ = 0;  // unwrapped serial of the last event out
    uint64_t lost_ = 0;
};

// True for record types that are a whole event by themselves (the user-space
// messages: logins, authentication, account changes, ...).
bool is_single_record(uint32_t type);

}  // namespace ktrail::audit
