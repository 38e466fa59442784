#include "rules/rule_set.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "rules/analysis.h"

namespace ktrail::rules {
namespace {

namespace fs = std::filesystem;

// One file's text, to map a scalar's characters back to line:column (YAML
// folds, quotes and escapes them; yaml-cpp only marks where they start).
struct Source {
    std::string name;
    std::string text;
    std::vector<size_t> line_starts;

    explicit Source(std::string n, std::string t) : name(std::move(n)), text(std::move(t)) {
        line_starts.push_back(0);
        for (size_t i = 0; i < text.size(); ++i)
            if (text[i] == '\n') line_starts.push_back(i + 1);
    }
    SourcePos at(size_t offset) const {
        auto it = std::upper_bound(line_starts.begin(), line_starts.end(), offset);
        size_t line = static_cast<size_t>(it - line_starts.begin());
        return {static_cast<int>(line), static_cast<int>(offset - line_starts[line - 1] + 1)};
    }
    SourcePos at(const YAML::Mark& m) const { return {m.line + 1, m.column + 1}; }
    // Offsets in `value` -> offsets in the file, aligning greedily from the
    // scalar's start past quotes, block indicators, indentation and escapes.
    PosMap map(const YAML::Node& node, const std::string& value) const {
        const YAML::Mark m = node.Mark();
        size_t s = (m.line >= 0 && static_cast<size_t>(m.line) < line_starts.size()) ? line_starts[m.line] + m.column : 0;
        if (s < text.size() && (text[s] == '|' || text[s] == '>')) {
            while (s < text.size() && text[s] != '\n') ++s;
        } else if (s < text.size() && (text[s] == '"' || text[s] == '\'')) {
            ++s;
        }
        auto offsets = std::make_shared<std::vector<size_t>>();
        offsets->reserve(value.size() + 1);
        for (char c : value) {
            size_t probe = s;
            while (probe < text.size() && text[probe] != c) ++probe;
            if (probe >= text.size()) probe = s;  // not found: stay put
            offsets->push_back(probe);
            s = probe + 1;
        }
        offsets->push_back(s);
        return [this, offsets](size_t i) { return at((*offsets)[std::min(i, offsets->size() - 1)]); };
    }
};

struct Pending {
    const Source* src;
    YAML::Node node;
    std::string text;
};

class Loader {
public:
    LoadResult run(std::vector<std::unique_ptr<Source>> sources) {
        sources_ = std::move(sources);
        for (const auto& src : sources_) collect(*src);
        resolve_lists();
        parse_macros();
        auto set = std::make_shared<RuleSet>();
        for (auto& p : pending_rules_) parse_rule(p, *set);
        for (const auto& src : sources_) set->files.push_back(src->name);
        set->watch = watch_;
        check_rule_set(*set, errors_);  // rules whose condition failed are skipped
        // Report each distinct error once, in file order.
        std::sort(errors_.begin(), errors_.end(), [](const Diag& a, const Diag& b) {
            return std::tie(a.file, a.pos.line, a.pos.col) < std::tie(b.file, b.pos.line, b.pos.col);
        });
        errors_.erase(std::unique(errors_.begin(), errors_.end(),
                                  [](const Diag& a, const Diag& b) { return a.to_string() == b.to_string(); }),
                      errors_.end());
        LoadResult out;
        out.errors = std::move(errors_);
        if (out.errors.empty()) out.set = std::move(set);
        return out;
    }

private:
    void err(const Source& src, SourcePos p, std::string msg) { errors_.push_back({src.name, p, std::move(msg)}); }
    void err(const Source& src, const YAML::Node& n, std::string msg) { err(src, src.at(n.Mark()), std::move(msg)); }

    bool scalar(const Source& src, const YAML::Node& item, const char* key, std::string& out, bool required) {
        YAML::Node v = item[key];
        if (!v) {
            if (required) err(src, item, fmt::format("missing '{}'", key));
            return false;
        }
        if (!v.IsScalar()) {
            err(src, v, fmt::format("'{}' must be a single value", key));
            return false;
        }
        out = v.Scalar();
        return true;
    }

