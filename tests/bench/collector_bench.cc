// Collector ingest throughput: Ingestor::submit of zstd batches of 2000
// realistic (~500-byte) events into a store, as the gRPC handler calls it.
//   collector_bench [STORE_URL] [BATCHES]   (default: SQLite in a temp dir, 100 batches)
// A postgresql:// URL benchmarks that back end (its tables gain the events).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "../fuzz/batch_maker.h"
#include "forward/batch_codec.h"
#include "ingest.h"
#include "store/store.h"

using namespace ktrail;
using Clock = std::chrono::steady_clock;

namespace {

// CPU seconds this process has used (all threads): the machine is shared,
// so wall time alone says little.
double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    const size_t kBatch = 2000;
    std::string url = argc > 1 ? argv[1] : "";
    size_t batches = argc > 2 ? std::stoul(argv[2]) : 100;
    std::string tmp;
    if (url.empty()) {
        char tmpl[] = "/tmp/ktrail-collector-bench-XXXXXX";
        if (!mkdtemp(tmpl)) return 1;
        tmp = tmpl;
        url = "sqlite:" + tmp + "/bench.db";
    }
    const std::string kind = url.starts_with("sqlite:") ? "sqlite" : "postgresql";

    // A fresh agent id per run, so a PostgreSQL store can be reused.
    auto agent = testing::make_agent("bench-host", "bench-agent-" + std::to_string(getpid()) + "-" +
                                                       std::to_string(Clock::now().time_since_epoch().count()));
    std::vector<v1::CompressedBatch> wire;
    size_t raw_events = 0, raw_bytes = 0, z_bytes = 0;
    for (size_t i = 0; i < batches; ++i) {
        v1::Batch b = agent.next_batch(kBatch, true, static_cast<int>(i));
        for (const auto& e : b.events()) raw_bytes += e.size();
        raw_events += b.events_size();
        auto z = forward::compress(b);
        if (!z) return 1;
        z_bytes += z->zstd().size();
        wire.push_back(std::move(*z));
    }

    // The stateless half alone (decode, parse, chain, signatures).
    auto t0 = Clock::now();
    double c0 = cpu_seconds();
    for (const auto& z : wire) {
        auto c = collector::check_batch(z, "bench-host");
        if (!c) {
            fprintf(stderr, "check_batch: %s\n", c.error().message.c_str());
            return 1;
        }
    }
    double check_s = std::chrono::duration<double>(Clock::now() - t0).count();
    double check_cpu = cpu_seconds() - c0;

    auto store = store::open_store(url);
    if (!store) {
        fprintf(stderr, "%s\n", store.error().message.c_str());
        return 1;
    }
    collector::Ingestor ingestor(**store);
    t0 = Clock::now();
    c0 = cpu_seconds();
    for (const auto& z : wire) {
        auto ack = ingestor.submit(z, "bench-host");
        if (!ack) {
            fprintf(stderr, "submit: %s\n", ack.error().message.c_str());
            return 1;
        }
    }
    double total_s = std::chrono::duration<double>(Clock::now() - t0).count();
    double total_cpu = cpu_seconds() - c0;
    // A replay of the same batches: every event a duplicate.
    t0 = Clock::now();
    for (size_t i = 0; i < std::min<size_t>(wire.size(), 10); ++i) ingestor.submit(wire[i], "bench-host");
    double dup_s = std::chrono::duration<double>(Clock::now() - t0).count();
    size_t dup_events = std::min<size_t>(wire.size(), 10) * kBatch;

    printf("events: %zu in %zu batches of %zu, %.0f bytes/event, zstd %.1fx\n", raw_events, batches, kBatch,
           double(raw_bytes) / double(raw_events), double(raw_bytes) / double(z_bytes));
    const double n = double(raw_events);
    printf("collector check (decode+parse+chain, no store): %.0f events/s, %.2f us CPU/event\n", n / check_s,
           check_cpu / n * 1e6);
    printf("collector ingest %s: %.0f events/s\n", kind.c_str(), n / total_s);
    printf("  (%.2f us CPU/event in this process; %.0f events/s if it had a core to itself and no I/O waits)\n",
           total_cpu / n * 1e6, n / total_cpu);
    printf("collector replay %s (all duplicates): %.0f events/s\n", kind.c_str(), double(dup_events) / dup_s);
    store->reset();
    if (!tmp.empty()) std::filesystem::remove_all(tmp);
    return 0;
}
