// ktrail-collector's command line and config file: one flag table drives
// both (agent/config/flags.h), so every flag has a config key.
#pragma once

#include <string>
#include <vector>

#include "config/flags.h"
#include "server.h"

namespace ktrail::collector {

inline constexpr const char* kDefaultConfig = "/etc/ktrail/collector.yaml";
inline constexpr const char* kDefaultStore = "sqlite:/var/lib/ktrail/collector.db";

struct CommandLine {
    ServerOptions server;  // its store_url defaults to kDefaultStore
    std::string log_level = "info";
    std::string config = kDefaultConfig;
    std::string user;         // started as root: switch to this user first
    bool allow_root = false;  // or stay root (refused otherwise)
    bool help = false, version = false;
};

const std::vector<config::Flag<CommandLine>>& flags();
// The config file (--config, or `default_config` if it exists; no drop-ins),
// then the flags over it, key by key. --help and --version read no config.
Result<CommandLine> parse_command_line(int argc, char** argv, const std::string& default_config = kDefaultConfig);

}  // namespace ktrail::collector