    // `condition: ! x = 1` is YAML's tag "!" on "x = 1": the negation would
    // silently vanish. True (and reported) when a condition has a tag.
    bool yaml_tag(const Source& src, const YAML::Node& n) {
        const YAML::Mark m = n.Mark();
        if (m.line < 0 || static_cast<size_t>(m.line) >= src.line_starts.size()) return false;
        size_t s = src.line_starts[m.line] + m.column;
        if (s >= src.text.size() || src.text[s] != '!') return false;
        err(src, n, "YAML reads a leading '!' as a tag, not as a negation: use 'not', or quote the condition");
        return true;
    }

    void check_keys(const Source& src, const YAML::Node& item, std::initializer_list<const char*> allowed) {
        for (const auto& kv : item) {
            std::string k = kv.first.Scalar();
            bool ok = false;
            for (const char* a : allowed) ok |= k == a;
            if (!ok) {
                std::string all;
                for (const char* a : allowed) all += (all.empty() ? "" : ", ") + std::string(a);
                err(src, kv.first, fmt::format("unknown key '{}' (expected: {})", k, all));
            }
        }
    }

    void collect(const Source& src) {
        YAML::Node root;
        try {
            root = YAML::Load(src.text);
        } catch (const YAML::Exception& e) {
            err(src, src.at(e.mark), "YAML: " + e.msg);
            return;
        }
        if (root.IsNull()) return;  // an empty file
        if (!root.IsSequence()) {
            err(src, root, "a rule file is a list of items (- rule:, - macro:, - list:, - watch:)");
            return;
        }
        for (const auto& item : root) {
            if (!item.IsMap()) {
                err(src, item, "each item is a map starting with rule:, macro:, list: or watch:");
                continue;
            }
            if (item["rule"]) {
                check_keys(src, item, {"rule", "name", "description", "condition", "actions", "enabled"});
                pending_rules_.push_back({&src, item, {}});
            } else if (item["macro"]) {
                check_keys(src, item, {"macro", "condition"});
                std::string name, cond;
                if (!scalar(src, item, "macro", name, true) || !scalar(src, item, "condition", cond, true)) continue;
                if (macros_src_.contains(name)) err(src, item["macro"], fmt::format("macro '{}' is defined twice", name));
                if (yaml_tag(src, item["condition"])) broken_macros_.insert(name);
                macros_src_[name] = {&src, item["condition"], cond};
            } else if (item["list"]) {
                check_keys(src, item, {"list", "items"});
                std::string name;
                if (!scalar(src, item, "list", name, true)) continue;
                YAML::Node items = item["items"];
                if (!items || !items.IsSequence()) {
                    err(src, items ? items : YAML::Node(item), "a list needs 'items:' as a sequence");
                    continue;
                }
                if (lists_src_.contains(name)) err(src, item["list"], fmt::format("list '{}' is defined twice", name));
                lists_src_[name] = {&src, items, {}};
                list_order_.push_back(name);
            } else if (item["watch"]) {
                check_keys(src, item, {"watch"});
                YAML::Node w = item["watch"];
                std::vector<YAML::Node> paths;
                if (w.IsScalar()) paths.push_back(w);
                else if (w.IsSequence())
                    for (const auto& p : w) paths.push_back(p);
                else err(src, w, "'watch' takes a path or a list of paths");
                for (const auto& p : paths) {
                    if (!p.IsScalar() || p.Scalar().empty() || p.Scalar()[0] != '/')
                        err(src, p, "a watched path must be absolute");
                    else
                        watch_.push_back(p.Scalar());
                }
            } else {
                err(src, item, "each item starts with rule:, macro:, list: or watch:");
            }
        }
    }

