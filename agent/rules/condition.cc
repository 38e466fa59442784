#include "rules/condition.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <charconv>

namespace ktrail::rules {
namespace {

enum class Tok { kLParen, kRParen, kComma, kOp, kWord, kString, kEnd, kBad };

struct Token {
    Tok kind;
    std::string text;  // unquoted for strings
    size_t offset;
};

bool word_char(char c) {
    return !(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ')' || c == ',' || c == '"' ||
             c == '\'' || c == '=' || c == '!' || c == '<' || c == '>');
}

class Lexer {
public:
    explicit Lexer(std::string_view s) : s_(s) {}
    Token next() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
        size_t at = i_;
        if (i_ >= s_.size()) return {Tok::kEnd, "", at};
        char c = s_[i_];
        if (c == '(') return ++i_, Token{Tok::kLParen, "(", at};
        if (c == ')') return ++i_, Token{Tok::kRParen, ")", at};
        if (c == ',') return ++i_, Token{Tok::kComma, ",", at};
        if (c == '=') return ++i_, Token{Tok::kOp, "=", at};
        if (c == '!' || c == '<' || c == '>') {
            if (i_ + 1 < s_.size() && s_[i_ + 1] == '=') {
                i_ += 2;
                return {Tok::kOp, std::string(s_.substr(at, 2)), at};
            }
            if (c == '!') return ++i_, Token{Tok::kBad, "!", at};
            return ++i_, Token{Tok::kOp, std::string(1, c), at};
        }
        if (c == '"' || c == '\'') {
            std::string out;
            ++i_;
            while (i_ < s_.size() && s_[i_] != c) {
                if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
                out += s_[i_++];
            }
            if (i_ >= s_.size()) return {Tok::kBad, "unterminated string", at};
            ++i_;
            return {Tok::kString, out, at};
        }
        while (i_ < s_.size() && word_char(s_[i_])) ++i_;
        return {Tok::kWord, std::string(s_.substr(at, i_ - at)), at};
    }

private:
    std::string_view s_;
    size_t i_ = 0;
};

std::optional<int64_t> parse_number(std::string_view s) {
    if (s.empty()) return std::nullopt;
    bool neg = s[0] == '-';
    std::string_view d = neg ? s.substr(1) : s;
    int base = 10;
    if (d.size() > 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) {
        base = 16;
        d.remove_prefix(2);
    } else if (d.size() > 1 && d[0] == '0') {
        base = 8;  // file modes: 0644, as chmod writes them
        d.remove_prefix(1);
    }
    int64_t v = 0;
    auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), v, base);
    if (ec != std::errc() || p != d.data() + d.size() || d.empty()) return std::nullopt;
    return neg ? -v : v;
}

bool is_word_op(std::string_view w) {
    return w == "in" || w == "startswith" || w == "endswith" || w == "contains" || w == "glob";
}

class Parser {
public:
    Parser(std::string_view text, const PosMap& pos, const Lists& lists, const std::string& file,
           std::vector<Diag>& diags)
        : lex_(text), pos_(pos), lists_(lists), file_(file), diags_(diags) {
        advance();
    }

    std::unique_ptr<Node> parse() {
        auto n = parse_or();
        if (n && tok_.kind != Tok::kEnd) return error(tok_, fmt::format("unexpected '{}' after a complete condition", tok_.text));
        return n;
    }

private:
    void advance() { tok_ = lex_.next(); }
    SourcePos at(const Token& t) const { return pos_(t.offset); }
    std::unique_ptr<Node> error(const Token& t, std::string msg) {
        if (t.kind == Tok::kBad) msg = bad(t);  // whatever was expected there
        if (t.kind == Tok::kEnd) msg += " (at the end of the condition)";
        diags_.push_back({file_, at(t), std::move(msg)});
        return nullptr;
    }
    bool is_word(std::string_view w) const { return tok_.kind == Tok::kWord && tok_.text == w; }
    // What is wrong with a token the lexer could not read, wherever it is.
    static std::string bad(const Token& t) {
        return t.text == "!" ? "'!' alone is not an operator: use '!=' or 'not'" : t.text;
    }

