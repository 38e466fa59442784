// Converts the kernel's boot-time stamps (bpf_ktime_get_boot_ns) to Unix
// time. The offset is re-read now and then so NTP adjustments show up.
#pragma once

#include <cstdint>

namespace ktrail {

class BootClock {
public:
    BootClock() { refresh(); }
    void refresh();
    int64_t to_unix_ns(uint64_t boot_ns) const { return static_cast<int64_t>(boot_ns) + offset_ns_; }
    uint64_t to_boot_ns(int64_t unix_ns) const {
        return unix_ns > offset_ns_ ? static_cast<uint64_t>(unix_ns - offset_ns_) : 0;
    }
    static int64_t now_unix_ns();

private:
    int64_t offset_ns_ = 0;
};

}  // namespace ktrail
