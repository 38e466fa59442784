// SIGHUP: the config files read again, flags laid over them as at start.
#pragma once

#include "agent.h"
#include "config/flags.h"
#include "options.h"

namespace ktrail {

// A bad config changes nothing: its error is logged and the running config
// and rules stay. A good one applies what can change live (the log level,
// the ktrail rule paths: the rules are read again) and logs every other
// changed key as taking effect at restart. `running` follows what applied.
void reload_config(Agent& agent, const config::Settings& flags, CommandLine& running,
                   const std::string& default_config = kDefaultConfig);

}  // namespace ktrail