    std::unique_ptr<Node> join(Node::Kind kind, std::unique_ptr<Node> left, const char* word,
                               std::unique_ptr<Node> (Parser::*sub)()) {
        if (!left || !is_word(word)) return left;
        auto n = std::make_unique<Node>();
        n->kind = kind;
        n->pos = left->pos;
        n->kids.push_back(std::move(left));
        while (is_word(word)) {
            advance();
            auto right = (this->*sub)();
            if (!right) return nullptr;
            n->kids.push_back(std::move(right));
        }
        return n;
    }
    std::unique_ptr<Node> parse_or() { return join(Node::Kind::kOr, parse_and(), "or", &Parser::parse_and); }
    std::unique_ptr<Node> parse_and() { return join(Node::Kind::kAnd, parse_not(), "and", &Parser::parse_not); }
    std::unique_ptr<Node> parse_not() {
        if (!is_word("not")) return parse_primary();
        Token t = tok_;
        advance();
        auto inner = parse_not();
        if (!inner) return nullptr;
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kNot;
        n->pos = at(t);
        n->kids.push_back(std::move(inner));
        return n;
    }

    std::unique_ptr<Node> parse_primary() {
        if (tok_.kind == Tok::kLParen) {
            Token open = tok_;
            advance();
            auto n = parse_or();
            if (!n) return nullptr;
            if (tok_.kind != Tok::kRParen) return error(tok_, fmt::format("expected ')' to close the '(' at column {}", at(open).col));
            advance();
            return n;
        }
        if (tok_.kind != Tok::kWord || tok_.text == "and" || tok_.text == "or") {
            if (tok_.kind == Tok::kBad) return error(tok_, tok_.text == "!" ? "'!' alone is not an operator: use '!=' or 'not'" : tok_.text);
            return error(tok_, tok_.kind == Tok::kEnd ? "expected a condition"
                                                      : fmt::format("expected a field, a macro or '(', not '{}'", tok_.text));
        }
        Token name = tok_;
        advance();
        bool op_follows = tok_.kind == Tok::kOp || (tok_.kind == Tok::kWord && is_word_op(tok_.text));
        if (!op_follows) {
            auto n = std::make_unique<Node>();
            n->kind = Node::Kind::kMacro;
            n->pos = at(name);
            n->macro = name.text;
            return n;
        }
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kCompare;
        n->pos = at(name);
        n->field_name = name.text;
        static const std::pair<std::string_view, Op> ops[] = {
            {"=", Op::kEq},  {"!=", Op::kNe},         {"<", Op::kLt},        {"<=", Op::kLe},
            {">", Op::kGt},  {">=", Op::kGe},         {"in", Op::kIn},       {"startswith", Op::kStartsWith},
            {"endswith", Op::kEndsWith}, {"contains", Op::kContains}, {"glob", Op::kGlob},
        };
        for (const auto& [text, op] : ops)
            if (tok_.text == text) n->op = op;
        Token op_tok = tok_;
        advance();
        bool list_allowed = n->op == Op::kIn || n->op == Op::kStartsWith || n->op == Op::kEndsWith ||
                            n->op == Op::kContains || n->op == Op::kGlob;
        if (tok_.kind == Tok::kLParen && list_allowed) {
            advance();
            for (;;) {
                if (!value(n->values, true)) return nullptr;
                if (tok_.kind == Tok::kComma) {
                    advance();
                    continue;
                }
                if (tok_.kind == Tok::kRParen) break;
                return error(tok_, "expected ',' or ')' in the value list");
            }
            advance();
            if (n->values.empty()) return error(op_tok, fmt::format("'{}' has an empty list", op_tok.text));
        } else if (n->op == Op::kIn) {
            return error(tok_, "'in' takes a list in parentheses: in (a, b)");
        } else if (!value(n->values, false)) {
            return nullptr;
        }
        return n;
    }

