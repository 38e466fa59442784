// Output throughput on one core: events per second each format renders
// (decode from the spool's bytes + render) and each output delivers through a
// real forwarder from a filled spool, against baselines measured in the same
// run (decode alone; a forwarder whose destination does nothing).
//   outputs_bench DIR [SYSLOG_TCP_PORT [SYSLOG_TLS_PORT CA]]
// The syslog receivers (started by scripts/bench.sh on the other core) read
// and discard. Kafka runs against librdkafka's mock cluster in this process
// (its brokers' threads are not pinned), so it measures the producer, not a
// real broker.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "format/event_format.h"
#include "forward/forwarder.h"
#include "output/output_spec.h"
#include "sample_event.h"
#include "spool/spool.h"

using namespace ktrail;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kEvents = 200'000;

void pin_to_core0() {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

class NullDestination : public forward::Destination {
public:
    std::string name() const override { return "null"; }
    Result<forward::Delivered> deliver(const forward::Batch&) override { return forward::Delivered{}; }
};

// Rates of rendering alone, from the spool's bytes.
void formats(const std::vector<std::string>& events) {
    v1::Event ev;
    std::string out;
    auto rate = [&](auto&& body) {
        auto start = Clock::now();
        for (uint64_t i = 0; i < kEvents; ++i) body(events[i % events.size()]);
        return static_cast<double>(kEvents) / std::chrono::duration<double>(Clock::now() - start).count();
    };
    double decode = rate([&](const std::string& b) { ev.ParseFromString(b); });
    printf("outputs format decode only (baseline): %.0f events/s\n", decode);
    for (Format f : {Format::json, Format::ocsf, Format::cef}) {
        size_t bytes = 0;
        double r = rate([&](const std::string& b) {
            ev.ParseFromString(b);
            out.clear();
            append_event(f, ev, out);
            bytes += out.size();
        });
        printf("outputs format %s: %.0f events/s (%.0f bytes/event), %.2fx the decode-only time\n", to_string(f), r,
               static_cast<double>(bytes) / kEvents, decode / r);
    }
}

// Delivers the whole filled spool through one forwarder; events/s.
double deliver_all(const std::string& dir, std::unique_ptr<forward::Destination> d, int run) {
    std::string cursor = dir + "/cursor-" + std::to_string(run);
    auto s = spool::Spool::open({dir + "/spool", 64ull << 30, 16ull << 20, {cursor}});
    if (!s) {
        fprintf(stderr, "outputs_bench: %s\n", s.error().message.c_str());
        exit(1);
    }
    // A fresh cursor starts at the oldest record: the whole spool.
    forward::Forwarder f(**s, 0, std::move(d));
    auto start = Clock::now();
    f.start();
    if (!f.flush(std::chrono::minutes(5))) return 0;
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    f.stop(std::chrono::milliseconds(0));
    return static_cast<double>((*s)->acked()) / secs;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: outputs_bench DIR [SYSLOG_TCP_PORT [SYSLOG_TLS_PORT CA]]\n");
        return 2;
    }
    std::string dir = std::string(argv[1]) + "/outputs-bench";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::vector<std::string> events;
    for (uint64_t i = 1; i <= 1024; ++i) events.push_back(bench::sample_event(i));
    {
        auto s = spool::Spool::open({dir + "/spool", 64ull << 30, 16ull << 20, {dir + "/filler"}});
        if (!s) return 1;
        for (uint64_t i = 1; i <= kEvents; ++i)
            if (!(*s)->append_event(i, events[i % events.size()])) return 1;
        if (!(*s)->commit()) return 1;
    }
    // The mock brokers first, unpinned; then everything measured on core 0.
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_t* mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    rd_kafka_mock_cluster_t* mock = mock_rk ? rd_kafka_mock_cluster_new(mock_rk, 3) : nullptr;
    if (mock) rd_kafka_mock_topic_create(mock, "events", 3, 3);
    pin_to_core0();
    formats(events);

    int run = 0;
    double base = deliver_all(dir, std::make_unique<NullDestination>(), run++);
    printf("outputs sink null (spool read + batching only, baseline): %.0f events/s\n", base);
    DestinationContext ctx;
    ctx.host.hostname = "web-1";
    ctx.host.machine_id = "3d1219c7a0b84c55b1d7e0f3a9c2e411";
    std::vector<std::string> specs = {"file:" + dir + "/events.json?fsync=batch&max-size=0",
                                      "file:" + dir + "/events.cef?format=cef&fsync=batch&max-size=0",
                                      "file:" + dir + "/events.ocsf?format=ocsf&fsync=batch&max-size=0"};
    if (argc > 2) specs.push_back(std::string("syslog+tcp://127.0.0.1:") + argv[2] + "?confirm-after=0");
    if (argc > 2) specs.push_back(std::string("syslog+tcp://127.0.0.1:") + argv[2] + "?format=cef&confirm-after=0");
    if (argc > 4)
        specs.push_back(std::string("syslog+tls://127.0.0.1:") + argv[3] + "?confirm-after=0&server-name=localhost&ca=" +
                        argv[4]);
    if (mock) specs.push_back("kafka://" + std::string(rd_kafka_mock_cluster_bootstraps(mock)) + "/events");
    for (const auto& text : specs) {
        auto spec = parse_output_spec(text);
        Result<std::unique_ptr<forward::Destination>> d = fail("");
        if (spec) {
            d = spec->scheme == "file"    ? make_file_destination(*spec, ctx)
                : spec->scheme == "kafka" ? make_kafka_destination(*spec, ctx)
                                          : make_syslog_destination(*spec, ctx);
        }
        if (!spec || !d) {
            printf("outputs sink %s: not measured (%s)\n", text.c_str(),
                   (!spec ? spec.error() : d.error()).message.c_str());
            continue;
        }
        std::string name = (*d)->name();
        double r = deliver_all(dir, std::move(*d), run++);
        printf("outputs sink %s: %.0f events/s, %.2fx the baseline's time\n", name.c_str(), r, r > 0 ? base / r : 0.0);
    }
    if (mock) rd_kafka_mock_cluster_destroy(mock);
    if (mock_rk) rd_kafka_destroy(mock_rk);
    std::filesystem::remove_all(dir);
    return 0;
}
