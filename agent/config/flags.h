// Flags and their config-file twins. A program keeps ONE table of its flags;
// the command line and the config files are both read through it, so every
// flag has a config key (its long name without "--") by construction, and an
// unknown key is whatever the table does not name.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace ktrail::config {

enum class Kind {
    boolean,  // --flag (or --flag=true|false); key: true or false
    scalar,   // --flag VALUE; key: one value
    list,     // --flag VALUE, repeatable; key: a list, or one value
};

struct FlagSpec {
    std::string_view name;  // without "--"; the config key
    Kind kind;
    bool twin = true;       // false: command line only (--config, --help, --version)
};

// A table row: `apply` takes one value ("true"/"false" for a boolean) and
// says what is wrong with it as "takes X, not 'v'" (the caller names the
// flag or the file, line and key).
template <class Target>
struct Flag : FlagSpec {
    Result<void> (*apply)(Target&, const std::string& value) = nullptr;
};

// Where a setting came from: a config file's line, or the command line.
struct Origin {
    std::string file;  // empty: the command line
    int line = 0;
};

struct Setting {
    std::vector<std::string> values;  // one for boolean and scalar keys
    Origin origin;                    // the key's
    std::vector<int> lines;           // each value's line in a config file (a list's items differ)
};

// By key. A later source replaces a key whole (lists included).
using Settings = std::map<std::string, Setting, std::less<>>;

// How a message names a setting: "--name" or "FILE:LINE: key 'name':".
std::string describe(std::string_view name, const Origin& origin);

// `top` over `base`, key by key.
void overlay(Settings& base, const Settings& top);

// The command line through the table: "--flag value", "--flag=value",
// "-h" for --help. Errors name the flag and say to see --help.
Result<Settings> parse_args(const std::vector<FlagSpec>& table, int argc, char** argv);

// The log-level value both daemons take (trace, debug, info, warn, error, off).
Result<void> check_log_level(const std::string& value);

// The closest table name within two edits, for "did you mean".
std::string_view nearest(const std::vector<FlagSpec>& table, std::string_view name);

template <class Target>
std::vector<FlagSpec> specs(const std::vector<Flag<Target>>& table) {
    return std::vector<FlagSpec>(table.begin(), table.end());
}

// Applies every setting in table order; the first bad value is the error.
template <class Target>
Result<void> apply(const std::vector<Flag<Target>>& table, const Settings& settings, Target& target) {
    for (const auto& flag : table) {
        auto it = settings.find(flag.name);
        if (it == settings.end()) continue;
        const Setting& s = it->second;
        for (size_t i = 0; i < s.values.size(); ++i) {
            if (auto ok = flag.apply(target, s.values[i]); !ok) {
                Origin at = s.origin;
                if (i < s.lines.size()) at.line = s.lines[i];
                return fail(describe(flag.name, at) + " " + ok.error().message);
            }
        }
    }
    return {};
}

}  // namespace ktrail::config
