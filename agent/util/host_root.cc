#include "util/host_root.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

namespace ktrail {
namespace {

struct PidRoot {
    int fd = -1;
    uint32_t mnt_ns = 0;
};

// /proc/PID/root and the inode of /proc/PID/ns/mnt; errno set on failure.
std::optional<PidRoot> open_pid_root(pid_t pid) {
    std::string dir = fmt::format("/proc/{}", pid);
    int fd = ::open((dir + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    uint32_t ns = mount_namespace_of((dir + "/ns/mnt").c_str());
    if (!ns) {
        int e = errno;
        close(fd);
        errno = e;
        return std::nullopt;
    }
    return PidRoot{fd, ns};
}

// The parent of `pid` from /proc/PID/status; 0 when unknown.
pid_t parent_of(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("PPid:")) return static_cast<pid_t>(std::atoi(line.c_str() + 5));
    return 0;
}

std::string comm_of(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/comm", pid));
    std::string comm;
    std::getline(in, comm);
    return comm.empty() ? "?" : comm;
}

}  // namespace

uint32_t mount_namespace_of(const char* ns_link) {
    struct stat st{};
    if (stat(ns_link, &st) != 0) return 0;
    return static_cast<uint32_t>(st.st_ino);
}

int open_in_root(int root_fd, const std::string& path, bool follow, bool directory) {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW) | (directory ? O_DIRECTORY : 0);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    // EAGAIN: a rename or mount raced the walk (RESOLVE_IN_ROOT checks for
    // that to keep `..` inside the root); the walk may simply be retried.
    for (int attempt = 0;; ++attempt) {
        long fd = syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN || attempt == 3) return static_cast<int>(fd);
    }
}

HostRoot HostRoot::open() {
    if (auto init = open_pid_root(1)) return HostRoot(init->fd, init->mnt_ns, "");
    std::string why = fmt::format("cannot open init's root (/proc/1/root: {})", strerror(errno));
    // Init hidden (an LSM sandbox that ktraild runs in: Landlock, Yama):
    // ktraild's ancestors are what started it, on the host; the outermost
    // one it may open is the closest to init. Each ancestor's root is opened
    // right after its pid is read (a pid reused in between would name
    // another process: ancestors of a running process rarely exit).
    std::optional<PidRoot> best;
    pid_t best_pid = 0;
    for (pid_t p = getppid(); p > 1;) {
        auto r = open_pid_root(p);
        if (!r) break;  // sandboxes nest: the ones further up are hidden too
        if (best) close(best->fd);
        best = r;
        best_pid = p;
        pid_t up = parent_of(p);
        if (up == p) break;
        p = up;
    }
    if (best)
        return HostRoot(best->fd, best->mnt_ns,
                        fmt::format("{}: names are resolved against the root of PID {} ({}), the outermost ancestor of "
                                    "ktraild it may open",
                                    why, best_pid, comm_of(best_pid)));
    int fd = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return HostRoot(fd, mount_namespace_of("/proc/self/ns/mnt"),
                    fmt::format("{}, nor an ancestor's: names are resolved against ktraild's own root, and processes "
                                "in other mount namespaces get lexical paths only",
                                why));
}

Result<HostRoot> HostRoot::at(const std::string& dir, uint32_t mnt_ns) {
    int fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(fmt::format("cannot open {}: {}", dir, strerror(errno)));
    return HostRoot(fd, mnt_ns, "");
}

HostRoot::HostRoot(HostRoot&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), mnt_ns_(o.mnt_ns_), note_(std::move(o.note_)) {}

HostRoot& HostRoot::operator=(HostRoot&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) close(fd_);
        fd_ = std::exchange(o.fd_, -1);
        mnt_ns_ = o.mnt_ns_;
        note_ = std::move(o.note_);
    }
    return *this;
}

HostRoot::~HostRoot() {
    if (fd_ >= 0) close(fd_);
}

std::optional<std::string> HostRoot::differing_dir(std::string_view path) const {
    if (fd_ < 0) return std::nullopt;  // not even "/" could be opened: nothing to compare with
    std::string dir(path);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    struct stat own{};
    // The nearest directory ktraild sees (as the kernel will when it adds
    // the watch: from ktraild's root, in ktraild's namespace).
    while (!(stat(dir.c_str(), &own) == 0 && S_ISDIR(own.st_mode))) {
        size_t slash = dir.rfind('/');
        if (slash == std::string::npos || dir == "/") return std::nullopt;  // not absolute, or "/" unreadable
        dir.resize(slash == 0 ? 1 : slash);
    }
    int fd = open_in_root(fd_, dir, true, true);
    if (fd < 0) return dir;
    struct stat host{};
    bool same = fstat(fd, &host) == 0 && host.st_dev == own.st_dev && host.st_ino == own.st_ino;
    close(fd);
    if (same) return std::nullopt;
    return dir;
}

}  // namespace ktrail
