// Admins' audit rules in auditctl syntax (the lines of *.rules files, as
// `auditctl -R` reads them), encoded for the kernel exactly as auditctl
// encodes them: through libaudit's own encoders, driven the way auditctl
// drives them. Parsing is separate from loading so that a file with any
// error changes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/guardian.h"
#include "util/host_root.h"

namespace ktrail::audit {

// One kernel rule: struct audit_rule_data plus its string buffer.
struct EncodedRule {
    std::string where;  // file:line
    std::string text;   // the line as written
    std::vector<uint8_t> data;
    bool remove = false;  // -d / -W: delete this rule instead of adding it
};

// Settings a rules file may carry besides rules.
struct AuditControl {
    bool delete_all = false;  // -D
    std::optional<uint32_t> backlog_limit, rate_limit, backlog_wait_time, enabled, failure;
};

struct RuleError {
    std::string where;  // file:line
    std::string reason;
};

struct ParsedRules {
    std::vector<EncodedRule> rules;
    AuditControl control;
    std::vector<RuleError> errors;
    bool ignore_errors = false;  // -i / -c in the file
};

// Splits a line like a shell would for auditctl: whitespace, 'single' and
// "double" quotes, and backslash-escaped spaces.
std::vector<std::string> tokenize_rule_line(std::string_view line);

// Encodes one rule given as auditctl arguments (-a/-A/-d/-w/-W ...).
Result<std::vector<uint8_t>> encode_rule(const std::vector<std::string>& args);

struct ParseOptions {
    bool allow_lock = false;  // accept -e 2 (locks the configuration until reboot)
    bool allow_panic = false; // accept -f 2 (panic on audit failure)
    // The kernel resolves the paths of watches (-w, -F path=, dir=, exe=) in
    // the namespace of the process that adds them: ktraild's. With the host's
    // root given, a rule whose path names another directory there than on
    // the host (PrivateTmp= in ktraild's unit and a watch under /tmp) is
    // refused. Not owned; nullptr: no check (`ktrail rules check`).
    const HostRoot* host_root = nullptr;
};

// Parses and encodes a rules file; every error has its file:line.
ParsedRules parse_rules_file(const std::string& path, const ParseOptions& options = {});
// Files and directories (their *.rules files, in name order) into one set.
ParsedRules parse_rules_paths(const std::vector<std::string>& paths, const ParseOptions& options = {});
void parse_rules_text(std::string_view text, const std::string& name, const ParseOptions& options, ParsedRules& out);

// The rules ktraild added to the kernel, removed again when it goes.
// Settings in the files (-D, -b, -r, -e, -f, --backlog_wait_time) are not
// applied: ktraild owns the audit settings it needs and never deletes rules
// it did not add. A guardian removes the rules if the agent is killed.
class LoadedRules {
public:
    // Adds every rule; on any failure removes what it added and reports
    // every error.
    static Result<LoadedRules> load(const ParsedRules& parsed);
    LoadedRules() = default;
    LoadedRules(LoadedRules&& o) noexcept;
    LoadedRules& operator=(LoadedRules&& o) noexcept;
    ~LoadedRules() { unload(); }
    void unload();
    size_t size() const { return added_.size(); }

private:
    std::vector<std::vector<uint8_t>> added_;
    Guardian guardian_;
};

// The rules the kernel holds, as it lists them (AUDIT_LIST_RULES), in order.
Result<std::vector<std::vector<uint8_t>>> kernel_rules();
inline Result<size_t> kernel_rule_count() {
    auto r = kernel_rules();
    if (!r) return std::unexpected(r.error());
    return r->size();
}

}  // namespace ktrail::audit
