#include "control/poll_server.h"

#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <vector>

namespace ktrail::control {
namespace {

using Clock = std::chrono::steady_clock;

struct Connection {
    int fd;
    Clock::time_point deadline;
    std::string in;
    std::optional<std::string> out;
    size_t sent = 0;
};

// Reads what is waiting; false when the peer is gone or failed.
bool read_some(Connection& c, size_t limit) {
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
        if (n > 0) {
            c.in.append(buf, static_cast<size_t>(n));
            if (c.in.size() > limit) return true;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        return false;  // EOF before a complete request, or an error
    }
}

// Writes what it can; true when all of it went.
bool write_some(Connection& c, bool& failed) {
    while (c.sent < c.out->size()) {
        ssize_t n = send(c.fd, c.out->data() + c.sent, c.out->size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
        failed = true;
        return false;
    }
    return true;
}

}  // namespace

PollServer::PollServer(int listen_fd, Respond respond, Options options)
    : listen_fd_(listen_fd), respond_(std::move(respond)), options_(std::move(options)) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

PollServer::~PollServer() {
    stop();
    if (wake_fd_ >= 0) close(wake_fd_);
    if (listen_fd_ >= 0) close(listen_fd_);
}

void PollServer::start(const ThreadPrivileges& privileges) {
    // Its socket is bound already: answering needs no privilege, so the
    // thread has none (start() returns once it is so).
    std::promise<void> dropped;
    auto done = dropped.get_future();
    thread_ = std::thread([this, &dropped, &privileges] {
        pthread_setname_np(pthread_self(), ("kt-" + options_.name).substr(0, 15).c_str());
        if (auto ok = privileges.apply_to_this_thread(); !ok)
            spdlog::warn("{} server: {}", options_.name, ok.error().message);
        dropped.set_value();
        loop();
    });
    done.wait();
}

void PollServer::stop() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
}

void PollServer::loop() {
    std::vector<Connection> conns;
    std::vector<pollfd> fds;
    for (;;) {
        fds.clear();
        fds.push_back({wake_fd_, POLLIN, 0});
        // At the connection cap the listener is not polled: the kernel's
        // backlog holds the rest.
        bool accepting = conns.size() < options_.max_connections;
        fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
        auto now = Clock::now();
        int timeout = -1;
        for (const auto& c : conns) {
            fds.push_back({c.fd, static_cast<short>(c.out ? POLLOUT : POLLIN), 0});
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now).count() + 1;
            timeout = timeout < 0 ? static_cast<int>(left) : std::min(timeout, static_cast<int>(left));
        }
        if (poll(fds.data(), fds.size(), timeout < 0 ? -1 : std::max(timeout, 0)) < 0 && errno != EINTR) {
            spdlog::error("{} server: poll: {}; it stops answering", options_.name, strerror(errno));
            break;
        }
        if (fds[0].revents) break;  // stop()
        now = Clock::now();
        std::vector<bool> done(conns.size(), false);
        for (size_t i = 0; i < conns.size(); ++i) {
            Connection& c = conns[i];
            short ev = fds[i + 2].revents;
            if (now >= c.deadline) {
                done[i] = true;
                continue;
            }
            if (!ev) continue;
            bool failed = false;
            if (!c.out) {
                if (!read_some(c, options_.max_request)) {
                    done[i] = true;
                    continue;
                }
                if (c.in.size() > options_.max_request) {
                    if (options_.too_large.empty()) {
                        done[i] = true;
                        continue;
                    }
                    c.out = options_.too_large;
                } else {
                    c.out = respond_(c.in);
                }
            }
            if (c.out && (write_some(c, failed) || failed)) done[i] = true;
        }
        for (size_t i = conns.size(); i-- > 0;) {
            if (!done[i]) continue;
            close(conns[i].fd);
            conns.erase(conns.begin() + static_cast<ptrdiff_t>(i));
        }
        if (accepting && (fds[1].revents & POLLIN)) {
            while (conns.size() < options_.max_connections) {
                int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) break;
                Connection c{fd, Clock::now() + options_.timeout, {}, std::nullopt, 0};
                c.out = respond_("");  // endpoints that need no request answer at once
                bool failed = false;
                if (c.out && (write_some(c, failed) || failed)) {
                    close(fd);
                    continue;
                }
                conns.push_back(std::move(c));
            }
        }
    }
    for (auto& c : conns) close(c.fd);
}

}  // namespace ktrail::control
