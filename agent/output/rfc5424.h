// One event as an RFC 5424 syslog message, framed for TCP by octet counting
// (RFC 6587 §3.4.1): "LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "format/event_format.h"
#include "ktrail/v1/event.pb.h"
#include "util/error.h"

namespace ktrail::syslog {

constexpr int kFacilityLogAudit = 13;  // "log audit" (RFC 5424 table 1)

struct MessageOptions {
    int facility = kFacilityLogAudit;  // 0..23
    Format format = Format::json;      // the MSG body
    int procid = 0;                    // PROCID; 0: NILVALUE "-"
};

// "auth", "authpriv", "daemon", "audit", "local0".."local7", ... or a number 0..23.
Result<int> parse_facility(std::string_view name);
// The RFC 5424 severity (0 emergency .. 7 debug) of an event.
int severity_of(const v1::Event& ev);

// Appends "LEN SP MSG" to `out`.
void append_framed_message(const v1::Event& ev, const MessageOptions& options, std::string& out);
// Appends the message alone (no framing) to `out`.
void append_message(const v1::Event& ev, const MessageOptions& options, std::string& out);

}  // namespace ktrail::syslog
