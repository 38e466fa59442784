#include "util/boot_clock.h"

#include <time.h>

namespace ktrail {
namespace {
int64_t read_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

int64_t BootClock::now_unix_ns() { return read_ns(CLOCK_REALTIME); }

void BootClock::refresh() {
    // Bracket the realtime read so the offset is not skewed by preemption.
    int64_t b1 = read_ns(CLOCK_BOOTTIME);
    int64_t r = read_ns(CLOCK_REALTIME);
    int64_t b2 = read_ns(CLOCK_BOOTTIME);
    offset_ns_ = r - (b1 + (b2 - b1) / 2);
}

}  // namespace ktrail
