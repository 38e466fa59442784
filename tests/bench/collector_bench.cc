// Collector ingest throughput: Ingestor::submit of zstd batches of 2000
// realistic (~500-byte) events into a store, as the gRPC handler calls it,
// first from one agent (each batch after the last one's ack), then from
// several agents at once (their checks overlap the store's commits).
//   collector_bench [STORE_URL] [BATCHES] [AGENTS]
//   (default: SQLite in a fresh temp dir, 100 batches per agent, 2 agents)
// A postgresql:// URL benchmarks that back end (its tables gain the events).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../fuzz/batch_maker.h"
#include "forward/batch_codec.h"
#include "ingest.h"
#include "store/store.h"

using namespace ktrail;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kBatch = 2000;

// CPU seconds this process has used (all threads): the machine is shared,
// so wall time alone says little.
double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Wire {
    std::string host;
    std::vector<v1::CompressedBatch> batches;
};

// One agent's batches, on the wire. A fresh agent id per run, so a
// PostgreSQL store can be reused.
Wire make_wire(size_t index, size_t batches, size_t& raw_bytes, size_t& z_bytes) {
    Wire w;
    w.host = "bench-host-" + std::to_string(index);
    auto agent = testing::make_agent(
        w.host, fmt::format("bench-{:x}-{}", Clock::now().time_since_epoch().count() & 0xffffffffff, index));
    for (size_t i = 0; i < batches; ++i) {
        v1::Batch b = agent.next_batch(kBatch, true, static_cast<int>(i));
        for (const auto& e : b.events()) raw_bytes += e.size();
        auto z = forward::compress(b);
        if (!z) abort();
        z_bytes += z->zstd().size();
        w.batches.push_back(std::move(*z));
    }
    return w;
}

std::unique_ptr<store::Store> open(const std::string& url) {
    auto s = store::open_store(url);
    if (!s) {
        fprintf(stderr, "collector_bench: %s\n", s.error().message.c_str());
        exit(1);
    }
    return std::move(*s);
}

void submit_all(collector::Ingestor& ingestor, const Wire& w, size_t limit = SIZE_MAX) {
    for (size_t i = 0; i < w.batches.size() && i < limit; ++i) {
        auto ack = ingestor.submit(w.batches[i], w.host);
        if (!ack) {
            fprintf(stderr, "collector_bench: submit: %s\n", ack.error().message.c_str());
            exit(1);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string url = argc > 1 ? argv[1] : "";
    size_t batches = argc > 2 ? std::stoul(argv[2]) : 100;
    size_t agents = argc > 3 ? std::stoul(argv[3]) : 2;
    std::string tmp;
    if (url.empty()) {
        char tmpl[] = "/tmp/ktrail-collector-bench-XXXXXX";
        if (!mkdtemp(tmpl)) return 1;
        tmp = tmpl;
    }
    auto url_for = [&](const char* name) { return tmp.empty() ? url : "sqlite:" + tmp + "/" + name + ".db"; };
    const std::string kind = tmp.empty() && !url.starts_with("sqlite:") ? "postgresql" : "sqlite";

    size_t raw_bytes = 0, z_bytes = 0;
    std::vector<Wire> wire;
    for (size_t a = 0; a < agents; ++a) wire.push_back(make_wire(a, batches, raw_bytes, z_bytes));
    const double per_agent = double(batches * kBatch);
    printf("events: %zu agents x %zu batches of %zu, %.0f bytes/event, zstd %.1fx\n", agents, batches, kBatch,
           double(raw_bytes) / (per_agent * double(agents)), double(raw_bytes) / double(z_bytes));

    // The stateless half alone (decode, parse, chain, signatures).
    auto t0 = Clock::now();
    double c0 = cpu_seconds();
    for (const auto& z : wire[0].batches) {
        auto c = collector::check_batch(z, wire[0].host);
        if (!c) {
            fprintf(stderr, "check_batch: %s\n", c.error().message.c_str());
            return 1;
        }
    }
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    printf("collector check (decode, parse, chain; no store): %.0f events/s, %.2f us CPU/event\n", per_agent / s,
           (cpu_seconds() - c0) / per_agent * 1e6);

    // One agent: every batch after the previous one's ack.
    {
        auto st = open(url_for("one"));
        collector::Ingestor ingestor(*st);
        t0 = Clock::now();
        c0 = cpu_seconds();
        submit_all(ingestor, wire[0]);
        s = std::chrono::duration<double>(Clock::now() - t0).count();
        double cpu = cpu_seconds() - c0;
        printf("collector ingest %s: %.0f events/s (one agent; %.2f us CPU/event)\n", kind.c_str(), per_agent / s,
               cpu / per_agent * 1e6);
        // A replay of the first batches: every event a duplicate.
        size_t n = std::min<size_t>(batches, 10);
        t0 = Clock::now();
        submit_all(ingestor, wire[0], n);
        s = std::chrono::duration<double>(Clock::now() - t0).count();
        printf("collector replay %s (all duplicates): %.0f events/s\n", kind.c_str(), double(n * kBatch) / s);
    }

    // Several agents at once, as the gRPC server's threads call it.
    if (agents > 1) {
        auto st = open(url_for("many"));
        collector::Ingestor ingestor(*st);
        t0 = Clock::now();
        c0 = cpu_seconds();
        std::vector<std::thread> threads;
        for (const auto& w : wire) threads.emplace_back([&ingestor, &w] { submit_all(ingestor, w); });
        for (auto& t : threads) t.join();
        s = std::chrono::duration<double>(Clock::now() - t0).count();
        double cpu = cpu_seconds() - c0;
        printf("collector ingest %s: %.0f events/s (%zu agents at once; %.2f us CPU/event)\n", kind.c_str(),
               per_agent * double(agents) / s, agents, cpu / (per_agent * double(agents)) * 1e6);
    }
    if (!tmp.empty()) std::filesystem::remove_all(tmp);
    return 0;
}
