// The x86_64 syscalls ktrail traces with BPF: for each, what its arguments
// mean (the descriptor the BPF programs read) and how the agent names and
// resolves the result. The one place that knows syscall numbers.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "ktrail/wire.h"

namespace ktrail::bpf {

struct SyscallInfo {
    uint32_t nr;
    std::string_view name;
    kt_syscall_desc desc;
    // Whether the last component of path[0] is followed when it is a symlink,
    // and the argument slot/mask that flips that (AT_SYMLINK_NOFOLLOW, ...).
    bool follow = false;
    int8_t flip_slot = -1;
    uint64_t flip_mask = 0;
};

// Every traced syscall, in syscall-number order.
std::span<const SyscallInfo> syscall_table();

// The entry for `nr`, or nullptr when ktrail does not trace it.
const SyscallInfo* find_syscall(uint32_t nr);

// True when the call with these arguments followed a final symlink.
bool follows_final_symlink(const SyscallInfo& info, const __u64 (&arg)[4]);

}  // namespace ktrail::bpf
