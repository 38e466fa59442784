// `--metrics ADDR:PORT`: GET /metrics over a minimal HTTP/1.1 server (one
// request per connection), rendering the latest published snapshot.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "control/poll_server.h"
#include "control/snapshot.h"
#include "util/error.h"

namespace ktrail::control {

// The response to one HTTP request (the bytes up to the blank line, or
// less); nullopt while the request head is incomplete.
std::optional<std::string> http_respond(std::string_view request, const SnapshotBox& box);

class MetricsServer {
public:
    // Binds and listens (port 0: any free port); the error names the address and the fix.
    static Result<std::unique_ptr<MetricsServer>> listen(const std::string& address, const SnapshotBox& box);
    void start(const ThreadPrivileges& privileges) { server_->start(privileges); }
    void stop() { server_->stop(); }
    // Where it listens, as ADDR:PORT (the port it got).
    const std::string& address() const { return address_; }

private:
    MetricsServer() = default;
    std::unique_ptr<PollServer> server_;
    std::string address_;
};

}  // namespace ktrail::control
