// ktrail's version, on its own so the formats (CEF's header, OCSF's
// metadata.product) name it without pulling in the whole agent.
#pragma once

namespace ktrail {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace ktrail
