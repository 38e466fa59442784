// Config files: YAML mappings of flag twins, read through a program's flag
// table (config/flags.h). Every error is one line, "FILE:LINE: key 'x':
// what is wrong and the fix", and reading stops at the first.
#pragma once

#include <string>
#include <vector>

#include "config/flags.h"
#include "util/error.h"

namespace ktrail::config {

// One file, checked against the table (keys, kinds); values are checked
// when applied.
Result<Settings> read_config_file(const std::vector<FlagSpec>& table, const std::string& path);

// `path`, then every *.yaml in `dropin_dir` in name order, each over the
// ones before key by key. A missing `path` is an error only when `required`
// (it was given with --config); a missing drop-in directory is none, an
// unreadable one an error. `dropin_dir` empty: no drop-ins.
Result<Settings> read_config(const std::vector<FlagSpec>& table, const std::string& path, bool required,
                             const std::string& dropin_dir = "");

}  // namespace ktrail::config
