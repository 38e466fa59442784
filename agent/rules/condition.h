// Rule conditions: parsed from text into a tree whose every node knows where
// it was written, checked against the field registry, evaluated per event.
//
//   expr    := or
//   or      := and ("or" and)*
//   and     := not ("and" not)*
//   not     := "not" not | primary
//   primary := "(" expr ")" | FIELD OP VALUE | FIELD "in" "(" VALUE, ... ")"
//            | FIELD (startswith|endswith|contains|glob) (VALUE | "(" VALUE, ... ")")
//            | MACRO
//   OP      := = != < <= > >= startswith endswith contains glob
//   VALUE   := "quoted" | 'quoted' | bareword (a number if it reads as one;
//              a list's name inside "( )" stands for its items)
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "ktrail/v1/event.pb.h"
#include "rules/field.h"

namespace ktrail::rules {

// 1-based, in the rule file.
struct SourcePos {
    int line = 0;
    int col = 0;
};

struct Diag {
    std::string file;
    SourcePos pos;
    std::string message;
    std::string to_string() const;  // "file:line:col: message"
};

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kStartsWith, kEndsWith, kContains, kGlob };
std::string_view to_string(Op op);

struct Value {
    std::string text;
    bool quoted = false;
    std::optional<int64_t> number;  // when the text reads as an integer
    SourcePos pos;
};

struct Node {
    enum class Kind { kAnd, kOr, kNot, kCompare, kMacro };
    Kind kind = Kind::kCompare;
    SourcePos pos;
    std::vector<std::unique_ptr<Node>> kids;  // and, or: 2+; not: 1
    // kCompare
    std::string field_name;
    const Field* field = nullptr;  // nullptr for auditd.data.KEY
    std::string audit_key;
    Op op = Op::kEq;
    std::vector<Value> values;
    // Compiled for evaluation (compile()).
    std::unordered_set<std::string_view> str_set;
    std::vector<int64_t> nums;
    // kMacro: the macro's name (resolved by inlining its tree).
    std::string macro;

    std::unique_ptr<Node> clone() const;
    // Canonical text, for comparing atoms and for messages.
    std::string text() const;
};

// Maps an offset in the condition text to where it is in the file.
using PosMap = std::function<SourcePos(size_t offset)>;
// Named lists: name -> items (already expanded).
using Lists = std::map<std::string, std::vector<Value>, std::less<>>;

// Parses `text`; appends errors to `diags` (with `file`) and returns nullptr
// when there is any. Lists are expanded here; macros stay as references.
std::unique_ptr<Node> parse_condition(std::string_view text, const PosMap& pos, const Lists& lists,
                                      const std::string& file, std::vector<Diag>& diags);

// Type checks (fields known, operators fit their types, values fit) and
// prepares the node for evaluation. Errors go to `diags`.
void check_and_compile(Node& n, const std::string& file, std::vector<Diag>& diags);

bool evaluate(const Node& n, const v1::Event& ev);

}  // namespace ktrail::rules
