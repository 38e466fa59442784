// `ktrail verify`: is every stored event still the one the agent sent?
#pragma once

#include <string>
#include <vector>

#include "verify.h"

namespace ktrail::cli {

extern const char* const kVerifyUsage;

// The report for people: one line per agent (host), then one indented line
// per gap, tampering finding and retention note; then a summary line.
std::string format_verify_text(const verify::Report& report);
// For scripts: one JSON object per agent and line.
std::string format_verify_json(const verify::Report& report);

// Exit status: 0 every host ok (explained gaps are listed but ok), 1 any
// unexplained gap or tampering, or the store failed, 2 bad usage.
int verify_main(const std::vector<std::string>& args);

}  // namespace ktrail::cli
