// One Linux audit record, parsed: its type, its event's time and serial, and
// its fields with values decoded (quotes removed, hex-encoded strings decoded,
// the fields inside a user-space record's msg='...' flattened in).
//
// Two inputs have this shape: a netlink message (type in the header, text
// "audit(1700000000.123:42): key=value ...") and a line of an audit log
// ("type=SYSCALL msg=audit(...): key=value ...").
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ktrail::audit {

struct AuditRecord {
    uint32_t type = 0;
    std::string type_name;  // SYSCALL, USER_AUTH, ... (UNKNOWN[n] when libaudit has none)
    int64_t time_ns = 0;    // Unix time of the event, ms precision
    uint32_t serial = 0;
    std::vector<std::pair<std::string, std::string>> fields;  // in record order

    // The decoded value of the first field named `key`, or nullptr.
    const std::string* get(std::string_view key) const;
};

enum class ParseError {
    kNoHeader,  // no "audit(SECONDS.MILLIS:SERIAL):"
    kBadType,   // a log line without a known type=
};
std::string_view to_string(ParseError e);

std::expected<AuditRecord, ParseError> parse_netlink_message(uint32_t type, std::string_view text);
std::expected<AuditRecord, ParseError> parse_log_line(std::string_view line);

// Type numbers of the records the reassembler and mapper care about.
inline constexpr uint32_t kSyscall = 1300;
inline constexpr uint32_t kEoe = 1320;

}  // namespace ktrail::audit
