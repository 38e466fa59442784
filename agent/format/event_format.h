// The formats SIEM outputs speak: the event contract as JSON (ECS-aligned),
// OCSF 1.x JSON, or ArcSight CEF. Each renders one event as one line with no
// trailing newline (the output adds its framing).
#pragma once

#include <string>
#include <string_view>

#include "ktrail/v1/event.pb.h"
#include "util/error.h"

namespace ktrail {

enum class Format { json, ocsf, cef };

Result<Format> parse_format(std::string_view name);  // "json" | "ocsf" | "cef"
const char* to_string(Format f);

// Appends the event in `f`, without a newline.
void append_event(Format f, const v1::Event& ev, std::string& out);

// OCSF 1.x (format/ocsf_format.cc): Process Activity 1007, File System
// Activity 1001, Authentication 3002, Account Change 3001; other events as
// their closest class, with every required attribute.
void append_ocsf(const v1::Event& ev, std::string& out);
// CEF:0|ktrail|ktrail|VERSION|ACTION|NAME|SEVERITY|extensions (format/cef_format.cc).
void append_cef(const v1::Event& ev, std::string& out);

}  // namespace ktrail
