// ktrail: the command line for people and scripts. This stage has
// `ktrail rules check` for admins' audit rules (auditctl syntax).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "source/audit/audit_rules.h"

namespace {

const char* kUsage =
    "usage: ktrail rules check FILE...\n"
    "\n"
    "  rules check   check audit rule files (auditctl syntax) without touching the kernel:\n"
    "                every error as FILE:LINE: reason; exit status 1 if there is any\n";

int rules_check(const std::vector<std::string>& files) {
    if (files.empty()) {
        fputs(kUsage, stderr);
        return 2;
    }
    size_t errors = 0;
    for (const auto& file : files) {
        auto parsed = ktrail::audit::parse_rules_file(file);
        for (const auto& e : parsed.errors) fprintf(stderr, "%s: %s\n", e.where.c_str(), e.reason.c_str());
        errors += parsed.errors.size();
        printf("%s: %zu rule(s), %zu error(s)\n", file.c_str(), parsed.rules.size(), parsed.errors.size());
    }
    return errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() >= 2 && args[0] == "rules" && args[1] == "check")
        return rules_check(std::vector<std::string>(args.begin() + 2, args.end()));
    if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
        fputs(kUsage, stdout);
        return 0;
    }
    fprintf(stderr, "ktrail: unknown command '%s'\n%s", args.empty() ? "" : args[0].c_str(), kUsage);
    return 2;
}
