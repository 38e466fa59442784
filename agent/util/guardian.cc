#include "util/guardian.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ktrail {

Guardian Guardian::start(const std::function<void()>& restore) {
    Guardian g;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        spdlog::warn("no guardian process ({}): a crash would leave kernel state behind", strerror(errno));
        return g;
    }
    pid_t pid = fork();
    if (pid < 0) {
        spdlog::warn("no guardian process ({}): a crash would leave kernel state behind", strerror(errno));
        close(p[0]);
        close(p[1]);
        return g;
    }
    if (pid == 0) {
        dup2(p[0], 3);
        close_range(4, ~0U, 0);
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        char c = 0;
        ssize_t n;
        while ((n = read(3, &c, 1)) < 0 && errno == EINTR) {
        }
        if (n != 1) restore();  // EOF: the parent is gone without dismissing us
        _exit(0);
    }
    close(p[0]);
    g.fd_ = p[1];
    g.pid_ = pid;
    return g;
}

Guardian& Guardian::operator=(Guardian&& o) noexcept {
    if (this != &o) {
        dismiss();
        fd_ = o.fd_;
        pid_ = o.pid_;
        o.fd_ = o.pid_ = -1;
    }
    return *this;
}

void Guardian::dismiss() {
    if (fd_ < 0) return;
    char done = 1;
    (void)!write(fd_, &done, 1);
    close(fd_);
    waitpid(pid_, nullptr, 0);
    fd_ = pid_ = -1;
}

}  // namespace ktrail
