// What a BPF record says about the acting process, for the enricher.
#pragma once

#include <cstdint>

namespace ktrail {

struct TaskRef {
    uint32_t pid = 0;  // the process (thread group)
    uint32_t ppid = 0;
    uint64_t start_ns = 0;  // boot-time ns
    uint64_t parent_start_ns = 0;
    uint64_t cgroup_id = 0;  // cgroup v2 id
};

// What the record says about the process's life.
enum class Lifecycle { kNone, kFork, kExec, kExit };

}  // namespace ktrail
