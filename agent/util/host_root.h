// The host's file system as the processes ktraild watches see it: the root
// directory and mount namespace of init (PID 1), held open from start-up.
//
// ktraild may run in a mount namespace of its own (its unit's
// ProtectSystem=, ProtectHome=, PrivateTmp=): its "/" may then not be the
// host's, nor its /tmp. Names processes pass to syscalls are resolved under
// this root (source/bpf/path_resolver.h), and audit watches, which the kernel
// resolves in ktraild's namespace, are checked against it
// (source/audit/audit_rules.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/error.h"

namespace ktrail {

class HostRoot {
public:
    // init's root and mount namespace (/proc/1/root, /proc/1/ns/mnt: needs
    // CAP_SYS_PTRACE over init, so call it before dropping privileges).
    // When init is out of reach (a sandbox that hides it from ktraild), the
    // outermost ancestor of ktraild whose root it may open stands for the
    // host; when none, ktraild's own "/" and namespace. note() says which
    // and why.
    static HostRoot open();
    // `dir` stands for the host's "/", processes in `mnt_ns` for its
    // processes (tests).
    static Result<HostRoot> at(const std::string& dir, uint32_t mnt_ns);

    HostRoot(HostRoot&& o) noexcept;
    HostRoot& operator=(HostRoot&& o) noexcept;
    HostRoot(const HostRoot&) = delete;
    HostRoot& operator=(const HostRoot&) = delete;
    ~HostRoot();

    int fd() const { return fd_; }  // O_PATH directory
    uint32_t mnt_ns() const { return mnt_ns_; }
    // Empty when init's root is used; otherwise what is used instead, and why.
    const std::string& note() const { return note_; }

    // The nearest existing directory at or above `path` (absolute) in
    // ktraild's view, when the host has another directory (or none) under
    // that name; nullopt when both see the same one.
    std::optional<std::string> differing_dir(std::string_view path) const;

private:
    HostRoot(int fd, uint32_t mnt_ns, std::string note) : fd_(fd), mnt_ns_(mnt_ns), note_(std::move(note)) {}
    int fd_ = -1;
    uint32_t mnt_ns_ = 0;
    std::string note_;
};

// The mount namespace inode behind an ns link ("/proc/self/ns/mnt"); 0 when unreadable.
uint32_t mount_namespace_of(const char* ns_link);

// Opens `path` (absolute; relative to `root_fd` otherwise) as O_PATH, resolved
// as the kernel resolves it for a process whose root `root_fd` is: `..` and
// absolute symlink targets stay under it; /proc magic links are refused.
// `follow`: a final symlink is followed. -1 with errno set on failure.
int open_in_root(int root_fd, const std::string& path, bool follow, bool directory = false);

}  // namespace ktrail
