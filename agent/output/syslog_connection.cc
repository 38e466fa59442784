#include "output/syslog_connection.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ktrail::syslog {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kPollSlice = 100ms;  // how soon a wait notices cancel()

// OpenSSL writes to the socket with write(2), which raises SIGPIPE on a
// closed connection; block it around TLS calls and swallow one we caused.
class SigpipeBlock {
public:
    SigpipeBlock() {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &s, &old_);
        sigset_t pending;
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE);
    }
    ~SigpipeBlock() {
        sigset_t pending;
        sigpending(&pending);
        if (!was_pending_ && sigismember(&pending, SIGPIPE)) {
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, SIGPIPE);
            timespec zero{};
            sigtimedwait(&s, nullptr, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    SigpipeBlock(const SigpipeBlock&) = delete;
    SigpipeBlock& operator=(const SigpipeBlock&) = delete;

private:
    sigset_t old_;
    bool was_pending_ = false;
};

// Waits until `fd` is ready for `events` (or has an error for the caller's
// next call to report); fails at `deadline` or on cancel.
Result<void> wait_fd(int fd, short events, Clock::time_point deadline, const std::atomic<bool>& cancelled,
                     const std::string& what) {
    for (;;) {
        if (cancelled.load(std::memory_order_relaxed)) return fail(what + ": cancelled (the agent is stopping)");
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left <= 0ms) return fail(what + ": timed out");
        pollfd p{fd, events, 0};
        int r = poll(&p, 1, static_cast<int>(std::min(left, std::chrono::milliseconds(kPollSlice)).count()));
        if (r > 0) return {};
        if (r < 0 && errno != EINTR) return fail(fmt::format("{}: poll: {}", what, strerror(errno)));
    }
}

// OpenSSL's error queue as text, oldest first.
std::string ssl_errors() {
    std::string s;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!s.empty()) s += "; ";
        s += buf;
    }
    return s;
}

// What a failed SSL call means, for a message.
std::string ssl_failure(SSL* ssl, int ret, int saved_errno) {
    int e = SSL_get_error(ssl, ret);
    std::string queue = ssl_errors();
    if (e == SSL_ERROR_SYSCALL)
        return queue.empty() ? (saved_errno ? strerror(saved_errno) : "the receiver closed the connection") : queue;
    if (e == SSL_ERROR_ZERO_RETURN) return "the receiver closed the TLS session";
    return queue.empty() ? fmt::format("SSL error {}", e) : queue;
}

bool is_ip_literal(const std::string& s) {
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string address_text(const addrinfo* ai) {
    char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
    getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
    return ai->ai_family == AF_INET6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

// One non-blocking connect to `ai`; the socket or why not.
Result<UniqueFd> connect_one(const addrinfo* ai, Clock::time_point deadline, const std::atomic<bool>& cancelled,
                             const std::string& what) {
    UniqueFd fd(socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    std::string where = fmt::format("{}: connect to {}", what, address_text(ai));
    if (fd.get() < 0) return fail(fmt::format("{}: socket: {}", where, strerror(errno)));
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) return fail(fmt::format("{}: {}", where, strerror(errno)));
        if (auto w = wait_fd(fd.get(), POLLOUT, deadline, cancelled, where); !w) return std::unexpected(w.error());
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err) return fail(fmt::format("{}: {}", where, strerror(err)));
    }
    int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);  // a silent peer is noticed eventually
    return fd;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) close(fd_);
        fd_ = o.release();
    }
    return *this;
}

UniqueFd::~UniqueFd() {
    if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<TlsContext>> TlsContext::create(const TlsConfig& config, const std::string& what) {
    auto tls = std::unique_ptr<TlsContext>(new TlsContext());
    tls->config_ = config;
    tls->ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* ctx = tls->ctx_.get();
    if (!ctx) return fail(fmt::format("{}: cannot create a TLS context: {}", what, ssl_errors()));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (config.ca.empty()) {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1)
            return fail(
                fmt::format("{}: cannot load the system CA store ({}): install ca-certificates or give "
                            "?ca=PATH",
                            what, ssl_errors()));
    } else if (SSL_CTX_load_verify_locations(ctx, config.ca.c_str(), nullptr) != 1) {
        return fail(fmt::format("{}: cannot load the CA file ca={} ({}): give a readable PEM file", what, config.ca,
                                ssl_errors()));
    }
    if (config.cert.empty() != config.key.empty())
        return fail(fmt::format("{}: a client certificate needs both cert=PATH and key=PATH", what));
    if (!config.cert.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx, config.cert.c_str()) != 1)
            return fail(fmt::format("{}: cannot load the client certificate cert={} ({}): give a readable PEM file",
                                    what, config.cert, ssl_errors()));
        if (SSL_CTX_use_PrivateKey_file(ctx, config.key.c_str(), SSL_FILETYPE_PEM) != 1)
            return fail(fmt::format("{}: cannot load the client key key={} ({}): give a readable PEM key", what,
                                    config.key, ssl_errors()));
        if (SSL_CTX_check_private_key(ctx) != 1)
            return fail(fmt::format("{}: key={} is not the key of cert={}", what, config.key, config.cert));
    }
    return tls;
}

