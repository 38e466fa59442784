// e2e harness for the central side: development certificates made by
// scripts/dev-certs.sh, and the real ktrail-collector binary listening on
// 127.0.0.1 (a free port) with its store in a test directory.
//
// A test executable that uses it defines KTRAIL_COLLECTOR (the binary, e.g.
// "$<TARGET_FILE:ktrail-collector>") and KTRAIL_SCRIPTS (the scripts folder).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "forward/collector_client.h"

namespace ktrail::e2e {

struct DevCerts {
    std::string dir;
    std::string ca() const { return dir + "/ca.crt"; }
    std::string collector_cert() const { return dir + "/collector.crt"; }
    std::string collector_key() const { return dir + "/collector.key"; }
    std::string agent_cert(const std::string& host) const { return dir + "/agent-" + host + ".crt"; }
    std::string agent_key(const std::string& host) const { return dir + "/agent-" + host + ".key"; }
};

// Runs scripts/dev-certs.sh DIR HOST...: a CA, the collector's pair (SAN
// localhost, 127.0.0.1, ::1) and one agent pair per host (CN=host). Calling
// it again with more hosts adds them under the same CA.
DevCerts make_dev_certs(const std::string& dir, const std::vector<std::string>& hosts);

struct CollectorOptions {
    // (Every member has an initializer, so designated initializers such as
    // {.store_url = url} need not name the rest under -Wextra.)
    std::string store_url{};               // empty: sqlite:DIR/collector.db
    std::vector<std::string> extra_args{}; // e.g. {"--retention", "30"}
    std::string listen = "127.0.0.1:0";   // port 0: any free one (restart() keeps it)
    bool tls = true;                       // false: start without --tls-* (to see it refuse)
};

// The real ktrail-collector as a child process; its stderr goes to DIR/collector.log.
class Collector {
public:
    Collector(std::string dir, DevCerts certs, CollectorOptions options = {});
    ~Collector();  // SIGKILLs and reaps it if still running
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;

    // Starts it and waits (20 s at most) for its "listening on ADDR:PORT" line;
    // fails the test if it exits or stays silent.
    void start();
    // Starts it and waits for it to exit (a refused start); its wait status.
    int start_expecting_exit();
    // Signals it and reaps it (10 s, then SIGKILL); its wait status.
    int stop(int sig = SIGTERM);
    // Stops it and starts it again on the same port.
    void restart();

    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    int port() const { return port_; }
    std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
    const std::string& store_url() const { return store_url_; }
    const DevCerts& certs() const { return certs_; }
    std::string log_path() const { return dir_ + "/collector.log"; }
    std::string log() const;  // everything it has logged (all runs)

    // What an agent on `host` uses to reach it (certificate from make_dev_certs).
    forward::ClientOptions client_options(const std::string& host) const;

private:
    void spawn(const std::string& listen);
    std::string dir_;
    DevCerts certs_;
    CollectorOptions options_;
    std::string store_url_;
    pid_t pid_ = -1;
    int port_ = 0;
    size_t log_seen_ = 0;  // where this run's log starts
};

}  // namespace ktrail::e2e
