#include "default_rules_dir.h"

namespace ktrail {

const char* default_rules_dir() {
#ifdef KTRAIL_INSTALLED_RULES_DIR
    return KTRAIL_INSTALLED_RULES_DIR;
#else
    return KTRAIL_DEFAULT_RULES_DIR;
#endif
}

}  // namespace ktrail