    // Items may name earlier lists: expanded in definition order.
    void resolve_lists() {
        for (const auto& name : list_order_) {
            const Pending& p = lists_src_[name];
            std::vector<Value> items;
            for (const auto& it : p.node) {
                if (!it.IsScalar()) {
                    err(*p.src, it, "list items are single values");
                    continue;
                }
                const std::string& text = it.Scalar();
                bool quoted = it.Tag() == "!";  // yaml-cpp tags quoted scalars "!"
                if (!quoted && lists_.contains(text)) {
                    for (const auto& v : lists_[text]) items.push_back(v);
                    continue;
                }
                Value v;
                v.text = text;
                v.quoted = quoted;
                v.pos = p.src->at(it.Mark());
                if (!quoted) {
                    // the same reading as in conditions
                    std::vector<Diag> ignore;
                    Lists none;
                    auto n = parse_condition("x = " + text, [](size_t) { return SourcePos{}; }, none, "", ignore);
                    if (n && n->kind == Node::Kind::kCompare && n->values.size() == 1 && !n->values[0].quoted)
                        v.number = n->values[0].number;
                }
                items.push_back(std::move(v));
            }
            lists_[name] = std::move(items);
        }
    }

    void parse_macros() {
        // Each macro checked once, where it is defined: its own comparisons
        // here, its references to other macros below. One with an error is
        // not used; its error is not reported again where it is used.
        for (auto& [name, p] : macros_src_) {
            if (broken_macros_.contains(name)) continue;  // reported already
            size_t before = errors_.size();
            auto tree = parse_condition(p.text, p.src->map(p.node, p.text), lists_, p.src->name, errors_);
            if (tree) check_and_compile(*tree, p.src->name, errors_);
            if (tree && errors_.size() == before) macros_[name] = {std::move(tree), p.src};
            else broken_macros_.insert(name);
        }
        for (auto& [name, m] : macros_) {
            std::vector<std::string> stack{name};
            auto copy = m.tree->clone();
            inline_macros(copy, *m.src, stack);
        }
    }

    // Checks a condition written in `src` and inlines its macros, which were
    // checked where they are written; false if anything is wrong.
    bool check_condition(std::unique_ptr<Node>& cond, const Source& src) {
        size_t before = errors_.size();
        check_and_compile(*cond, src.name, errors_);  // its own comparisons
        std::vector<std::string> stack;
        if (!inline_macros(cond, src, stack)) return false;
        std::vector<Diag> reported;  // the macros' errors are reported where they are written
        check_and_compile(*cond, src.name, reported);  // compiles the inlined copies
        return errors_.size() == before && reported.empty();
    }

    // Replaces macro references by their trees; false on an error.
    bool inline_macros(std::unique_ptr<Node>& n, const Source& src, std::vector<std::string>& stack) {
        if (n->kind == Node::Kind::kMacro) {
            auto it = macros_.find(n->macro);
            if (it == macros_.end()) {
                if (broken_macros_.contains(n->macro)) return false;  // reported where it is written
                if (n->macro.find('.') != std::string::npos || find_field(n->macro))
                    err(src, n->pos, fmt::format("'{}' needs an operator and a value (e.g. {} = ...)", n->macro, n->macro));
                else if (lists_.contains(n->macro))
                    err(src, n->pos, fmt::format("'{}' is a list: use it as FIELD in ({})", n->macro, n->macro));
                else
                    err(src, n->pos, fmt::format("unknown macro '{}'", n->macro));
                return false;
            }
            if (std::find(stack.begin(), stack.end(), n->macro) != stack.end()) {
                err(src, n->pos, fmt::format("macro '{}' refers to itself", n->macro));
                return false;
            }
            stack.push_back(n->macro);
            auto body = it->second.tree->clone();
            bool ok = inline_macros(body, *it->second.src, stack);
            stack.pop_back();
            if (!ok) return false;
            n = std::move(body);
            return true;
        }
        bool ok = true;
        for (auto& k : n->kids) ok &= inline_macros(k, src, stack);
        return ok;
    }

