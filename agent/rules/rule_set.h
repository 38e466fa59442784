// A set of ktrail rules loaded from YAML files (rules/*.yaml):
//
//   - list: shells
//     items: [/usr/bin/bash, /usr/bin/dash]
//   - macro: wrote_file
//     condition: event.category = file and event.type in (change, creation, deletion)
//   - watch: [/etc/shadow]            # reads under these paths are captured too
//   - rule: identity-file-written
//     name: Identity file written     # rule.name (default: the id)
//     description: Someone changed an account database
//     condition: wrote_file and file.path in (/etc/passwd, /etc/shadow)
//     actions: [tag identity, severity 70, technique T1098]
//
// Actions: drop, keep (wins over drop), tag KEY, severity N (0-100),
// technique T1234[.001], alert N within 60s [by FIELD, ...].
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rules/condition.h"

namespace ktrail::rules {

struct AlertSpec {
    uint32_t count = 0;
    int64_t window_ns = 0;
    std::vector<std::string> by;  // field names; the group key
};

struct Rule {
    std::string id;
    std::string name;
    std::string description;
    std::string file;
    SourcePos pos;
    std::unique_ptr<Node> condition;
    bool drop = false;
    bool keep = false;
    std::vector<std::string> tags;
    std::optional<uint32_t> severity;
    std::string technique;
    std::optional<AlertSpec> alert;
    std::string where() const;  // "file:line"
};

struct RuleSet {
    std::vector<Rule> rules;
    std::vector<std::string> watch;  // absolute paths whose reads are captured
    std::vector<std::string> files;  // what was loaded
};

struct LoadResult {
    std::shared_ptr<RuleSet> set;  // null when there is any error
    std::vector<Diag> errors;      // every error, in file order
};

// Loads files and directories (their *.yaml and *.yml, in name order).
// Every file is read and checked; any error anywhere loads nothing.
LoadResult load_rules(const std::vector<std::string>& paths);
// The same from text (tests; `name` stands for the file name in errors).
LoadResult load_rules_text(const std::string& text, const std::string& name = "<text>");

// True for the paths load_rules takes as ktrail rule files.
bool is_rule_file(const std::string& path);

}  // namespace ktrail::rules
