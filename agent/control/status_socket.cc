#include "control/status_socket.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "control/status_json.h"

namespace ktrail::control {
namespace {

// Whether something accepts connections at `addr` (a live agent).
bool answers(const sockaddr_un& addr) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return ok;
}

}  // namespace

Result<std::unique_ptr<StatusSocket>> StatusSocket::listen(const std::string& path, const SnapshotBox& box) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path))
        return fail(fmt::format("--control {}: a socket path must be 1 to {} bytes long", path,
                                sizeof(addr.sun_path) - 1));
    memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    auto dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) {
        std::error_code ec;
        if (std::filesystem::create_directories(dir, ec))
            std::filesystem::permissions(dir, std::filesystem::perms(0755), ec);
        if (ec) return fail(fmt::format("--control {}: cannot create {}: {}", path, dir.string(), ec.message()));
    }
    struct stat st{};
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return fail(fmt::format("--control {}: a file that is not a socket is there; remove it or pick another "
                                    "path", path));
        if (answers(addr))
            return fail(fmt::format("--control {}: another ktraild answers there; stop it or give this one its own "
                                    "--control path", path));
        unlink(path.c_str());  // left by an agent that was killed
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(fmt::format("--control {}: socket: {}", path, strerror(errno)));
    // Created under the umask (never group- or world-writable, so no one
    // else can connect meanwhile), then narrowed to root only.
    if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 || chmod(path.c_str(), 0600) != 0 ||
        ::listen(fd, 16) != 0 || lstat(path.c_str(), &st) != 0) {
        int e = errno;
        close(fd);
        return fail(fmt::format("--control {}: {}; pick another --control path", path, strerror(e)));
    }
    std::unique_ptr<StatusSocket> s(new StatusSocket());
    s->path_ = path;
    s->dev_ = st.st_dev;
    s->ino_ = st.st_ino;
    PollServer::Options o;
    o.name = "status";
    o.max_request = 0;  // nothing is read: the document goes out at once
    s->server_ = std::make_unique<PollServer>(
        fd, [&box](std::string_view) { return render_status_json(box.latest()); }, std::move(o));
    return s;
}

void StatusSocket::stop() {
    if (!server_) return;
    server_->stop();
    server_.reset();
    // Only our own: a newer agent may have replaced it meanwhile.
    struct stat st{};
    if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) unlink(path_.c_str());
}

StatusSocket::~StatusSocket() { stop(); }

}  // namespace ktrail::control
