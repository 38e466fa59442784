#include "control/snapshot.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <numeric>

namespace ktrail::control {

size_t lost_stage_index(const char* stage) {
    for (size_t i = 0; i < kLostStages.size(); ++i)
        if (strcmp(kLostStages[i], stage) == 0) return i;
    return kLostStages.size();
}

uint64_t Snapshot::lost_total() const { return std::accumulate(lost.begin(), lost.end(), uint64_t{0}); }

void SnapshotBox::publish(Snapshot s) {
    constexpr int64_t kWindowNs = 10'000'000'000;
    std::lock_guard lock(mu_);
    window_.push_back({s.taken_ns, s.emitted});
    // Keep one sample at or before the window's start, so the rate spans ~10 s.
    size_t drop = 0;
    while (drop + 1 < window_.size() && window_[drop + 1].ns <= s.taken_ns - kWindowNs) ++drop;
    window_.erase(window_.begin(), window_.begin() + static_cast<ptrdiff_t>(drop));
    const Sample& first = window_.front();
    s.events_per_second = s.taken_ns > first.ns
                              ? static_cast<double>(s.emitted - first.emitted) * 1e9 / static_cast<double>(s.taken_ns - first.ns)
                              : 0;
    latest_ = std::move(s);
}

Snapshot SnapshotBox::latest() const {
    std::lock_guard lock(mu_);
    return latest_;
}

uint64_t resident_bytes() {
    FILE* f = fopen("/proc/self/statm", "re");
    if (!f) return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    if (n != 2) return 0;
    return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace ktrail::control
