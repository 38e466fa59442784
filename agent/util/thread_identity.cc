#include "util/thread_identity.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/capabilities.h"

namespace ktrail {

Result<UserIdentity> lookup_user(const std::string& name) {
    std::vector<char> buf(16384);
    passwd pw{}, *found = nullptr;
    int err = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    if (!found)
        return fail(fmt::format("--user {}: no such user{}", name, err ? std::string(": ") + strerror(err) : ""));
    if (pw.pw_uid == 0) return fail(fmt::format("--user {}: that is root; name an unprivileged user", name));
    UserIdentity id{name, pw.pw_uid, pw.pw_gid, {}};
    int n = 64;
    id.groups.resize(static_cast<size_t>(n));
    if (getgrouplist(pw.pw_name, pw.pw_gid, id.groups.data(), &n) < 0) {
        id.groups.resize(static_cast<size_t>(n));
        if (getgrouplist(pw.pw_name, pw.pw_gid, id.groups.data(), &n) < 0)
            return fail(fmt::format("--user {}: cannot read its groups", name));
    }
    id.groups.resize(static_cast<size_t>(n));
    return id;
}

Result<void> ThreadPrivileges::apply_to_this_thread() const {
    std::string failed;
    if (user) {
        // The bounding set first: leaving uid 0 takes cap_setpcap with it.
        caps::empty_bounding_set_in_this_thread();
        // Raw system calls: this thread only (see the header).
        if (syscall(SYS_setgroups, user->groups.size(), user->groups.data()) != 0 ||
            syscall(SYS_setresgid, user->gid, user->gid, user->gid) != 0 ||
            syscall(SYS_setresuid, user->uid, user->uid, user->uid) != 0) {
            failed = fmt::format("cannot become {} in this thread: {}", user->name, strerror(errno));
        } else if (syscall(SYS_setresuid, 0, 0, 0) == 0) {
            failed = fmt::format("became {} but could become root again", user->name);
        }
    }
    if (drop_capabilities || user)
        if (auto ok = caps::drop_all_in_this_thread(); !ok)
            failed += (failed.empty() ? "" : "; ") + ok.error().message;
    if (!failed.empty()) return fail(failed);
    return {};
}

std::string ThreadPrivileges::describe() const {
    std::string who = user ? fmt::format("user {} (uid {})", user->name, user->uid) : "root";
    return fmt::format("{}, {}", who, drop_capabilities || user ? "no capabilities" : "the agent's capabilities");
}

}  // namespace ktrail
