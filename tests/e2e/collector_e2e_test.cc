// e2e: the real ktrail-collector binary over mutual TLS, with a SQLite store,
// driven by the agent's real gRPC client.
#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include "../fuzz/batch_maker.h"
#include "collector_harness.h"
#include "forward/batch_codec.h"
#include "ktrail/v1/collector.grpc.pb.h"
#include "ktraild_harness.h"
#include "store/store.h"

using namespace ktrail;
using e2e::Collector;
using e2e::TempDir;

namespace {

size_t stored(const Collector& c, const std::string& agent_id) {
    auto s = store::open_store(c.store_url());
    REQUIRE(s);
    auto h = (*s)->hashes(agent_id, 1, 1'000'000);
    REQUIRE(h);
    return h->size();
}

// Submit straight over gRPC with the given channel credentials.
grpc::Status raw_submit(const std::string& target, std::shared_ptr<grpc::ChannelCredentials> creds,
                        const v1::Batch& batch) {
    auto stub = v1::Collector::NewStub(grpc::CreateChannel(target, creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::Ack ack;
    return stub->Submit(&ctx, *forward::compress(batch), &ack);
}

std::string slurp(const std::string& path) { return e2e::slurp(path); }

}  // namespace

TEST_CASE("collector: an agent's batch over mutual TLS is acked and stored", "[collector]") {
    TempDir dir;
    auto certs = e2e::make_dev_certs(dir / "certs", {"web-1"});
    Collector c(dir.path, certs);
    c.start();
    CHECK_THAT(c.log(), Catch::Contains("listening on 127.0.0.1:" + std::to_string(c.port())));
    CHECK_THAT(c.log(), Catch::Contains("store sqlite:"));

    auto agent = testing::make_agent("web-1");
    auto client = forward::CollectorClient::connect(c.client_options("web-1"));
    REQUIRE(client);
    auto ack = (*client)->submit(agent.next_batch(500));
    INFO(c.log());
    REQUIRE(ack);
    CHECK(ack->committed_through() == 500);
    CHECK(ack->inserted() == 500);
    CHECK(stored(c, agent.agent_id) == 500);

    // A retry is acked as duplicates; the next batch goes on.
    auto batch2 = agent.next_batch(100);
    REQUIRE((*client)->submit(batch2));
    auto again = (*client)->submit(batch2);
    REQUIRE(again);
    CHECK(again->committed_through() == 600);
    CHECK(again->duplicates() == 100);

    // The host name in the target must be in the collector's certificate.
    auto opts = c.client_options("web-1");
    opts.target = "localhost:" + std::to_string(c.port());
    auto by_name = forward::CollectorClient::connect(opts);
    REQUIRE(by_name);
    REQUIRE((*by_name)->submit(agent.next_batch(10)));

    // SIGTERM: a clean exit; the store outlives it, a restart goes on from it.
    c.restart();
    auto batch3 = agent.next_batch(10);
    Result<v1::Ack> after = fail("not sent");
    for (int i = 0; i < 10 && !after; ++i) {  // the channel reconnects, as the forwarder's retries would
        after = (*client)->submit(batch3);
        if (!after) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    INFO((after ? std::string() : after.error().message));
    REQUIRE(after);
    CHECK(after->committed_through() == 620);
    int status = c.stop(SIGTERM);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(stored(c, agent.agent_id) == 620);
}

TEST_CASE("collector: a client without a certificate fails the handshake", "[collector]") {
    TempDir dir;
    auto certs = e2e::make_dev_certs(dir / "certs", {"web-1"});
    Collector c(dir.path, certs);
    c.start();
    auto agent = testing::make_agent("web-1");

    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = slurp(certs.ca());  // trusts the collector, presents nothing
    auto status = raw_submit(c.target(), grpc::SslCredentials(ssl), agent.next_batch(10));
    INFO(status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK_THAT(c.log(), Catch::Contains("did not return a certificate"));  // gRPC's reason, in the collector's log

    // Plain text is no better.
    status = raw_submit(c.target(), grpc::InsecureChannelCredentials(), agent.next_batch(10));
    CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);

    // Nor is a certificate from a CA the collector does not trust.
    auto other = e2e::make_dev_certs(dir / "other-ca", {"web-1"});
    ssl.pem_cert_chain = slurp(other.agent_cert("web-1"));
    ssl.pem_private_key = slurp(other.agent_key("web-1"));
    status = raw_submit(c.target(), grpc::SslCredentials(ssl), agent.next_batch(10));
    CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);

    CHECK(stored(c, agent.agent_id) == 0);
}

TEST_CASE("collector: a certificate for host A cannot submit host B's events", "[collector]") {
    TempDir dir;
    auto certs = e2e::make_dev_certs(dir / "certs", {"web-1", "db-2"});
    Collector c(dir.path, certs);
    c.start();
    auto b_agent = testing::make_agent("db-2", "agent-of-db-2");
    auto client = forward::CollectorClient::connect(c.client_options("web-1"));
    REQUIRE(client);
    auto out = (*client)->submit(b_agent.next_batch(10));
    REQUIRE_FALSE(out);
    CHECK_THAT(out.error().message, Catch::Contains("collector 127.0.0.1:"));
    CHECK_THAT(out.error().message, Catch::Contains("PERMISSION_DENIED"));
    CHECK_THAT(out.error().message, Catch::Contains("db-2"));
    CHECK(stored(c, b_agent.agent_id) == 0);
    // The refusal is logged with its reason and no event data.
    std::string log = c.log();
    CHECK_THAT(log, Catch::Contains("refused a batch from web-1"));
    CHECK_THAT(log, Catch::Contains("agent-of-db-2"));
    CHECK(log.find("/etc/ssl/private") == std::string::npos);  // no event fields in the log

    // db-2's own certificate may.
    auto b_client = forward::CollectorClient::connect(c.client_options("db-2"));
    REQUIRE(b_client);
    REQUIRE((*b_client)->submit(b_agent.next_batch(10)));
    CHECK(stored(c, b_agent.agent_id) == 10);
}

TEST_CASE("collector: refuses to start without TLS, naming what is missing", "[collector]") {
    TempDir dir;
    auto certs = e2e::make_dev_certs(dir / "certs", {"web-1"});
    {
        Collector c(dir.path, certs, {.tls = false});
        int status = c.start_expecting_exit();
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) != 0);
        CHECK_THAT(c.log(), Catch::Contains("--tls-ca"));
    }
    {
        Collector c(dir.path, certs, {.extra_args = {"--tls-key", dir / "nonexistent.key"}});
        int status = c.start_expecting_exit();
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) != 0);
        CHECK_THAT(c.log(), Catch::Contains("nonexistent.key"));
    }
    // The agent's client names the missing file and its flag.
    forward::ClientOptions o;
    o.target = "127.0.0.1:1";
    o.tls = {certs.ca(), certs.agent_cert("web-1"), dir / "missing.key"};
    auto client = forward::CollectorClient::connect(o);
    REQUIRE_FALSE(client);
    CHECK_THAT(client.error().message, Catch::Contains("--tls-key"));
    CHECK_THAT(client.error().message, Catch::Contains("missing.key"));
}
