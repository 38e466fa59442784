// ktrail: the command line for people and scripts: `ktrail query` and
// `ktrail verify` over the central store, and `ktrail rules check` for ktrail
// rule files (YAML) and admins' audit rules (auditctl syntax).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "query.h"
#include "rules/analysis.h"
#include "rules/rule_set.h"
#include "source/audit/audit_rules.h"
#include "status.h"
#include "verify_cmd.h"

namespace {

const char* kUsage =
    "usage: ktrail query [--store URL] [--since T] [--until T] [--host H] [--user U] [--action A]\n"
    "                    [--path GLOB] [--outcome success|failure|unknown] [--session ID] [--limit N] [--json]\n"
    "       ktrail verify [--store URL] [--host H] [--json]\n"
    "       ktrail rules check FILE...\n"
    "       ktrail status [--socket PATH] [--json]\n"
    "\n"
    "  query         the stored events that match, newest first (ktrail query --help)\n"
    "  verify        check the stored events against each agent's hash chain and signed\n"
    "                checkpoints: per host ok, gaps or tampered (ktrail verify --help)\n"
    "  rules check   check rule files without touching the kernel: ktrail rules (*.yaml,\n"
    "                *.yml, checked together, as ktraild loads them) and audit rules\n"
    "                (auditctl syntax, any other file); every error as FILE:LINE[:COLUMN]:\n"
    "                reason; exit status 1 if there is any\n"
    "  status        the running ktraild: audit mode, programs, rules, events/s, losses, spool\n"
    "                backlog, every output's delivery (ktrail status --help); exit 3 if not running\n";

int rules_check(const std::vector<std::string>& files) {
    if (files.empty()) {
        fputs(kUsage, stderr);
        return 2;
    }
    size_t errors = 0;
    std::vector<std::string> ktrail_files;
    for (const auto& file : files)
        if (ktrail::rules::is_rule_file(file)) ktrail_files.push_back(file);
    if (!ktrail_files.empty()) {
        auto loaded = ktrail::rules::load_rules(ktrail_files);
        for (const auto& e : loaded.errors) fprintf(stderr, "%s\n", e.to_string().c_str());
        errors += loaded.errors.size();
        if (loaded.set) {
            printf("ktrail rules: %zu rule(s) from %zu file(s), 0 errors\n", loaded.set->rules.size(),
                   loaded.set->files.size());
            for (const auto& d : ktrail::rules::plan_kernel_drops(*loaded.set).decisions)
                printf("  drop rule %s: %s\n", d.rule.c_str(), d.what.c_str());
        } else {
            printf("ktrail rules: %zu error(s) in %zu file(s)\n", loaded.errors.size(), ktrail_files.size());
        }
    }
    for (const auto& file : files) {
        if (ktrail::rules::is_rule_file(file)) continue;
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
    if (!args.empty() && args[0] == "query") return ktrail::cli::query_main({args.begin() + 1, args.end()});
    if (!args.empty() && args[0] == "verify") return ktrail::cli::verify_main({args.begin() + 1, args.end()});
    if (!args.empty() && args[0] == "status") return ktrail::cli::status_main({args.begin() + 1, args.end()});
    if (args.size() >= 2 && args[0] == "rules" && args[1] == "check")
        return rules_check(std::vector<std::string>(args.begin() + 2, args.end()));
    if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
        fputs(kUsage, stdout);
        return 0;
    }
    fprintf(stderr, "ktrail: unknown command '%s'\n%s", args.empty() ? "" : args[0].c_str(), kUsage);
    return 2;
}
