// A process's stable identity: the same on every event of that process, from
// BPF and audit alike, and never reused on this host.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ktrail {

class EntityIds {
public:
    explicit EntityIds(std::string_view boot_id);
    // start_boot_ns: the process's start in boot-time ns (task start_boottime).
    // It is cut to clock ticks, the precision /proc/PID/stat gives, so that a
    // process seen first through /proc gets the same id.
    uint64_t key(uint32_t pid, uint64_t start_boot_ns) const;
    // The key as it appears in events: 16 lowercase hex digits.
    static std::string format(uint64_t key);
    // The same into `out`, reusing its buffer.
    static void format_to(uint64_t key, std::string& out);
    static uint64_t ticks(uint64_t start_boot_ns) { return start_boot_ns / ns_per_tick(); }
    static uint64_t ns_per_tick();

private:
    uint64_t seed_;  // FNV-1a state after the boot id
};

}  // namespace ktrail
