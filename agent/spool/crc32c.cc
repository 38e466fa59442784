// CRC32C (Castagnoli), the checksum of every spool record: SSE4.2's crc32
// instruction where the CPU has it, a table otherwise.
#include <cpuid.h>

#include <array>
#include <cstring>

#include "spool/spool.h"

namespace ktrail::spool {
namespace {

constexpr std::array<uint32_t, 256> make_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[i] = c;
    }
    return t;
}
constexpr auto kTable = make_table();

uint32_t crc_table(uint32_t crc, const uint8_t* p, size_t n) {
    while (n--) crc = kTable[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

__attribute__((target("sse4.2"))) uint32_t crc_sse42(uint32_t crc, const uint8_t* p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = static_cast<uint32_t>(c);
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

bool has_sse42() {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
}

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t n) {
    static const bool hw = has_sse42();
    auto* p = static_cast<const uint8_t*>(data);
    crc = ~crc;
    crc = hw ? crc_sse42(crc, p, n) : crc_table(crc, p, n);
    return ~crc;
}

}  // namespace ktrail::spool