    void parse_rule(Pending& p, RuleSet& set) {
        const Source& src = *p.src;
        const YAML::Node& item = p.node;
        Rule r;
        r.file = src.name;
        r.pos = src.at(item["rule"].Mark());
        if (!scalar(src, item, "rule", r.id, true)) return;
        static const std::regex id_re("[A-Za-z0-9_.:-]+");
        if (!std::regex_match(r.id, id_re)) err(src, item["rule"], fmt::format("rule id '{}': use letters, digits and _ . : -", r.id));
        if (auto it = rule_ids_.find(r.id); it != rule_ids_.end())
            err(src, item["rule"], fmt::format("rule '{}' is already defined at {}", r.id, it->second));
        rule_ids_[r.id] = fmt::format("{}:{}", src.name, r.pos.line);
        if (!scalar(src, item, "name", r.name, false)) r.name = r.id;
        scalar(src, item, "description", r.description, true);
        std::string enabled = "true";
        if (scalar(src, item, "enabled", enabled, false) && enabled != "true" && enabled != "false")
            err(src, item["enabled"], "'enabled' is true or false");
        std::string cond;
        if (scalar(src, item, "condition", cond, true)) {
            if (!yaml_tag(src, item["condition"]))
                r.condition = parse_condition(cond, src.map(item["condition"], cond), lists_, src.name, errors_);
            if (r.condition && !check_condition(r.condition, src)) r.condition.reset();  // reported; not analysed further
        }
        parse_actions(src, item, r);
        if (enabled == "false") return;
        set.rules.push_back(std::move(r));
    }

    void parse_actions(const Source& src, const YAML::Node& item, Rule& r) {
        YAML::Node actions = item["actions"];
        if (!actions) return err(src, item, "missing 'actions' (drop, keep, tag, severity, technique, alert)");
        if (!actions.IsSequence() || actions.size() == 0) return err(src, actions, "'actions' is a non-empty list");
        static const std::regex technique_re("T[0-9]{4}(\\.[0-9]{3})?");
        for (const auto& a : actions) {
            if (!a.IsScalar()) {
                err(src, a, "an action is one line: drop, keep, tag KEY, severity N, technique T1234, alert N within 60s");
                continue;
            }
            std::string text = a.Scalar();
            PosMap pos = src.map(a, text);
            std::istringstream in(text);
            std::vector<std::pair<std::string, size_t>> words;  // word, offset
            for (size_t i = 0; i < text.size();) {
                while (i < text.size() && text[i] == ' ') ++i;
                size_t j = i;
                while (j < text.size() && text[j] != ' ') ++j;
                if (j > i) words.emplace_back(text.substr(i, j - i), i);
                i = j;
            }
            if (words.empty()) {
                err(src, a, "empty action");
                continue;
            }
            const std::string& verb = words[0].first;
            auto arg_err = [&](size_t w, std::string msg) {
                err(src, pos(w < words.size() ? words[w].second : text.size()), std::move(msg));
            };
            if (verb == "drop" || verb == "keep") {
                if (words.size() > 1) arg_err(1, fmt::format("'{}' takes nothing", verb));
                (verb == "drop" ? r.drop : r.keep) = true;
            } else if (verb == "tag") {
                if (words.size() != 2) arg_err(1, "tag takes one key: tag KEY");
                else r.tags.push_back(words[1].first);
            } else if (verb == "severity") {
                int n = -1;
                if (words.size() == 2) {
                    try {
                        size_t used = 0;
                        n = std::stoi(words[1].first, &used);
                        if (used != words[1].first.size()) n = -1;
                    } catch (...) {
                        n = -1;
                    }
                }
                if (n < 0 || n > 100) arg_err(1, "severity takes a number from 0 to 100");
                else r.severity = static_cast<uint32_t>(n);
            } else if (verb == "technique") {
                if (words.size() != 2 || !std::regex_match(words[1].first, technique_re))
                    arg_err(1, "technique takes a MITRE ATT&CK id: T1234 or T1234.001");
                else r.technique = words[1].first;
            } else if (verb == "alert") {
                parse_alert(words, arg_err, r);
            } else {
                arg_err(0, fmt::format("unknown action '{}' (drop, keep, tag, severity, technique, alert)", verb));
            }
        }
        if (r.drop && r.keep) err(src, actions, "a rule cannot both drop and keep");
        if (r.drop && (r.alert || !r.tags.empty() || r.severity || !r.technique.empty()))
            err(src, actions, "a dropped event is gone: drop cannot go with tag, severity, technique or alert");
    }

