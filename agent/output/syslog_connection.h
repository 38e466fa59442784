// A client TCP connection to a syslog receiver, plain or TLS (OpenSSL, TLS
// 1.2+, certificate and host name verified). Every wait is a short poll that
// checks a cancel flag, so another thread can make it give up soon.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/error.h"

namespace ktrail::syslog {

struct SslCtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
};

struct TlsConfig {
    std::string ca;           // PEM CA file; empty: the system store
    std::string cert, key;    // optional client certificate and its key
    std::string server_name;  // checked against the certificate, sent as SNI
};

// The TLS client settings shared by every connection of one destination.
class TlsContext {
public:
    // Loads the files now, so a bad path fails at start-up (errors name the
    // spec `what` and the parameter).
    static Result<std::unique_ptr<TlsContext>> create(const TlsConfig& config, const std::string& what);
    SSL_CTX* get() const { return ctx_.get(); }
    const TlsConfig& config() const { return config_; }

private:
    TlsConfig config_;
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
};

class UniqueFd {
public:
    explicit UniqueFd(int fd = -1) : fd_(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept;
    ~UniqueFd();
    int get() const { return fd_; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }

private:
    int fd_;
};

struct Endpoint {
    std::string host;
    uint16_t port = 0;
    std::string name;  // e.g. "syslog+tls://siem.example:6514", for messages
};

class Connection {
public:
    // Connects within `timeout` (each address in turn) and, with `tls`,
    // handshakes and verifies the receiver's certificate.
    static Result<std::unique_ptr<Connection>> open(const Endpoint& endpoint, const TlsContext* tls,
                                                    std::chrono::milliseconds timeout,
                                                    const std::atomic<bool>& cancelled);
    ~Connection();

    // Writes all of `data`; fails if the receiver takes nothing for `stall`.
    Result<void> write_all(std::string_view data, std::chrono::milliseconds stall, const std::atomic<bool>& cancelled);
    // Bytes written that the receiver's TCP has not acknowledged (SIOCOUTQ).
    Result<size_t> unacked() const;
    // Why the connection is dead (the receiver closed or reset it), or empty.
    std::string broken() const;

private:
    Connection(const Endpoint& endpoint, UniqueFd fd) : endpoint_(endpoint), fd_(std::move(fd)) {}
    Result<void> handshake(const TlsContext& tls, std::chrono::steady_clock::time_point deadline,
                           const std::atomic<bool>& cancelled);

    Endpoint endpoint_;
    UniqueFd fd_;
    std::unique_ptr<SSL, SslFree> ssl_;  // declared after fd_: freed before the fd closes
};

}  // namespace ktrail::syslog
