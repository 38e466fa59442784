#include "forward/tls_files.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ktrail::forward {

Result<std::string> read_tls_file(const std::string& path, const char* flag) {
    if (path.empty()) return fail(fmt::format("{} is missing: mutual TLS needs --tls-ca, --tls-cert and --tls-key", flag));
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(fmt::format("cannot read {} {}: {}", flag, path, strerror(errno)));
    std::stringstream s;
    s << in.rdbuf();
    if (s.str().empty()) return fail(fmt::format("{} {} is empty", flag, path));
    return s.str();
}

}  // namespace ktrail::forward
