// A tiny single-threaded server for the agent's own endpoints (metrics,
// status): one poll() loop on its own thread, non-blocking sockets, one
// response per connection, then close. Bounded: request size, connections
// at once and each connection's lifetime, so a slow or hostile client never
// holds it up and nothing here ever waits on the agent loop.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "util/thread_identity.h"

namespace ktrail::control {

class PollServer {
public:
    // Called with what a connection sent so far (empty right after accept):
    // the response once the request is complete, nullopt to read more.
    using Respond = std::function<std::optional<std::string>(std::string_view request)>;
    struct Options {
        std::string name;                  // for logs: "metrics", "status"
        size_t max_request = 8192;         // past this: `too_large` is sent and the connection closed
        std::string too_large;             // may be empty (just closed)
        size_t max_connections = 16;       // more wait in the listen backlog
        std::chrono::milliseconds timeout{5000};
    };

    // Takes `listen_fd` (bound, listening).
    PollServer(int listen_fd, Respond respond, Options options);
    ~PollServer();
    PollServer(const PollServer&) = delete;
    PollServer& operator=(const PollServer&) = delete;

    // The thread applies `privileges` before it answers anything.
    void start(const ThreadPrivileges& privileges = {.drop_capabilities = true, .user = {}});
    void stop();

private:
    void loop();

    int listen_fd_;
    int wake_fd_ = -1;  // eventfd: stop()
    Respond respond_;
    Options options_;
    std::thread thread_;
};

}  // namespace ktrail::control
