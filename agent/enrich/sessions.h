// Login sessions: the audit session id (the kernel's sessionid, set with the
// login uid by pam_loginuid) tied to the login that opened it. Learnt from
// the audit login records; every event carrying the id is then named.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "ktrail/v1/event.pb.h"

namespace ktrail {

struct SessionInfo {
    uint32_t id = 0;
    std::optional<uint32_t> leader_pid;  // the process that set the login uid (LOGIN record)
    std::optional<uint32_t> auid;
    std::string login_user;
    std::string remote_ip;
    std::string tty;
    int64_t start_ns = 0;
    bool ended = false;
};

class Sessions {
public:
    // Learns from an audit-sourced event (logins, session starts and ends).
    void observe(const v1::Event& ev);
    const SessionInfo* find(uint32_t id) const;
    size_t size() const { return sessions_.size(); }

private:
    // Session ids only grow within a boot: the oldest are the smallest. Ended
    // sessions are kept (nohup'ed processes still carry the id) within a cap.
    std::map<uint32_t, SessionInfo> sessions_;
    static constexpr size_t kMaxSessions = 8192;
};

}  // namespace ktrail
