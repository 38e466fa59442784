// A process's stable identity: the same on every event of that process, from
// BPF and audit alike, and never reused on this host.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ktrail {

// start_boot_ns: the process's start in boot-time ns (task start_boottime).
// It is cut to clock ticks, the precision /proc/PID/stat gives, so that a
// process seen first through /proc gets the same id.
std::string entity_id(std::string_view boot_id, uint32_t pid, uint64_t start_boot_ns);

}  // namespace ktrail
