// Sizes as admins write them: "65536", "64K", "512M", "2G" (binary units).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.h"

namespace ktrail {

// `name` is the flag or key the value came from, for the message.
Result<uint64_t> parse_size(std::string_view name, const std::string& value);

}  // namespace ktrail
