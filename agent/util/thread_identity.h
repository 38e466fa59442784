// ktraild's unprivileged threads: outputs (and the threads their libraries
// start), forwarders and the metrics and status servers give up every
// capability and, with --user, run as that user.
//
// Credentials are per thread in Linux. glibc's setresuid() changes every
// thread of the process (it signals each one); the raw system calls used here
// change only the calling thread, and a thread copies its creator's
// credentials, so whatever an output library starts from it runs as the user
// too. Switching needs CAP_SETUID and CAP_SETGID, which the agent's main
// thread holds only until these threads have started.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace ktrail {

struct UserIdentity {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary, from the group database
};

// Looks `name` up (passwd and group databases); refuses root.
Result<UserIdentity> lookup_user(const std::string& name);

struct ThreadPrivileges {
    bool drop_capabilities = false;
    std::optional<UserIdentity> user;

    // In the calling thread: becomes `user` (groups, gid, uid), then gives
    // up every capability. Both are attempted; the error names what failed.
    Result<void> apply_to_this_thread() const;
    // "user ktrail, no capabilities", for logs.
    std::string describe() const;
};

}  // namespace ktrail
