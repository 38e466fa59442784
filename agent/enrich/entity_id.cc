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

EntityIds::EntityIds(std::string_view boot_id) : seed_(fnv1a(0xcbf29ce484222325ULL, boot_id.data(), boot_id.size())) {}

uint64_t EntityIds::ns_per_tick() {
    static const uint64_t n = 1'000'000'000ULL / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
    return n;
}

uint64_t EntityIds::key(uint32_t pid, uint64_t start_boot_ns) const {
    uint64_t t = ticks(start_boot_ns);
    uint64_t h = fnv1a(seed_, &pid, sizeof(pid));
    return fnv1a(h, &t, sizeof(t));
}

void EntityIds::format_to(uint64_t key, std::string& out) {
    static const char hex[] = "0123456789abcdef";
    out.resize(16);
    for (int i = 15; i >= 0; --i, key >>= 4) out[i] = hex[key & 0xf];
}

std::string EntityIds::format(uint64_t key) {
    std::string out;
    format_to(key, out);
    return out;
}

}  // namespace ktrail
