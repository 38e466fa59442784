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
    bool ia32 = false;  // nr is KT_IA32_BASE + the ia32 number
};

// Every traced syscall: the x86_64 ones, then the ia32 ones.
std::span<const SyscallInfo> syscall_table();

// The entry for a kt_syscalls index, or nullptr when ktrail does not trace it.
const SyscallInfo* find_syscall(uint32_t index);

// An ia32 syscall and the x86_64 entry whose arguments it shares.
struct Ia32Syscall {
    uint32_t nr;
    std::string_view name;
    std::string_view x86_64_template;
};
std::span<const Ia32Syscall> ia32_syscalls();

// True when the call with these arguments followed a final symlink.
bool follows_final_symlink(const SyscallInfo& info, const __u64 (&arg)[4]);

}  // namespace ktrail::bpf