Result<std::unique_ptr<Connection>> Connection::open(const Endpoint& endpoint, const TlsContext* tls,
                                                     std::chrono::milliseconds timeout,
                                                     const std::atomic<bool>& cancelled) {
    auto deadline = Clock::now() + timeout;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string port = std::to_string(endpoint.port);
    // getaddrinfo blocks and cannot be cancelled; the resolver's own timeout bounds it.
    if (int rc = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0)
        return fail(fmt::format("{}: cannot resolve '{}': {}", endpoint.name, endpoint.host, gai_strerror(rc)));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
    Error last{endpoint.name + ": no address"};
    for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
        auto fd = connect_one(ai, deadline, cancelled, endpoint.name);
        if (!fd) {
            last = fd.error();
            if (cancelled.load()) break;
            continue;
        }
        auto conn = std::unique_ptr<Connection>(new Connection(endpoint, std::move(*fd)));
        if (tls) {
            if (auto h = conn->handshake(*tls, deadline, cancelled); !h) return std::unexpected(h.error());
        }
        return conn;
    }
    return std::unexpected(last);
}

Result<void> Connection::handshake(const TlsContext& tls, Clock::time_point deadline,
                                   const std::atomic<bool>& cancelled) {
    const std::string& name = tls.config().server_name;
    std::string what = endpoint_.name + ": TLS handshake";
    ERR_clear_error();
    ssl_.reset(SSL_new(tls.get()));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1) return fail(fmt::format("{}: {}", what, ssl_errors()));
    if (is_ip_literal(name)) {  // checked against the certificate's IP addresses; no SNI for an address
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), name.c_str()) != 1)
            return fail(fmt::format("{}: bad server address '{}'", what, name));
    } else if (SSL_set_tlsext_host_name(ssl_.get(), name.c_str()) != 1 ||
               SSL_set1_host(ssl_.get(), name.c_str()) != 1) {
        return fail(fmt::format("{}: bad server name '{}': {}", what, name, ssl_errors()));
    }
    SigpipeBlock no_sigpipe;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(ssl_.get());
        if (r == 1) return {};
        int saved = errno;
        int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (auto w = wait_fd(fd_.get(), e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, cancelled, what); !w)
                return w;
            continue;
        }
        if (long v = SSL_get_verify_result(ssl_.get()); v != X509_V_OK) {
            ERR_clear_error();
            return fail(
                fmt::format("{}: the receiver's certificate was refused: {} (expected a certificate for "
                            "'{}' signed by {}): fix ?server-name= or ?ca=",
                            what, X509_verify_cert_error_string(v), name,
                            tls.config().ca.empty() ? "a CA in the system store" : tls.config().ca));
        }
        return fail(fmt::format("{}: {}", what, ssl_failure(ssl_.get(), r, saved)));
    }
}

Connection::~Connection() {
    if (ssl_) {  // best effort close_notify; never waits
        SigpipeBlock no_sigpipe;
        ERR_clear_error();
        SSL_shutdown(ssl_.get());
        ERR_clear_error();
    }
}

Result<void> Connection::write_all(std::string_view data, std::chrono::milliseconds stall,
                                   const std::atomic<bool>& cancelled) {
    std::string what = endpoint_.name + ": write";
    auto deadline = Clock::now() + stall;
    while (!data.empty()) {
        size_t n = 0;
        short wait_for = POLLOUT;
        if (ssl_) {
            SigpipeBlock no_sigpipe;
            ERR_clear_error();
            errno = 0;
            int chunk = static_cast<int>(std::min<size_t>(data.size(), 1 << 30));
            int r = SSL_write(ssl_.get(), data.data(), chunk);
            int saved = errno;
            if (r > 0) {
                n = static_cast<size_t>(r);
            } else {
                int e = SSL_get_error(ssl_.get(), r);
                if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
                    return fail(fmt::format("{}: {}", what, ssl_failure(ssl_.get(), r, saved)));
                if (e == SSL_ERROR_WANT_READ) wait_for = POLLIN;
            }
        } else {
            ssize_t r = send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
            if (r > 0) {
                n = static_cast<size_t>(r);
            } else if (r < 0 && errno != EAGAIN && errno != EINTR) {
                return fail(fmt::format("{}: {}", what, strerror(errno)));
            }
        }
        if (n > 0) {
            data.remove_prefix(n);
            deadline = Clock::now() + stall;  // progress: the stall clock starts again
            continue;
        }
        if (auto w = wait_fd(fd_.get(), wait_for, deadline, cancelled,
                             fmt::format("{} (the receiver took nothing for {} ms)", what, stall.count()));
            !w)
            return w;
    }
    return {};
}

Result<size_t> Connection::unacked() const {
    int queued = 0;
    if (ioctl(fd_.get(), SIOCOUTQ, &queued) != 0)
        return fail(fmt::format("{}: SIOCOUTQ: {}", endpoint_.name, strerror(errno)));
    return static_cast<size_t>(queued);
}

std::string Connection::broken() const {
    pollfd p{fd_.get(), POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return {};
    if (p.revents & POLLERR) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        return fmt::format("the connection failed ({})", err ? strerror(err) : "socket error");
    }
    if (p.revents & (POLLHUP | POLLRDHUP)) return "the receiver closed the connection";
    return {};
}

}  // namespace ktrail::syslog
