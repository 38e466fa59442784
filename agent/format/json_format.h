// The JSON form of an Event: one ECS-aligned object per line, with the field
// names of the event contract in DESIGN.md.
#pragma once

#include <cstdint>
#include <string>

#include "ktrail/v1/event.pb.h"

namespace ktrail {

class JsonWriter;

// Appends the event as one JSON object and a newline to `out`.
void append_json(const v1::Event& ev, std::string& out);

// The `ktrail` and `auditd` objects as the JSON form writes them (key and
// value); the OCSF form reuses them under `unmapped`.
void write_ktrail_json(JsonWriter& w, const v1::Ktrail& k);
void write_auditd_json(JsonWriter& w, const v1::Auditd& a);

// RFC 3339, UTC, nanoseconds: 2026-11-26T03:40:00.123456789Z
std::string rfc3339_ns(int64_t unix_ns);
constexpr size_t kRfc3339Len = 30;
// The same into buf (kRfc3339Len bytes, no NUL); cheap on the hot path.
void format_rfc3339_ns(int64_t unix_ns, char (&buf)[kRfc3339Len]);

}  // namespace ktrail
