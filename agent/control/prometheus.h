// The Prometheus text exposition format (0.0.4) for a snapshot: `ktrail_`
// names, `_total` counters, escaped label values.
#pragma once

#include <string>
#include <string_view>

#include "control/snapshot.h"

namespace ktrail::control {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string render_prometheus(const Snapshot& s);
// A label value as the format wants it: \\, \" and \n escaped.
std::string escape_label_value(std::string_view v);

}  // namespace ktrail::control
