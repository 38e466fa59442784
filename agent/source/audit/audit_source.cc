#include "source/audit/audit_source.h"

#include <fmt/format.h>
#include <libaudit.h>
#include <linux/netlink.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace ktrail::audit {
namespace {

// A short-lived control socket for one request.
class ControlSocket {
public:
    ControlSocket() : fd_(audit_open()) {}
    ~ControlSocket() {
        if (fd_ >= 0) audit_close(fd_);
    }
    int fd() const { return fd_; }

private:
    int fd_;
};

Result<AuditStatus> status_on(int fd) {
    if (audit_request_status(fd) <= 0)
        return fail(fmt::format("cannot ask the kernel for its audit status: {}", strerror(errno)));
    for (int i = 0; i < 16; ++i) {
        struct audit_reply rep{};
        int n = audit_get_reply(fd, &rep, GET_REPLY_BLOCKING, 0);
        if (n <= 0) break;
        if (rep.type == AUDIT_GET && rep.status) {
            return AuditStatus{rep.status->enabled, rep.status->pid, rep.status->backlog_limit, rep.status->lost,
                               rep.status->backlog};
        }
    }
    return fail("the kernel did not answer the audit status request");
}

bool process_alive(uint32_t pid) { return pid != 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// Waits (up to `limit_ms`) until `pid` has exited: gone, or a zombie, whose
// files (its audit socket among them) are closed. The guardian's pipe is
// only one of those files: its EOF can come before the socket is released.
void wait_exited(uint32_t pid, int limit_ms) {
    std::string stat_path = fmt::format("/proc/{}/stat", pid);
    for (int waited = 0; waited < limit_ms; waited += 5) {
        std::ifstream in(stat_path);
        std::string line;
        if (!in || !std::getline(in, line)) return;
        size_t paren = line.rfind(')');
        if (paren == std::string::npos || paren + 2 >= line.size()) return;
        char state = line[paren + 2];
        if (state == 'Z' || state == 'X') return;
        usleep(5000);
    }
}

// Records the kernel sends: user-space and kernel event types, not replies.
bool is_record(uint16_t type) { return type == 1005 || type == 1006 || type >= AUDIT_FIRST_USER_MSG; }

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

std::string_view to_string(AuditMode m) { return m == AuditMode::kDaemon ? "audit daemon" : "read-only multicast"; }

Result<AuditStatus> read_audit_status() {
    ControlSocket s;
    if (s.fd() < 0) return fail(fmt::format("cannot open the audit netlink socket: {}", strerror(errno)));
    return status_on(s.fd());
}

AuditSource::AuditSource(Reassembler::EventFn on_event, Reassembler::LostFn on_lost)
    : reassembler_({}, std::move(on_event), std::move(on_lost)) {}

Result<std::unique_ptr<AuditSource>> AuditSource::start(const AuditOptions& options, Reassembler::EventFn on_event,
                                                         Reassembler::LostFn on_lost) {
    std::unique_ptr<AuditSource> src(new AuditSource(std::move(on_event), std::move(on_lost)));
    auto found = read_audit_status();
    if (!found)
        return fail(found.error().message + "; ktraild needs CAP_AUDIT_CONTROL and a kernel with CONFIG_AUDIT");
    src->found_ = *found;

    if (!process_alive(found->pid)) {
        // Nobody reads the stream: become its reader.
        src->fd_ = audit_open();
        if (src->fd_ < 0) return fail(fmt::format("cannot open the audit netlink socket: {}", strerror(errno)));
        if (audit_set_pid(src->fd_, static_cast<uint32_t>(getpid()), WAIT_YES) <= 0)
            return fail(fmt::format("cannot register as the audit daemon: {}", strerror(errno)));
        src->mode_ = AuditMode::kDaemon;
        if (found->enabled == 0) {
            if (audit_set_enabled(src->fd_, 1) <= 0)
                return fail(fmt::format("cannot enable auditing: {}", strerror(errno)));
            src->changed_enabled_ = true;
        }
        if (found->backlog_limit < options.backlog_limit) {
            if (audit_set_backlog_limit(src->fd_, options.backlog_limit) > 0) src->changed_backlog_ = true;
        }
        src->start_guardian();
    } else {
        // Another daemon (auditd) owns the stream: listen along, read-only.
        src->fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
        if (src->fd_ < 0) return fail(fmt::format("cannot open the audit netlink socket: {}", strerror(errno)));
        sockaddr_nl addr{};
        addr.nl_family = AF_NETLINK;
        addr.nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1);
        if (bind(src->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
            return fail(fmt::format("cannot join the audit multicast group (needs CAP_AUDIT_READ): {}", strerror(errno)));
        src->mode_ = AuditMode::kMulticast;
    }
    // A large receive buffer rides out bursts.
    int size = 8 << 20;
    if (setsockopt(src->fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(src->fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    spdlog::info("audit source: {} (found audit daemon pid {}, enabled {}, backlog limit {})", to_string(src->mode_),
                 found->pid, found->enabled, found->backlog_limit);
    return src;
}

void AuditSource::handle_datagram(const char* data, size_t n, int64_t now) {
    // One record per datagram. Its length is what recv says: the kernel sets
    // nlmsg_len to the payload alone on the daemon's unicast stream (a quirk
    // auditd relies on) and correctly only on multicast copies.
    if (n < NLMSG_HDRLEN) {
        ++malformed_;
        return;
    }
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(data);
    if (!is_record(nlh->nlmsg_type)) return;
    std::string_view text(data + NLMSG_HDRLEN, n - NLMSG_HDRLEN);
    while (!text.empty() && (text.back() == '\0' || text.back() == '\n')) text.remove_suffix(1);
    auto rec = parse_netlink_message(nlh->nlmsg_type, text);
    if (!rec) {
        ++malformed_;
        return;
    }
    reassembler_.push(std::move(*rec), now);
}

Result<int> AuditSource::read_available(int64_t now) {
    if (rx_.empty()) rx_.resize(kBatch * kDatagram);
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    int records = 0;
    for (;;) {
        for (size_t i = 0; i < kBatch; ++i) {
            iov[i] = {rx_.data() + i * kDatagram, kDatagram};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(fd_, msgs, kBatch, MSG_DONTWAIT, nullptr);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {  // the socket overflowed; the serial gaps count what was lost
                ++overruns_;
                continue;
            }
            return fail(fmt::format("reading the audit netlink socket failed: {}", strerror(errno)));
        }
        int64_t t = now ? now : now_ns();
        for (int i = 0; i < got; ++i) handle_datagram(rx_.data() + i * kDatagram, msgs[i].msg_len, t);
        records += got;
        // A flood never ends by itself: hand back after a bounded share so
        // the caller handles what it has (and the memory it holds stays small).
        if (static_cast<size_t>(got) < kBatch || records >= static_cast<int>(kMaxPerRead)) break;
    }
    return records;
}

void AuditSource::start_guardian() {
    uint32_t agent = static_cast<uint32_t>(getpid());
    AuditStatus found = found_;
    bool changed_enabled = changed_enabled_, changed_backlog = changed_backlog_;
    guardian_ = Guardian::start([=] {
        // The kernel lets only the registered daemon unregister itself, until
        // it finds the daemon's socket gone: wait for that.
        wait_exited(agent, 5000);
        int fd = audit_open();
        auto now = status_on(fd);
        // The agent is gone (perhaps not reaped yet: compare its pid).
        if (now && (now->pid == 0 || now->pid == agent || !process_alive(now->pid))) {
            // Disabled first, the small backlog limit last: each change logs a
            // CONFIG_CHANGE record, which waits (up to backlog_wait_time)
            // while the queue left by the dead daemon is over the limit.
            if (now->pid != 0) audit_set_pid(fd, 0, WAIT_YES);
            if (changed_enabled && now->enabled != 2) audit_set_enabled(fd, found.enabled);
            if (changed_backlog) audit_set_backlog_limit(fd, found.backlog_limit);
        }
    });
}

void AuditSource::expire(int64_t now) { reassembler_.expire(now ? now : now_ns()); }

Result<uint32_t> AuditSource::kernel_lost() const {
    auto s = read_audit_status();
    if (!s) return std::unexpected(s.error());
    return s->lost;
}

void AuditSource::stop() {
    if (stopped_) return;
    stopped_ = true;
    reassembler_.flush();
    if (mode_ == AuditMode::kDaemon && fd_ >= 0) {
        // In the guardian's order (start_guardian()).
        if (changed_enabled_) audit_set_enabled(fd_, found_.enabled);
        if (changed_backlog_) audit_set_backlog_limit(fd_, found_.backlog_limit);
        audit_set_pid(fd_, 0, WAIT_NO);
    }
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    guardian_.dismiss();
}

AuditSource::~AuditSource() { stop(); }

}  // namespace ktrail::audit
