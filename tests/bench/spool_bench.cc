// Spool append rate: realistic serialized events appended (CRC32C, SHA-256
// chain) with a group commit (write + fdatasync) every 50 ms of wall time, as
// the agent does; and, for scale, the same with an fdatasync per event.
//   spool_bench [DIR]   (default: a temp dir under /var/tmp, on real disk)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "ktrail/v1/event.pb.h"
#include "sample_event.h"
#include "spool/spool.h"

using namespace ktrail;
using ktrail::bench::sample_event;
using Clock = std::chrono::steady_clock;

namespace {

double run(const std::string& dir, uint64_t n, bool sync_each, size_t* bytes_per_event) {
    std::filesystem::remove_all(dir);
    auto s = spool::Spool::open({dir, 64ull << 30, 16ull << 20});
    if (!s) {
        fprintf(stderr, "spool_bench: %s\n", s.error().message.c_str());
        exit(1);
    }
    std::vector<std::string> events;
    for (uint64_t i = 0; i < 1024; ++i) events.push_back(sample_event(i + 1));
    *bytes_per_event = events[0].size();
    auto start = Clock::now();
    auto last_commit = start;
    for (uint64_t i = 1; i <= n; ++i) {
        if (!(*s)->append_event(i, events[i & 1023])) exit(1);
        if (sync_each) {
            if (!(*s)->commit()) exit(1);
        } else if ((i & 255) == 0 && Clock::now() - last_commit >= std::chrono::milliseconds(50)) {
            if (!(*s)->commit()) exit(1);
            last_commit = Clock::now();
        }
    }
    if (!(*s)->commit()) exit(1);
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    s->reset();
    std::filesystem::remove_all(dir);
    return static_cast<double>(n) / secs;
}

}  // namespace

int main(int argc, char** argv) {
    std::string base = argc > 1 ? argv[1] : "/var/tmp";
    std::string dir = base + "/ktrail-spool-bench-" + std::to_string(getpid());
    size_t size = 0;
    double group = run(dir, 1'000'000, false, &size);
    double each = run(dir, 5'000, true, &size);
    printf("spool append (%zu-byte events, CRC32C + SHA-256 chain, group commit every 50 ms): %.0f events/s, %.0f MB/s\n",
           size, group, group * static_cast<double>(size) / 1e6);
    printf("spool append with an fdatasync per event (for scale): %.0f events/s; group commit is %.0fx faster\n", each,
           group / each);
    return 0;
}
