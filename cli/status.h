// `ktrail status`: asks the running ktraild over its control socket and
// prints a one-screen summary (or, with --json, the document itself).
// Exit status: 0 running, 3 not running (as systemctl's "inactive"), 1 other
// errors, 2 usage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ktrail::cli {

int status_main(const std::vector<std::string>& args);
// The summary of a status document; ages are taken against `now_ns` (unix).
std::string render_status(const nlohmann::json& doc, int64_t now_ns);

}  // namespace ktrail::cli
