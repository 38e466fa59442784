// The agent's side of the collector protocol: one gRPC channel over mutual
// TLS; submit() compresses a Batch with zstd and waits for the Ack.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ktrail/v1/collector.pb.h"
#include "util/error.h"

namespace ktrail::forward {

struct TlsFiles {
    std::string ca;    // the CA that signed the collector's certificate
    std::string cert;  // this agent's certificate (its CN names this host)
    std::string key;   // and its private key
};

struct ClientOptions {
    std::string target;  // HOST:PORT
    TlsFiles tls;
    std::chrono::milliseconds deadline{10000};
};

class CollectorClient {
public:
    // Reads the TLS files (a missing or unreadable one is an error that names
    // it); connecting happens on the first submit.
    static Result<std::unique_ptr<CollectorClient>> connect(const ClientOptions& options);
    virtual ~CollectorClient() = default;
    // The Ack once the collector has committed the batch; an error (with the
    // gRPC status and the collector's message) otherwise.
    virtual Result<v1::Ack> submit(const v1::Batch& batch) = 0;
};

}  // namespace ktrail::forward
