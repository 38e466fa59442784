#include "run_as.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ktrail::collector {

Result<void> settle_identity(const std::string& user, bool allow_root) {
    if (user.empty()) {
        if (geteuid() == 0 && !allow_root)
            return fail("refusing to run as root: the collector needs no privileges. Run it as its own user "
                        "(the package's unit has User=ktrail), or pass --user NAME to switch to one after start, "
                        "or --allow-root to run as root anyway");
        return {};
    }
    errno = 0;
    passwd* pw = getpwnam(user.c_str());
    if (!pw) return fail(fmt::format("--user {}: no such user{}", user, errno ? std::string(": ") + strerror(errno) : ""));
    if (geteuid() != 0) {
        if (pw->pw_uid == geteuid()) return {};
        return fail(fmt::format("--user {}: switching users needs root; run it as {} directly", user, user));
    }
    if (pw->pw_uid == 0) return fail(fmt::format("--user {}: that is root; name an unprivileged user", user));
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
        return fail(fmt::format("--user {}: cannot switch to it: {}", user, strerror(errno)));
    // Leaving uid 0 cleared every capability; make sure root cannot come back.
    if (setuid(0) == 0) return fail(fmt::format("--user {}: could switch back to root after dropping it", user));
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    spdlog::info("running as {} (uid {}, gid {})", user, pw->pw_uid, pw->pw_gid);
    return {};
}

}  // namespace ktrail::collector