    template <typename ErrFn>
    void parse_alert(const std::vector<std::pair<std::string, size_t>>& w, ErrFn& arg_err, Rule& r) {
        // alert N within DURATION [by FIELD[, FIELD...]]
        AlertSpec spec;
        long n = 0;
        try {
            size_t used = 0;
            n = w.size() > 1 ? std::stol(w[1].first, &used) : 0;
            if (w.size() > 1 && used != w[1].first.size()) n = 0;  // "5x"
        } catch (...) {
        }
        if (n < 1 || n > 100000) return arg_err(1, "alert takes a count from 1: alert N within 60s [by FIELD, ...]");
        spec.count = static_cast<uint32_t>(n);
        if (w.size() < 4 || w[2].first != "within") return arg_err(2, "expected 'within DURATION' (e.g. within 60s)");
        const std::string& d = w[3].first;
        int64_t unit = 0;
        if (!d.empty()) {
            switch (d.back()) {
            case 's': unit = 1'000'000'000LL; break;
            case 'm': unit = 60'000'000'000LL; break;
            case 'h': unit = 3600'000'000'000LL; break;
            default: break;
            }
        }
        long amount = 0;
        try {
            size_t used = 0;
            amount = unit ? std::stol(d.substr(0, d.size() - 1), &used) : 0;
            if (used != d.size() - 1) amount = 0;
        } catch (...) {
            amount = 0;
        }
        if (amount < 1) return arg_err(3, "a duration is a number with s, m or h: 30s, 5m, 1h");
        spec.window_ns = amount * unit;
        if (w.size() > 4) {
            if (w[4].first != "by" || w.size() < 6) return arg_err(4, "expected 'by FIELD[, FIELD...]' after the duration");
            for (size_t i = 5; i < w.size(); ++i) {
                std::string f = w[i].first;
                while (!f.empty() && f.back() == ',') f.pop_back();
                if (f.empty()) continue;
                if (!find_field(f) && !is_audit_data_field(f, nullptr))
                    return arg_err(i, fmt::format("unknown field '{}' to group alerts by", f));
                spec.by.push_back(f);
            }
        }
        r.alert = std::move(spec);
    }

    struct Macro {
        std::unique_ptr<Node> tree;
        const Source* src;
    };
    std::vector<std::unique_ptr<Source>> sources_;
    std::vector<Diag> errors_;
    std::map<std::string, Pending> lists_src_, macros_src_;
    std::vector<std::string> list_order_;
    std::vector<Pending> pending_rules_;
    std::vector<std::string> watch_;
    Lists lists_;
    std::map<std::string, Macro> macros_;
    std::set<std::string> broken_macros_;  // defined, with an error
    std::map<std::string, std::string> rule_ids_;
};

}  // namespace

std::string Rule::where() const { return fmt::format("{}:{}", file, pos.line); }

bool is_rule_file(const std::string& path) { return path.ends_with(".yaml") || path.ends_with(".yml"); }

LoadResult load_rules(const std::vector<std::string>& paths) {
    std::vector<std::unique_ptr<Source>> sources;
    std::vector<Diag> missing;
    for (const auto& p : paths) {
        std::vector<std::string> files;
        std::error_code ec;
        if (fs::is_directory(p, ec)) {
            for (const auto& e : fs::directory_iterator(p, ec))
                if (e.is_regular_file() && is_rule_file(e.path().string())) files.push_back(e.path().string());
            std::sort(files.begin(), files.end());
        } else {
            files.push_back(p);
        }
        for (const auto& f : files) {
            std::ifstream in(f);
            if (!in) {
                missing.push_back({f, {1, 1}, "cannot read the file"});
                continue;
            }
            std::stringstream s;
            s << in.rdbuf();
            sources.push_back(std::make_unique<Source>(f, s.str()));
        }
    }
    LoadResult r = Loader().run(std::move(sources));
    if (!missing.empty()) {
        r.set.reset();
        r.errors.insert(r.errors.begin(), missing.begin(), missing.end());
    }
    return r;
}

LoadResult load_rules_text(const std::string& text, const std::string& name) {
    std::vector<std::unique_ptr<Source>> sources;
    sources.push_back(std::make_unique<Source>(name, text));
    return Loader().run(std::move(sources));
}

}  // namespace ktrail::rules
