#include "util/sd_notify.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ktrail::sd {

Result<bool> notify(std::string_view state) {
    const char* where = getenv("NOTIFY_SOCKET");
    if (!where || !*where) return false;
    std::string_view name = where;
    if (name[0] != '/' && name[0] != '@')
        return fail(fmt::format("NOTIFY_SOCKET={}: only a socket path or an @abstract name is supported", name));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (name.size() > sizeof(addr.sun_path))
        return fail(fmt::format("NOTIFY_SOCKET={}: longer than a unix socket address", name));
    memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';  // abstract: no terminating NUL, the length says where it ends
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(fmt::format("NOTIFY_SOCKET: socket: {}", strerror(errno)));
    ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
    int err = errno;
    close(fd);
    if (n != static_cast<ssize_t>(state.size()))
        return fail(fmt::format("NOTIFY_SOCKET={}: cannot send '{}': {}", name, state, n < 0 ? strerror(err) : "short write"));
    return true;
}

void notify_or_warn(std::string_view state) {
    if (auto ok = notify(state); !ok) spdlog::warn("service manager notification: {}", ok.error().message);
}

}  // namespace ktrail::sd
