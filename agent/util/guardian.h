// A child process that puts things back if this process dies without doing
// it itself (SIGKILL, crash): it waits for EOF on a pipe, then runs
// `restore`. A clean stop dismisses it first. The child keeps none of the
// parent's file descriptors (not its BPF links, not its netlink sockets) and
// runs in its own session, so a signal to the agent's group does not reach it.
#pragma once

#include <sys/types.h>

#include <functional>

namespace ktrail {

class Guardian {
public:
    Guardian() = default;
    // `restore` runs in the child, with a copy of the parent's memory.
    static Guardian start(const std::function<void()>& restore);
    Guardian(Guardian&& o) noexcept : fd_(o.fd_), pid_(o.pid_) { o.fd_ = o.pid_ = -1; }
    Guardian& operator=(Guardian&& o) noexcept;
    ~Guardian() { dismiss(); }
    // The parent restored things itself: the child exits without acting.
    void dismiss();
    bool active() const { return fd_ >= 0; }

private:
    int fd_ = -1;
    pid_t pid_ = -1;
};

}  // namespace ktrail
