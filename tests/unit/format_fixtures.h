// Events for the format tests: one (or more) per event.action the agent can
// emit, enriched the way the pipeline enriches them.
#pragma once

#include <vector>

#include "ktrail/v1/event.pb.h"

namespace ktrail::test {

std::vector<v1::Event> format_fixture_events();

}  // namespace ktrail::test
