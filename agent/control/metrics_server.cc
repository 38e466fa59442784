#include "control/metrics_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control/prometheus.h"

namespace ktrail::control {
namespace {

std::string response(const char* status, std::string_view content_type, std::string_view body, bool head = false,
                     const char* extra = "") {
    return fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
                       status, content_type, body.size(), extra, head ? std::string_view() : body);
}

std::string text(const char* status, std::string_view body, const char* extra = "") {
    return response(status, "text/plain; charset=utf-8", body, false, extra);
}

// "HOST:PORT" or "[V6]:PORT"; an empty host is every address.
Result<std::pair<std::string, std::string>> split_address(const std::string& a) {
    auto colon = a.rfind(':');
    if (colon == std::string::npos || colon + 1 == a.size())
        return fail(fmt::format("--metrics {}: give ADDR:PORT, e.g. 127.0.0.1:9464", a));
    std::string host = a.substr(0, colon), port = a.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return std::pair{host, port};
}

std::string format_address(const sockaddr_storage& ss) {
    char host[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET6) {
        const auto& s6 = reinterpret_cast<const sockaddr_in6&>(ss);
        inet_ntop(AF_INET6, &s6.sin6_addr, host, sizeof(host));
        return fmt::format("[{}]:{}", host, ntohs(s6.sin6_port));
    }
    const auto& s4 = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &s4.sin_addr, host, sizeof(host));
    return fmt::format("{}:{}", host, ntohs(s4.sin_port));
}

}  // namespace

std::optional<std::string> http_respond(std::string_view request, const SnapshotBox& box) {
    if (request.find("\r\n\r\n") == std::string_view::npos && request.find("\n\n") == std::string_view::npos)
        return std::nullopt;
    auto eol = request.find_first_of("\r\n");
    std::string_view line = request.substr(0, eol);
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/"))
        return text("400 Bad Request", "bad request line\n");
    std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    if (method != "GET" && method != "HEAD")
        return text("405 Method Not Allowed", "only GET\n", "Allow: GET, HEAD\r\n");
    if (target != "/metrics") return text("404 Not Found", "not found; metrics are at /metrics\n");
    return response("200 OK", kPrometheusContentType, render_prometheus(box.latest()), method == "HEAD");
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::listen(const std::string& address, const SnapshotBox& box) {
    auto parts = split_address(address);
    if (!parts) return std::unexpected(parts.error());
    auto& [host, port] = *parts;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found); rc != 0)
        return fail(fmt::format("--metrics {}: {}; give ADDR:PORT, e.g. 127.0.0.1:9464", address, gai_strerror(rc)));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(fmt::format("--metrics {}: socket: {}", address, strerror(errno)));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        return fail(fmt::format("--metrics {}: cannot listen there: {}; pick another address or port (0: any free one)",
                                address, strerror(e)));
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    std::unique_ptr<MetricsServer> m(new MetricsServer());
    m->address_ = format_address(bound);
    PollServer::Options o;
    o.name = "metrics";
    o.too_large = text("431 Request Header Fields Too Large", "request too large\n");
    m->server_ = std::make_unique<PollServer>(
        fd, [&box](std::string_view request) { return http_respond(request, box); }, std::move(o));
    return m;
}

}  // namespace ktrail::control
