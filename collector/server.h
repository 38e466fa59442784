// The collector's gRPC server: Collector.Submit over mutual TLS, one store,
// and the retention sweep.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "forward/batch_codec.h"
#include "util/error.h"

namespace ktrail::collector {

struct ServerOptions {
    std::string listen;     // ADDR:PORT (PORT 0: any free port, see Server::address())
    std::string store_url;  // sqlite:PATH | postgresql://...
    std::string tls_ca;     // the CA that signs agents' certificates
    std::string tls_cert;   // the collector's certificate and key
    std::string tls_key;
    std::optional<int> retention_days;  // unset: keep everything
    size_t max_raw = forward::kMaxRawBatch;
};

class Server {
public:
    // Opens the store, reads the TLS files and starts listening; an error
    // names the file, the address or the store that failed.
    static Result<std::unique_ptr<Server>> start(const ServerOptions& options);
    ~Server();

    // ADDR:PORT as bound (the real port when 0 was asked for).
    const std::string& address() const;
    int port() const;
    // Stops taking calls, lets running ones finish until `grace` has passed,
    // then cancels the rest. Idempotent.
    void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

    struct Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ktrail::collector
