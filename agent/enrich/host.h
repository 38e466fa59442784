// Where: the host and agent identity stamped on every event.
#pragma once

#include <string>

#include "util/error.h"

namespace ktrail {

struct HostIdentity {
    std::string machine_id;  // /etc/machine-id
    std::string hostname;
    std::string boot_id;     // /proc/sys/kernel/random/boot_id
    std::string agent_id;    // created once, kept in the state dir
};

// Reads the host's ids and loads (or creates) the agent id in `state_dir`.
Result<HostIdentity> load_host_identity(const std::string& state_dir);

// The current boot's id.
std::string read_boot_id();

}  // namespace ktrail
