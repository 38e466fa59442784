// Reads what /proc tells about a live process: used to seed the process
// table at start and to fill a process that no event introduced.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ktrail {

struct ProcSnapshot {
    uint32_t pid = 0;
    uint32_t ppid = 0;
    uint64_t start_boot_ns = 0;  // in whole clock ticks: /proc's precision
    std::string name;            // comm
    std::string executable;      // empty for kernel threads
    std::string cwd;
    std::vector<std::string> args;
    bool args_truncated = false;
};

// Bounds on the arguments kept per process (the BPF exec record has its own).
inline constexpr size_t kMaxArgs = 128;
inline constexpr size_t kMaxArgBytes = 4096;

// nullopt when the process is gone (or /proc cannot be read).
std::optional<ProcSnapshot> read_proc(uint32_t pid);
// Only the start time (boot ns, in ticks) and parent: cheaper.
std::optional<std::pair<uint64_t, uint32_t>> read_proc_start(uint32_t pid);
// Every process (thread group) id in /proc.
std::vector<uint32_t> list_pids();
// NUL-separated argv into at most kMaxArgs / kMaxArgBytes strings; true if cut.
bool split_argv(std::string_view argv, size_t argc_limit, std::vector<std::string>& out);

}  // namespace ktrail
