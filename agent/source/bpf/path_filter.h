// The entries of the in-kernel path filter (LPM trie kt_path_filter).
//
// Besides the watch and exclude prefixes themselves, every directory above a
// prefix gets an "ancestor" entry. It carries the verdict that applies there
// and tells the kernel that some longer prefix lies below it, so the files
// directly in that directory do not all share one verdict. Any other
// directory's files do, and the kernel caches that verdict per directory:
// most opens are then decided without building their path at all.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ktrail/wire.h"
#include "util/error.h"

namespace ktrail::bpf {

struct PathFilterEntry {
    std::string prefix;  // directories end in '/'
    kt_prefix_value value;
};

// Directories among `watch`/`exclude` (as they are on disk now) become
// "dir/" prefixes. Errors name the path: not absolute, or too long.
Result<std::vector<PathFilterEntry>> build_path_filter(const std::vector<std::string>& watch,
                                                       const std::vector<std::string>& exclude);

// The verdict the kernel computes for `path` from these entries.
uint32_t lookup_verdict(const std::vector<PathFilterEntry>& entries, const std::string& path);

// The same filter for what the kernel cannot decide: paths given as names
// (unlink, rename, chmod by name, ...) are canonical only once the agent has
// finished them. Same rule as the kernel's for writes; an event that names
// two locations (rename, link) is kept when either is.
class AgentPathFilter {
public:
    AgentPathFilter(std::vector<PathFilterEntry> entries, bool watched_only)
        : entries_(std::move(entries)), watched_only_(watched_only) {}
    bool allows(std::string_view action, const std::string& path, const std::string& target_path) const;

private:
    bool allows_path(const std::string& path) const;
    std::vector<PathFilterEntry> entries_;
    bool watched_only_;
};

}  // namespace ktrail::bpf
