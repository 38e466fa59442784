// ktraild's command line.
#pragma once

#include <string>
#include <vector>

#include "agent.h"
#include "util/error.h"

namespace ktrail {

struct CommandLine {
    AgentOptions agent;
    std::string log_level = "info";
    bool help = false;
    bool version = false;
};

Result<CommandLine> parse_command_line(int argc, char** argv);
const char* usage();

}  // namespace ktrail
