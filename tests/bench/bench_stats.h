// What the per-call benchmarks share: timing one call, summarising the
// timings, and a cheap deterministic random source for picking inputs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace ktrail::bench {

using Clock = std::chrono::steady_clock;

struct Summary {
    uint64_t median = 0, p99 = 0;
    double mean = 0;
};

inline Summary summarize(std::vector<uint32_t> v) {
    Summary s;
    if (v.empty()) return s;
    double sum = 0;
    for (uint32_t x : v) sum += x;
    s.mean = sum / static_cast<double>(v.size());
    std::sort(v.begin(), v.end());
    s.median = v[(v.size() - 1) / 2];
    s.p99 = v[std::min(v.size() - 1, (v.size() * 99 + 99) / 100 - 1)];
    return s;
}

inline uint32_t ns_between(Clock::time_point a, Clock::time_point b) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
    return static_cast<uint32_t>(std::clamp<int64_t>(ns, 0, UINT32_MAX));
}

inline uint64_t xorshift(uint64_t& s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

}  // namespace ktrail::bench
