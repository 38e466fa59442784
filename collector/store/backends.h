// What the store back ends share inside ktrail_store (not a public header).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/store.h"

namespace ktrail::store {

Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, const OpenOptions& options);
Result<std::unique_ptr<Store>> open_postgres(const std::string& url, const OpenOptions& options);

// Trust on first use: the refusal when `presented` brings another key than
// the one `known` was registered with in the store named `store`.
Error key_mismatch(const AgentInfo& presented, const AgentInfo& known, const std::string& store);

// The UTC day (days since 1970-01-01) an event time falls in; floors for
// times before 1970.
int64_t day_of(int64_t time_ns);
inline constexpr int64_t kNsPerDay = 86'400'000'000'000;

// A shell glob (`*`, `?`, `[...]`) as a PostgreSQL LIKE pattern with `\` as
// the escape character; false when the glob has a bracket class, which LIKE
// cannot say (use glob_to_regex then).
bool glob_to_like(std::string_view glob, std::string& out);
// Whether a shell glob matches the empty string (it is all '*').
inline bool glob_matches_empty(std::string_view glob) { return glob.find_first_not_of('*') == std::string_view::npos; }
// A shell glob as an anchored POSIX (PostgreSQL ARE) regular expression.
std::string glob_to_regex(std::string_view glob);

}  // namespace ktrail::store
