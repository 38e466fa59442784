// The collector needs no privileges: it refuses to run as root unless told
// to switch to a user (--user) or allowed to stay (--allow-root).
#pragma once

#include <string>

#include "util/error.h"

namespace ktrail::collector {

// As root: switches to `user` (its groups too) when given, refuses when not
// and !allow_root. Not root: `user` must be the current one or empty. Run it
// before any thread starts (setuid applies to the whole process only then
// without relying on libc's broadcast) and before any file is opened, so
// the store is made by the user that will write it.
Result<void> settle_identity(const std::string& user, bool allow_root);

}  // namespace ktrail::collector
