// What the tests' private servers (PostgreSQL, rsyslogd) share: reading
// their logs and finding a free loopback port.
#pragma once

#include <string>

namespace ktrail::test {

std::string slurp(const std::string& path);  // "" if unreadable
// The last `n` bytes of `s` (a long log's end is what explains a failure).
std::string tail(const std::string& s, size_t n = 3000);
// A TCP port on 127.0.0.1 free right now (throws std::runtime_error if none).
int free_port();

}  // namespace ktrail::test
