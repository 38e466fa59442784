// ktraild's command line and config files: one flag table (options.cc)
// drives both, so every flag has a config key, its long name without "--".
#pragma once

#include <string>
#include <vector>

#include "agent.h"
#include "config/flags.h"
#include "util/error.h"

namespace ktrail {

inline constexpr const char* kDefaultConfig = "/etc/ktrail/ktrail.yaml";

struct CommandLine {
    AgentOptions agent;
    std::string log_level = "info";
    std::string config = kDefaultConfig;  // --config; its conf.d/ is read after it
    bool config_given = false;            // a missing --config file is an error, a missing default is not
    bool help = false;
    bool version = false;
    config::Settings settings;  // everything applied, by key: the files' and the flags'
};

// Every flag, each the twin of a config key (except --config, --help, --version).
const std::vector<config::Flag<CommandLine>>& flags();
// The flags alone, checked against the table but not applied (main keeps
// them: SIGHUP reads the config files again and lays them over).
Result<config::Settings> parse_flags(int argc, char** argv);
// The config file --config names (or `default_config`), then every *.yaml
// in the conf.d/ next to it, then `flags` over them (a flag replaces a key
// whole, lists too); all read and checked before anything is applied.
// --help and --version read no config.
Result<CommandLine> load_options(const config::Settings& flags, const std::string& default_config = kDefaultConfig);
// Both.
Result<CommandLine> parse_command_line(int argc, char** argv, const std::string& default_config = kDefaultConfig);
const char* usage();

}  // namespace ktrail
