// The control socket (`--control PATH`, default /run/ktrail/ktraild.sock):
// a unix stream socket, root only (0600), that answers every connection
// with one status document and closes it. `ktrail status` reads it.
#pragma once

#include <memory>
#include <string>

#include <sys/types.h>

#include "control/poll_server.h"
#include "control/snapshot.h"
#include "util/error.h"

namespace ktrail::control {

inline constexpr const char* kDefaultControlSocket = "/run/ktrail/ktraild.sock";

class StatusSocket {
public:
    // Creates the socket (and its directory, 0755). A socket left by a
    // killed agent is replaced; one a running agent answers on is an error.
    static Result<std::unique_ptr<StatusSocket>> listen(const std::string& path, const SnapshotBox& box);
    ~StatusSocket();  // stops and removes the socket (if it is still ours)
    void start(const ThreadPrivileges& privileges) { server_->start(privileges); }
    void stop();
    const std::string& path() const { return path_; }

private:
    StatusSocket() = default;
    std::unique_ptr<PollServer> server_;
    std::string path_;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
};

}  // namespace ktrail::control
