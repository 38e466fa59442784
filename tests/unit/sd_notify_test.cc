// sd_notify without libsystemd: datagrams to a real AF_UNIX socket, named by a
// path or as an abstract "@name", and nothing at all when NOTIFY_SOCKET is unset.
#include "util/sd_notify.h"

#include <catch2/catch.hpp>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

namespace {

// A datagram socket bound to `name` ("@..." abstract), as systemd listens.
class Receiver {
public:
    explicit Receiver(const std::string& name) {
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, name.data(), name.size());
        if (name[0] == '@') addr.sun_path[0] = '\0';
        REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) == 0);
        timeval tv{2, 0};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    ~Receiver() { close(fd_); }
    std::string next() {
        char buf[512];
        ssize_t n = recv(fd_, buf, sizeof(buf), 0);
        return n < 0 ? std::string("<nothing: ") + strerror(errno) + ">" : std::string(buf, static_cast<size_t>(n));
    }

private:
    int fd_ = -1;
};

struct EnvGuard {
    ~EnvGuard() { unsetenv("NOTIFY_SOCKET"); }
};

}  // namespace

TEST_CASE("sd_notify sends each state as one datagram to a socket path", "[sd_notify]") {
    EnvGuard env;
    char tmpl[] = "/tmp/ktrail-notify-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    std::string path = std::string(tmpl) + "/notify";
    {
        Receiver r(path);
        setenv("NOTIFY_SOCKET", path.c_str(), 1);
        auto sent = ktrail::sd::notify("READY=1\nSTATUS=capturing");
        REQUIRE(sent.has_value());
        CHECK(*sent);
        CHECK(r.next() == "READY=1\nSTATUS=capturing");
        REQUIRE(ktrail::sd::notify("STOPPING=1").value_or(false));
        CHECK(r.next() == "STOPPING=1");
    }
    std::filesystem::remove_all(tmpl);
}

TEST_CASE("sd_notify reaches an abstract socket named with @", "[sd_notify]") {
    EnvGuard env;
    std::string name = "@ktrail-notify-test-" + std::to_string(getpid());
    Receiver r(name);
    setenv("NOTIFY_SOCKET", name.c_str(), 1);
    REQUIRE(ktrail::sd::notify("RELOADING=1").value_or(false));
    CHECK(r.next() == "RELOADING=1");
    REQUIRE(ktrail::sd::notify("READY=1").value_or(false));
    CHECK(r.next() == "READY=1");
}

TEST_CASE("sd_notify does nothing without NOTIFY_SOCKET and names a socket it cannot use", "[sd_notify]") {
    EnvGuard env;
    unsetenv("NOTIFY_SOCKET");
    auto none = ktrail::sd::notify("READY=1");
    REQUIRE(none.has_value());
    CHECK_FALSE(*none);

    setenv("NOTIFY_SOCKET", "/nonexistent/ktrail/notify", 1);
    auto missing = ktrail::sd::notify("READY=1");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().message.find("/nonexistent/ktrail/notify") != std::string::npos);

    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
    auto vsock = ktrail::sd::notify("READY=1");
    REQUIRE_FALSE(vsock.has_value());
    CHECK(vsock.error().message.find("only a socket path or an @abstract name") != std::string::npos);
}
