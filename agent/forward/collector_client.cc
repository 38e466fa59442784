#include "forward/collector_client.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>


#include "forward/batch_codec.h"
#include "forward/tls_files.h"
#include "ktrail/v1/collector.grpc.pb.h"

namespace ktrail::forward {
namespace {

const char* status_name(grpc::StatusCode code) {
    switch (code) {
        case grpc::StatusCode::OK: return "OK";
        case grpc::StatusCode::CANCELLED: return "CANCELLED";
        case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
        case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
        case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
        case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
        case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
        case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
        case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
        case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
        case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
        case grpc::StatusCode::ABORTED: return "ABORTED";
        case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
        case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
        case grpc::StatusCode::INTERNAL: return "INTERNAL";
        case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
        case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
        default: return "UNKNOWN";
    }
}

class GrpcCollectorClient final : public CollectorClient {
public:
    GrpcCollectorClient(const ClientOptions& o, std::shared_ptr<grpc::Channel> channel)
        : options_(o), stub_(v1::Collector::NewStub(std::move(channel))) {}

    Result<v1::Ack> submit(const v1::Batch& batch) override {
        auto compressed = compress(batch);
        if (!compressed) return std::unexpected(compressed.error());
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + options_.deadline);
        v1::Ack ack;
        grpc::Status status = stub_->Submit(&ctx, *compressed, &ack);
        if (!status.ok())
            return fail(fmt::format("collector {}: {}: {}", options_.target, status_name(status.error_code()),
                                    status.error_message()));
        return ack;
    }

private:
    ClientOptions options_;
    std::unique_ptr<v1::Collector::Stub> stub_;
};

}  // namespace

Result<std::unique_ptr<CollectorClient>> CollectorClient::connect(const ClientOptions& o) {
    if (o.target.empty() || o.target.find(':') == std::string::npos)
        return fail(fmt::format("collector address '{}': expected HOST:PORT", o.target));
    auto ca = read_tls_file(o.tls.ca, "--tls-ca");
    if (!ca) return std::unexpected(ca.error());
    auto cert = read_tls_file(o.tls.cert, "--tls-cert");
    if (!cert) return std::unexpected(cert.error());
    auto key = read_tls_file(o.tls.key, "--tls-key");
    if (!key) return std::unexpected(key.error());
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = std::move(*ca);
    ssl.pem_cert_chain = std::move(*cert);
    ssl.pem_private_key = std::move(*key);
    // The collector's certificate must name the host in `target` (its SAN).
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    // gRPC's own reconnect backoff grows to 120 s and fails calls fast in the
    // meantime: a collector back after an outage would wait that long. The
    // forwarder has its own backoff; keep the channel's short.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    auto channel = grpc::CreateCustomChannel(o.target, grpc::SslCredentials(ssl), args);
    if (!channel) return fail(fmt::format("collector {}: cannot create a gRPC channel", o.target));
    return std::unique_ptr<CollectorClient>(new GrpcCollectorClient(o, std::move(channel)));
}

}  // namespace ktrail::forward