    // One value (or a list's items, inside parentheses).
    bool value(std::vector<Value>& out, bool in_list) {
        if (tok_.kind != Tok::kWord && tok_.kind != Tok::kString) {
            error(tok_, tok_.kind == Tok::kEnd ? "expected a value" : fmt::format("expected a value, not '{}'", tok_.text));
            return false;
        }
        Value v;
        v.text = tok_.text;
        v.quoted = tok_.kind == Tok::kString;
        v.pos = at(tok_);
        if (!v.quoted) v.number = parse_number(v.text);
        advance();
        if (in_list && !v.quoted) {
            if (auto it = lists_.find(v.text); it != lists_.end()) {
                for (Value item : it->second) {
                    item.pos = v.pos;
                    out.push_back(std::move(item));
                }
                return true;
            }
        }
        out.push_back(std::move(v));
        return true;
    }

    Lexer lex_;
    Token tok_{Tok::kEnd, "", 0};
    const PosMap& pos_;
    const Lists& lists_;
    const std::string& file_;
    std::vector<Diag>& diags_;
};

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t cur = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
            prev = cur;
        }
    }
    return row[b.size()];
}

std::string suggestion(std::string_view name) {
    std::string_view best;
    size_t best_d = 4;
    for (auto f : field_names()) {
        size_t d = edit_distance(name, f);
        if (d < best_d) {
            best_d = d;
            best = f;
        }
    }
    return best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best);
}

bool match_string(Op op, const Node& n, std::string_view s) {
    switch (op) {
    case Op::kEq:
    case Op::kNe:
    case Op::kIn:
        // A few values: comparing beats hashing.
        if (n.values.size() <= 8) {
            for (const auto& v : n.values)
                if (s == v.text) return true;
            return false;
        }
        return n.str_set.contains(s);
    case Op::kStartsWith:
        for (const auto& v : n.values)
            if (s.starts_with(v.text)) return true;
        return false;
    case Op::kEndsWith:
        for (const auto& v : n.values)
            if (s.ends_with(v.text)) return true;
        return false;
    case Op::kContains:
        for (const auto& v : n.values)
            if (s.find(v.text) != std::string_view::npos) return true;
        return false;
    case Op::kGlob: {
        // fnmatch needs a terminated string (file.name is a slice): one
        // buffer, reused, not an allocation per event.
        thread_local std::string z;
        z.assign(s);
        for (const auto& v : n.values)
            if (fnmatch(v.text.c_str(), z.c_str(), 0) == 0) return true;
        return false;
    }
    default: return false;
    }
}

bool match_number(Op op, const Node& n, int64_t x) {
    int64_t v = n.nums.empty() ? 0 : n.nums.front();
    switch (op) {
    case Op::kEq:
    case Op::kNe:
    case Op::kIn: return std::find(n.nums.begin(), n.nums.end(), x) != n.nums.end();
    case Op::kLt: return x < v;
    case Op::kLe: return x <= v;
    case Op::kGt: return x > v;
    case Op::kGe: return x >= v;
    default: return false;
    }
}

}  // namespace

std::string Diag::to_string() const { return fmt::format("{}:{}:{}: {}", file, pos.line, pos.col, message); }

std::string_view to_string(Op op) {
    switch (op) {
    case Op::kEq: return "=";
    case Op::kNe: return "!=";
    case Op::kLt: return "<";
    case Op::kLe: return "<=";
    case Op::kGt: return ">";
    case Op::kGe: return ">=";
    case Op::kIn: return "in";
    case Op::kStartsWith: return "startswith";
    case Op::kEndsWith: return "endswith";
    case Op::kContains: return "contains";
    case Op::kGlob: return "glob";
    }
    return "?";
}

std::unique_ptr<Node> Node::clone() const {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->pos = pos;
    for (const auto& k : kids) n->kids.push_back(k->clone());
    n->field_name = field_name;
    n->field = field;
    n->audit_key = audit_key;
    n->op = op;
    n->values = values;
    n->macro = macro;
    return n;  // str_set/nums point into values: compile() the clone
}

