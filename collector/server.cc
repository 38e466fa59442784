#include "server.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "forward/tls_files.h"
#include "ingest.h"
#include "ktrail/v1/collector.grpc.pb.h"
#include "store/store.h"

namespace ktrail::collector {
namespace {

constexpr int kMaxHandlerThreads = 16;

// gRPC reports bad PEM only in its own log; check it here so the error names the file.
Result<void> check_tls(const std::string& ca, const std::string& cert, const std::string& key,
                       const ServerOptions& o) {
    auto bio = [](const std::string& pem) { return BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())); };
    BIO* b = bio(ca);
    X509* ca_x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    if (!ca_x) return fail(fmt::format("--tls-ca {} holds no PEM certificate", o.tls_ca));
    X509_free(ca_x);
    b = bio(cert);
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    if (!x) return fail(fmt::format("--tls-cert {} holds no PEM certificate", o.tls_cert));
    b = bio(key);
    EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    bool match = k && X509_check_private_key(x, k) == 1;
    X509_free(x);
    EVP_PKEY_free(k);
    if (!k) return fail(fmt::format("--tls-key {} holds no PEM private key (or it is encrypted)", o.tls_key));
    if (!match) return fail(fmt::format("--tls-key {} is not the key of --tls-cert {}", o.tls_key, o.tls_cert));
    return {};
}

grpc::StatusCode to_grpc(Code c) { return static_cast<grpc::StatusCode>(static_cast<int>(c)); }

}  // namespace

struct Server::Impl final : v1::Collector::Service {
    ServerOptions options;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<Ingestor> ingestor;
    std::unique_ptr<grpc::Server> server;
    std::string address;
    int port = 0;

    std::thread retention;
    std::mutex mu;
    std::condition_variable cv;
    bool stopping = false;
    bool shut_down = false;

    grpc::Status Submit(grpc::ServerContext* ctx, const v1::CompressedBatch* req, v1::Ack* ack) override {
        // The verified client certificate's CN names the host it may speak for.
        auto cns = ctx->auth_context() ? ctx->auth_context()->FindPropertyValues("x509_common_name")
                                       : std::vector<grpc::string_ref>{};
        if (cns.empty()) {
            spdlog::warn("refused a batch from {}: the client certificate has no common name", ctx->peer());
            return {grpc::StatusCode::UNAUTHENTICATED, "the client certificate has no common name (CN=host name)"};
        }
        std::string host(cns.front().data(), cns.front().size());
        auto out = ingestor->submit(*req, host);
        if (!out) {
            spdlog::warn("refused a batch from {} ({}): {}: {}", host, ctx->peer(), code_name(out.error().code),
                         out.error().message);
            return {to_grpc(out.error().code), out.error().message};
        }
        spdlog::debug("host {}: committed through {} ({} new, {} duplicates)", host, out->committed_through(),
                      out->inserted(), out->duplicates());
        *ack = std::move(*out);
        return grpc::Status::OK;
    }

    void sweep() {
        const int64_t days = *options.retention_days;
        std::unique_lock lock(mu);
        while (!stopping) {
            lock.unlock();
            int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
            int64_t cutoff = now - days * 86400 * int64_t{1000000000};
            Result<uint64_t> removed;
            {
                std::lock_guard store_lock(ingestor->store_mutex());
                removed = store->apply_retention(cutoff);
            }
            if (!removed)
                spdlog::error("retention ({} days): {}", days, removed.error().message);
            else if (*removed)
                spdlog::info("retention: removed {} events older than {} days", *removed, days);
            lock.lock();
            cv.wait_for(lock, std::chrono::hours(1), [&] { return stopping; });
        }
    }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { shutdown(std::chrono::seconds(1)); }

const std::string& Server::address() const { return impl_->address; }
int Server::port() const { return impl_->port; }

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& o) {
    if (o.tls_ca.empty() && o.tls_cert.empty() && o.tls_key.empty())
        return fail("no TLS files: the collector only speaks mutual TLS; give --tls-ca (the CA of the agents' "
                    "certificates), --tls-cert and --tls-key (its own; scripts/dev-certs.sh makes a test set)");
    auto ca = forward::read_tls_file(o.tls_ca, "--tls-ca");
    if (!ca) return std::unexpected(ca.error());
    auto cert = forward::read_tls_file(o.tls_cert, "--tls-cert");
    if (!cert) return std::unexpected(cert.error());
    auto key = forward::read_tls_file(o.tls_key, "--tls-key");
    if (!key) return std::unexpected(key.error());
    if (auto ok = check_tls(*ca, *cert, *key, o); !ok) return std::unexpected(ok.error());
    if (o.listen.empty()) return fail("--listen ADDR:PORT is missing (e.g. --listen 0.0.0.0:7443)");
    auto colon = o.listen.rfind(':');
    if (colon == std::string::npos || colon + 1 == o.listen.size())
        return fail(fmt::format("--listen {}: expected ADDR:PORT (e.g. 0.0.0.0:7443, [::]:7443)", o.listen));
    if (o.retention_days && *o.retention_days <= 0)
        return fail(fmt::format("--retention {}: give a number of days, 1 or more", *o.retention_days));

    auto impl = std::make_unique<Impl>();
    impl->options = o;
    auto st = store::open_store(o.store_url);
    if (!st) return fail(fmt::format("store {}: {}", store::redact_url(o.store_url), st.error().message));
    impl->store = std::move(*st);
    impl->ingestor = std::make_unique<Ingestor>(*impl->store, o.max_raw);

    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = *ca;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    grpc::ServerBuilder builder;
    builder.AddListeningPort(o.listen, grpc::SslServerCredentials(ssl), &impl->port);
    builder.RegisterService(impl.get());
    // A full batch compressed: zstd's worst case is a little over the raw size.
    size_t max_msg = o.max_raw + o.max_raw / 64 + (1 << 20);
    builder.SetMaxReceiveMessageSize(max_msg > INT32_MAX ? INT32_MAX : static_cast<int>(max_msg));
    // Bounded work in flight: past this many handler threads (each holds at
    // most one batch) new calls get RESOURCE_EXHAUSTED and their agents
    // retry with backoff, instead of the collector growing without bound.
    grpc::ResourceQuota quota("ktrail-collector");
    quota.SetMaxThreads(kMaxHandlerThreads);
    builder.SetResourceQuota(quota);
    impl->server = builder.BuildAndStart();
    if (!impl->server || impl->port == 0)
        return fail(fmt::format("cannot listen on {} (in use, or not an address of this host?)", o.listen));
    impl->address = o.listen.substr(0, colon + 1) + std::to_string(impl->port);

    if (o.retention_days) impl->retention = std::thread([p = impl.get()] { p->sweep(); });
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::shutdown(std::chrono::milliseconds grace) {
    if (!impl_ || impl_->shut_down) return;
    impl_->shut_down = true;
    {
        std::lock_guard lock(impl_->mu);
        impl_->stopping = true;
    }
    impl_->cv.notify_all();
    impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
    impl_->server->Wait();
    if (impl_->retention.joinable()) impl_->retention.join();
}

}  // namespace ktrail::collector
