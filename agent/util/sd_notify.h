// systemd's readiness protocol without libsystemd: state lines such as
// "READY=1" sent as one datagram to the AF_UNIX socket named by
// $NOTIFY_SOCKET (a path, or "@name" for an abstract socket).
#pragma once

#include <string_view>

#include "util/error.h"

namespace ktrail::sd {

// Sends `state` (e.g. "READY=1\nSTATUS=capturing") to $NOTIFY_SOCKET.
// Returns false when the variable is unset (not run by systemd: nothing to
// do), true once sent.
Result<bool> notify(std::string_view state);

// notify(), with a failure logged as a warning (a service manager that does
// not hear READY=1 times the start out, so say why).
void notify_or_warn(std::string_view state);

}  // namespace ktrail::sd
