// The Linux audit source: reads the kernel's audit stream over netlink.
//
// When no audit daemon is registered, ktraild becomes it (audit_set_pid),
// enables auditing and raises the backlog; on stop it hands the kernel back
// as it found it. When one is (Debian's auditd, say), it reads the read-only
// multicast group instead, which the kernel serves best-effort; serial gaps
// show what that costs. Records are reassembled into events by serial.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "source/audit/reassembler.h"
#include "util/error.h"
#include "util/guardian.h"

namespace ktrail::audit {

enum class AuditMode { kDaemon, kMulticast };
std::string_view to_string(AuditMode m);

struct AuditOptions {
    uint32_t backlog_limit = 8192;  // raised to this when lower (daemon mode)
};

// The kernel's audit status (AUDIT_GET).
struct AuditStatus {
    uint32_t enabled = 0;
    uint32_t pid = 0;
    uint32_t backlog_limit = 0;
    uint32_t lost = 0;
    uint32_t backlog = 0;
};
Result<AuditStatus> read_audit_status();

class AuditSource {
public:
    static Result<std::unique_ptr<AuditSource>> start(const AuditOptions& options, Reassembler::EventFn on_event,
                                                       Reassembler::LostFn on_lost);
    ~AuditSource();  // stop()
    AuditSource(const AuditSource&) = delete;
    AuditSource& operator=(const AuditSource&) = delete;

    AuditMode mode() const { return mode_; }
    int fd() const { return fd_; }
    // Reads waiting messages without blocking, at most kMaxPerRead (call
    // again while the socket stays readable). Returns how many records.
    // Times are CLOCK_MONOTONIC ns; 0 means now.
    Result<int> read_available(int64_t now_ns = 0);
    // Closes events whose EOE did not come in time.
    void expire(int64_t now_ns = 0);
    // The kernel's count of records it dropped (backlog full, rate limit).
    Result<uint32_t> kernel_lost() const;
    uint64_t malformed() const { return malformed_; }
    uint64_t overruns() const { return overruns_; }
    // Flushes what is pending and gives the kernel back as it was found.
    void stop();

private:
    AuditSource(Reassembler::EventFn on_event, Reassembler::LostFn on_lost);

    int fd_ = -1;  // records arrive here
    AuditMode mode_ = AuditMode::kMulticast;
    AuditStatus found_;  // the kernel's state when we came
    bool changed_enabled_ = false;
    bool changed_backlog_ = false;
    bool stopped_ = false;
    // Restores the audit state if this process dies without stop().
    void start_guardian();
    Guardian guardian_;
    Reassembler reassembler_;
    void handle_datagram(const char* data, size_t n, int64_t now);
    // Receive buffers for recvmmsg: one record per datagram, many per call.
    static constexpr size_t kBatch = 64;
    static constexpr size_t kMaxPerRead = 1024;  // datagrams per read_available()
    static constexpr size_t kDatagram = 9040;  // MAX_AUDIT_MESSAGE_LENGTH + header, 8-aligned slots
    std::vector<char> rx_;
    uint64_t malformed_ = 0;
    uint64_t overruns_ = 0;  // ENOBUFS: the socket overflowed (gaps count the loss)
};

}  // namespace ktrail::audit
