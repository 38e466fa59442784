// The status document the control socket answers with: one JSON object,
// the snapshot's numbers under stable names (`ktrail status --json` prints it).
#pragma once

#include <string>

#include "control/snapshot.h"

namespace ktrail::control {

std::string render_status_json(const Snapshot& s);

}  // namespace ktrail::control