std::string Node::text() const {
    switch (kind) {
    case Kind::kAnd:
    case Kind::kOr: {
        std::string s = "(";
        for (size_t i = 0; i < kids.size(); ++i) s += (i ? (kind == Kind::kAnd ? " and " : " or ") : "") + kids[i]->text();
        return s + ")";
    }
    case Kind::kNot: return "not " + kids[0]->text();
    case Kind::kMacro: return macro;
    case Kind::kCompare: {
        std::string s = field_name + " " + std::string(to_string(op)) + " ";
        if (values.size() == 1 && op != Op::kIn) return s + values[0].text;
        s += "(";
        for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + values[i].text;
        return s + ")";
    }
    }
    return "";
}

std::unique_ptr<Node> parse_condition(std::string_view text, const PosMap& pos, const Lists& lists,
                                      const std::string& file, std::vector<Diag>& diags) {
    size_t before = diags.size();
    auto n = Parser(text, pos, lists, file, diags).parse();
    return diags.size() == before ? std::move(n) : nullptr;
}

void check_and_compile(Node& n, const std::string& file, std::vector<Diag>& diags) {
    if (n.kind != Node::Kind::kCompare) {
        for (auto& k : n.kids) check_and_compile(*k, file, diags);
        return;
    }
    auto err = [&](SourcePos p, std::string m) { diags.push_back({file, p, std::move(m)}); };
    FieldType type = FieldType::kString;
    if (is_audit_data_field(n.field_name, nullptr)) {
        std::string_view key;
        is_audit_data_field(n.field_name, &key);
        n.audit_key = std::string(key);
        n.field = nullptr;
    } else if ((n.field = find_field(n.field_name))) {
        type = n.field->type;
    } else {
        err(n.pos, fmt::format("unknown field '{}'{}", n.field_name, suggestion(n.field_name)));
        return;
    }
    bool numeric_op = n.op == Op::kLt || n.op == Op::kLe || n.op == Op::kGt || n.op == Op::kGe;
    bool string_op = n.op == Op::kStartsWith || n.op == Op::kEndsWith || n.op == Op::kContains || n.op == Op::kGlob;
    if (numeric_op && type != FieldType::kNumber) {
        err(n.pos, fmt::format("'{}' compares numbers, but {} is {}", to_string(n.op), n.field_name, to_string(type)));
        return;
    }
    if (string_op && type == FieldType::kNumber) {
        err(n.pos, fmt::format("'{}' compares strings, but {} is a number", to_string(n.op), n.field_name));
        return;
    }
    n.str_set.clear();
    n.nums.clear();
    for (const auto& v : n.values) {
        if (type == FieldType::kNumber) {
            if (!v.number || v.quoted) {
                err(v.pos, fmt::format("{} is a number; '{}' is not", n.field_name, v.text));
                continue;
            }
            n.nums.push_back(*v.number);
        } else {
            n.str_set.insert(v.text);
        }
    }
}

bool evaluate(const Node& n, const v1::Event& ev) {
    switch (n.kind) {
    case Node::Kind::kAnd:
        for (const auto& k : n.kids)
            if (!evaluate(*k, ev)) return false;
        return true;
    case Node::Kind::kOr:
        for (const auto& k : n.kids)
            if (evaluate(*k, ev)) return true;
        return false;
    case Node::Kind::kNot: return !evaluate(*n.kids[0], ev);
    case Node::Kind::kMacro: return false;  // inlined before evaluation
    case Node::Kind::kCompare: break;
    }
    FieldValue v = n.field ? n.field->get(ev) : audit_data(ev, n.audit_key);
    if (!v.present) return false;
    bool negate = n.op == Op::kNe;
    if (v.list) {
        for (const auto& s : *v.list)
            if (match_string(n.op, n, s)) return !negate;
        return negate;
    }
    bool hit = n.field && n.field->type == FieldType::kNumber ? match_number(n.op, n, v.num) : match_string(n.op, n, v.str);
    return negate ? !hit : hit;
}

}  // namespace ktrail::rules
