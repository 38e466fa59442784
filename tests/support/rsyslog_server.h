// A private rsyslogd for tests (root only): Debian's real /usr/sbin/rsyslogd
// run in the foreground (-n) with its own config, pid file and work
// directory in a temp dir, never the system service. It listens with imtcp
// on 127.0.0.1 and a free port, plain or TLS (the "ossl" stream driver), and
// writes every message whose APP-NAME is "ktrail" to DIR/received.jsonl, one
// JSON object per line with the fields rsyslog parsed out of it:
//   pri severity facility timestamp hostname app procid msgid sd msg raw
// ("raw" is the message as received, without its octet-count frame).
//
//   ktrail::test::RsyslogServer rs;                     // plain TCP, started
//   ... send to 127.0.0.1:rs.port() ...
//   rs.wait_for_lines(100, 10s);
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace ktrail::test {

struct RsyslogOptions {
    bool tls = false;
    // The server's side of TLS (PEM files). "anon": any client; "x509/certvalid":
    // clients must show a certificate signed by `ca`.
    std::string ca{}, cert{}, key{};  // (initialized: designated initializers may leave them out)
    std::string auth_mode = "anon";
};

class RsyslogServer {
public:
    // Starts it; throws std::runtime_error saying what failed (with rsyslogd's output).
    explicit RsyslogServer(RsyslogOptions options = {});
    ~RsyslogServer();  // stops it and removes the directory
    RsyslogServer(const RsyslogServer&) = delete;
    RsyslogServer& operator=(const RsyslogServer&) = delete;

    static constexpr const char* kBinary = "/usr/sbin/rsyslogd";

    // Starts it on port() (a free port chosen on the first start) and waits
    // until it listens.
    void start();
    // SIGTERM, then waits for it to exit (SIGKILL after 10 s).
    void stop();
    // Stops it and starts it again on the same port (the output file is kept).
    void restart();
    bool running() const { return pid_ > 0; }

    int port() const { return port_; }
    const std::string& dir() const { return dir_; }
    // The lines received so far (complete lines only).
    std::vector<std::string> lines() const;
    // Waits until at least `n` lines were received; how many there are.
    size_t wait_for_lines(size_t n, std::chrono::milliseconds timeout) const;
    // rsyslogd's own output and internal messages, for a failing test's message.
    std::string log() const;

private:
    void write_config() const;
    bool listening() const;
    void start_watchdog();
    void stop_watchdog();

    RsyslogOptions options_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
    pid_t watchdog_ = -1;
    int watchdog_fd_ = -1;
};

}  // namespace ktrail::test
