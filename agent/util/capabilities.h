// Least privilege for ktraild: the capabilities a thread keeps after start-up.
//
// Capabilities, the bounding set, securebits and no_new_privs are per thread
// in Linux, and a new thread copies its creator's. ktraild drops while it has
// one thread (keep_only() checks), so every thread made later starts from the
// reduced set; threads that need none (outputs, forwarders) call
// drop_all_in_this_thread() first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/error.h"

namespace ktrail::caps {

// A set of capability numbers (CAP_* from <linux/capability.h>) as a bit mask.
using Set = uint64_t;
constexpr Set bit(int cap) { return Set{1} << cap; }

struct State {
    Set effective = 0, permitted = 0, inheritable = 0, bounding = 0;
};

// The calling thread's sets (bounding from PR_CAPBSET_READ).
State current();

// Makes `keep` (intersected with what the thread has) its effective and
// permitted sets, empties the inheritable and ambient sets, removes every
// other capability from the bounding set, locks root's special treatment on
// exec away (SECBIT_NOROOT) and sets no_new_privs. Refuses when the process
// has more than one thread: the others would keep what they have.
// Returns what was kept.
Result<Set> keep_only(Set keep);

// The calling thread gives up every capability (uid 0 stays uid 0: files root
// owns stay writable to it) and sets no_new_privs for itself.
Result<void> drop_all_in_this_thread();

// The calling thread empties its bounding set (when it has cap_setpcap;
// otherwise the set stays and no_new_privs is what keeps exec from using it).
void empty_bounding_set_in_this_thread();

// The calling thread gives up `drop` (effective, permitted, and the bounding
// set while it has cap_setpcap, which goes last). For capabilities held only
// for a while after keep_only(): threads started meanwhile keep theirs.
Result<void> drop_in_this_thread(Set drop);

// "cap_audit_control,cap_sys_ptrace" (or "none").
std::string names(Set set);

// Threads of this process (/proc/self/task).
int thread_count();

}  // namespace ktrail::caps
