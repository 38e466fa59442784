// Reading the PEM files of ktrail's mutual TLS (agent and collector alike):
// a missing, unreadable or empty file is an error naming it and its flag.
#pragma once

#include <string>

#include "util/error.h"

namespace ktrail::forward {

Result<std::string> read_tls_file(const std::string& path, const char* flag);

}  // namespace ktrail::forward
