// The whole path: events appended to a real spool, a Forwarder reading it
// through its own cursor and delivering to the kafka:// destination, the
// brokers (librdkafka's mock cluster) down for 3 s in the middle.
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <thread>

#include "forward/forwarder.h"
#include "kafka_mock.h"
#include "output/output_spec.h"

using namespace ktrail;
using namespace std::chrono_literals;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/ktrail-kafka-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

std::string event_bytes(uint64_t seq) {
    v1::Event ev;
    ev.set_time_ns(1'790'000'000'000'000'000 + static_cast<int64_t>(seq));
    ev.set_id(fmt::format("agent-9:{}", seq));
    ev.set_sequence(seq);
    ev.set_kind("event");
    ev.set_action(seq % 2 ? "opened-file" : "executed");
    ev.set_module("bpf");
    ev.mutable_host()->set_id("host-9");
    ev.mutable_file()->set_path(fmt::format("/etc/file-{}", seq));
    return ev.SerializeAsString();
}

}  // namespace

TEST_CASE("kafka: spool -> Forwarder -> kafka:// through a 3 s broker outage: nothing lost, cursor at the end",
          "[kafka]") {
    test::MockCluster mc;
    mc.create_topic("audit", 3);
    TempDir dir;
    auto spool = spool::Spool::open({dir.path + "/spool", 1ull << 30, 1ull << 20, {dir.path + "/acked.kafka"}});
    REQUIRE(spool.has_value());

    auto spec =
        parse_output_spec("kafka://" + mc.bootstraps() + "/audit?timeout-ms=1000&rdkafka.reconnect.backoff.max.ms=200");
    REQUIRE(spec.has_value());
    DestinationContext ctx;
    ctx.host.machine_id = "host-9";
    auto dest = make_kafka_destination(*spec, ctx);
    REQUIRE(dest.has_value());

    spdlog::set_level(spdlog::level::critical);  // the outage's connection errors are expected
    forward::ForwarderOptions fo;
    fo.max_events = 500;
    fo.linger = 20ms;
    fo.backoff_initial = 50ms;
    fo.backoff_max = 500ms;
    forward::Forwarder fw(**spool, 0, std::move(*dest), fo);
    fw.start();

    constexpr uint64_t kEvents = 6000;
    auto outage_end = std::chrono::steady_clock::time_point::max();
    for (uint64_t seq = 1; seq <= kEvents; ++seq) {
        REQUIRE((*spool)->append_event(seq, event_bytes(seq)).has_value());
        if (seq % 100 == 0) {
            REQUIRE((*spool)->commit().has_value());
            std::this_thread::sleep_for(10ms);  // a stream, not one burst
        }
        if (seq == 2000) {
            mc.set_down();
            outage_end = std::chrono::steady_clock::now() + 3s;
        }
        if (std::chrono::steady_clock::now() >= outage_end) {
            mc.set_up();
            outage_end = std::chrono::steady_clock::time_point::max();
        }
    }
    if (outage_end != std::chrono::steady_clock::time_point::max()) {
        std::this_thread::sleep_until(outage_end);
        mc.set_up();
    }
    REQUIRE((*spool)->commit().has_value());

    CHECK(fw.flush(60s));
    fw.stop(1s);
    spdlog::set_level(spdlog::level::info);
    CHECK((*spool)->acked(0) == kEvents);  // the cursor reached the end
    CHECK(fw.stats().retries > 0);         // the outage was noticed

    auto msgs = test::consume_all(mc.bootstraps(), "audit", 3, kEvents);
    std::map<uint64_t, int> seen;
    size_t duplicates = 0;
    for (const auto& m : msgs)
        if (++seen[std::stoull(m.sequence_header)] > 1) ++duplicates;
    REQUIRE(seen.size() == kEvents);  // every sequence at least once
    CHECK(seen.begin()->first == 1);
    CHECK(seen.rbegin()->first == kEvents);
    WARN("forwarder through a 3 s outage: " << msgs.size() << " messages for " << kEvents << " events, " << duplicates
                                            << " duplicates, " << fw.stats().retries.load()
                                            << " failed deliveries retried");
}
