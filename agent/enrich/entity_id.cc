#include "enrich/entity_id.h"

#include <unistd.h>

namespace ktrail {
namespace {
// FNV-1a, 64 bit: stable across builds and hosts, cheap, no dependencies.
uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
}  // namespace

std::string entity_id(std::string_view boot_id, uint32_t pid, uint64_t start_boot_ns) {
    static const uint64_t ns_per_tick = 1'000'000'000ULL / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
    uint64_t ticks = start_boot_ns / ns_per_tick;
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a(h, boot_id.data(), boot_id.size());
    h = fnv1a(h, &pid, sizeof(pid));
    h = fnv1a(h, &ticks, sizeof(ticks));
    static const char hex[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, h >>= 4) out[i] = hex[h & 0xf];
    return out;
}

}  // namespace ktrail
