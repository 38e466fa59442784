// What the SIEM formats (OCSF, CEF) say about an event beyond its fields: a
// short human title and one severity scale, so both formats agree.
#pragma once

#include <cstdint>
#include <string_view>

#include "ktrail/v1/event.pb.h"

namespace ktrail {

// "File deleted", "User logged in", ...; an alert's rule name; else the action.
std::string_view event_title(const v1::Event& ev);

// 0-100 (ECS event.severity): the rule's, else derived from what happened:
// alert 73 (high), events-lost 47 (medium), failure 21 (low), else 0.
uint32_t severity_score(const v1::Event& ev);

// The last path component ("" for "/" or an empty path).
std::string_view base_name(std::string_view path);

}  // namespace ktrail
