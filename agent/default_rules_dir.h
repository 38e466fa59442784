// The directory of the default ktrail rule set, fixed when ktraild is linked:
// the source tree's rules/ for development builds and tests
// (KTRAIL_DEFAULT_RULES_DIR), the installed copy for the package's ktraild
// (KTRAIL_INSTALLED_RULES_DIR, see agent/CMakeLists.txt).
#pragma once

namespace ktrail {

const char* default_rules_dir();

}  // namespace ktrail
