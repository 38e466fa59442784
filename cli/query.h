// `ktrail query`: the stored events that match the filters, newest first, as
// an aligned table for people or JSON lines (--json) for scripts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace ktrail::cli {

inline constexpr const char* kDefaultStore = "sqlite:/var/lib/ktrail/collector/events.db";

extern const char* const kQueryUsage;

// `10m`, `2h`, `1d`, `1h30m` (s, m, h, d, w: that long before `now_ns`), `now`,
// or an RFC 3339 time (2026-11-26T08:00:00Z, with optional fraction and a
// Z or +hh:mm offset; `T` may be a space; a bare date is its midnight UTC).
Result<int64_t> parse_time(std::string_view text, int64_t now_ns);

// Exit status: 0 done, 1 the store failed, 2 bad usage.
int query_main(const std::vector<std::string>& args);

}  // namespace ktrail::cli
