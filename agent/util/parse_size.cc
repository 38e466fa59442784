#include "util/parse_size.h"

#include <fmt/format.h>

#include <charconv>

namespace ktrail {

Result<uint64_t> parse_size(std::string_view name, const std::string& v) {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    std::string_view unit(p, v.data() + v.size());
    uint64_t mult = unit.empty() || unit == "B" ? 1
                    : unit == "K" || unit == "KiB" ? 1ull << 10
                    : unit == "M" || unit == "MiB" ? 1ull << 20
                    : unit == "G" || unit == "GiB" ? 1ull << 30
                                                   : 0;
    if (ec != std::errc() || mult == 0 || p == v.data())
        return fail(fmt::format("{} takes a size like 512M or 2G, not '{}'", name, v));
    return n * mult;
}

}  // namespace ktrail
