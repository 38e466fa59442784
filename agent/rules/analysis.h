// What can be known about a rule set before any event: conditions that can
// never be true, rules that can never act, and which drops the kernel can
// make itself (so dropped events are never copied out).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rules/rule_set.h"

namespace ktrail::rules {

// Appends an error for every rule that can never match and every rule whose
// events are all dropped by a drop rule.
void check_rule_set(const RuleSet& set, std::vector<Diag>& errors);

// Drops the kernel can decide. Conservative: the kernel never drops an event
// the rules would keep; the rules still run in userspace on what remains.
struct KernelDropPlan {
    std::vector<std::string> paths;        // path prefixes
    std::vector<std::string> syscalls;     // syscall names
    std::vector<std::string> executables;  // absolute paths
    std::vector<uint32_t> uids;
    struct Decision {
        std::string rule;
        std::string what;  // "in the kernel: ..." or "in userspace: why"
        bool pushed;
    };
    std::vector<Decision> decisions;  // one per drop rule
};
KernelDropPlan plan_kernel_drops(const RuleSet& set);

}  // namespace ktrail::rules
