// A process's credentials as /proc shows them: capability sets and
// no_new_privs of its main thread and of each of its threads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ktrail::test {

// The value of a "Name:\tvalue" line of /proc/PID/status (or of
// /proc/PID/task/TID/status when tid > 0); "" if absent.
std::string status_field(pid_t pid, const std::string& name, pid_t tid = 0);
// CapEff, CapPrm, CapInh, CapBnd, CapAmb: the hex mask as a number.
uint64_t cap_field(pid_t pid, const std::string& name, pid_t tid = 0);
// Every thread id of PID (its main thread included).
std::vector<pid_t> threads_of(pid_t pid);
// The bit mask of these capabilities (CAP_* numbers).
uint64_t cap_mask(std::initializer_list<int> caps);

}  // namespace ktrail::test
