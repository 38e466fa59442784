#include "rules/analysis.h"

#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <set>

#include "ktrail/wire.h"

namespace ktrail::rules {
namespace {

struct Literal {
    const Node* atom;
    bool negated;
    std::string key() const { return (negated ? "not " : "") + atom->text(); }
};
using Term = std::vector<Literal>;
constexpr size_t kMaxTerms = 64;

// Disjunctive normal form; nullopt when it would grow past kMaxTerms.
std::optional<std::vector<Term>> dnf(const Node& n, bool negated) {
    using Kind = Node::Kind;
    if (n.kind == Kind::kNot) return dnf(*n.kids[0], !negated);
    if (n.kind == Kind::kCompare || n.kind == Kind::kMacro) return std::vector<Term>{{Literal{&n, negated}}};
    bool conj = (n.kind == Kind::kAnd) != negated;  // De Morgan
    std::vector<Term> out;
    if (!conj) {
        for (const auto& k : n.kids) {
            auto sub = dnf(*k, negated);
            if (!sub) return std::nullopt;
            out.insert(out.end(), sub->begin(), sub->end());
            if (out.size() > kMaxTerms) return std::nullopt;
        }
        return out;
    }
    out.push_back({});
    for (const auto& k : n.kids) {
        auto sub = dnf(*k, negated);
        if (!sub) return std::nullopt;
        std::vector<Term> next;
        for (const auto& a : out)
            for (const auto& b : *sub) {
                Term t = a;
                t.insert(t.end(), b.begin(), b.end());
                next.push_back(std::move(t));
                if (next.size() > kMaxTerms) return std::nullopt;
            }
        out = std::move(next);
    }
    return out;
}

bool scalar_field(const Node& atom) {
    return atom.kind == Node::Kind::kCompare && (!atom.field || atom.field->type != FieldType::kStringList);
}

// Why a conjunction can never hold, or "" if it can (as far as we tell).
std::string contradiction(const Term& t) {
    std::set<std::string> fields;
    for (const auto& l : t)
        if (scalar_field(*l.atom)) fields.insert(l.atom->field_name);
    for (const auto& f : fields) {
        std::optional<std::set<std::string>> allowed;  // from = and in
        std::set<std::string> excluded;               // from != and not =
        int64_t lo = INT64_MIN, hi = INT64_MAX;
        bool numeric = false;
        for (const auto& l : t) {
            const Node& a = *l.atom;
            if (!scalar_field(a) || a.field_name != f) continue;
            numeric = a.field && a.field->type == FieldType::kNumber;
            std::set<std::string> vals;
            for (const auto& v : a.values) vals.insert(numeric && v.number ? std::to_string(*v.number) : v.text);
            bool eq = a.op == Op::kEq || a.op == Op::kIn;
            bool pos_eq = (eq && !l.negated) || (a.op == Op::kNe && l.negated);
            bool neg_eq = (eq && l.negated) || (a.op == Op::kNe && !l.negated);
            if (pos_eq) {
                if (!allowed) allowed = vals;
                else {
                    std::set<std::string> both;
                    std::set_intersection(allowed->begin(), allowed->end(), vals.begin(), vals.end(),
                                          std::inserter(both, both.begin()));
                    allowed = both;
                }
            } else if (neg_eq) {
                excluded.insert(vals.begin(), vals.end());
            } else if (numeric && !a.nums.empty()) {
                int64_t v = a.nums.front();
                Op op = a.op;
                if (l.negated) op = op == Op::kLt ? Op::kGe : op == Op::kLe ? Op::kGt : op == Op::kGt ? Op::kLe : Op::kLt;
                if (op == Op::kLt) hi = std::min(hi, v - 1);
                if (op == Op::kLe) hi = std::min(hi, v);
                if (op == Op::kGt) lo = std::max(lo, v + 1);
                if (op == Op::kGe) lo = std::max(lo, v);
            }
        }
        if (lo > hi) return fmt::format("{} cannot be both >= {} and <= {}", f, lo, hi);
        if (allowed) {
            bool any = false;
            for (const auto& v : *allowed) {
                if (excluded.contains(v)) continue;
                if (numeric) {
                    int64_t x = std::stoll(v);
                    if (x < lo || x > hi) continue;
                }
                any = true;
            }
            if (!any) return fmt::format("{} cannot have two different values at once, or a value it is told not to have", f);
        }
    }
    return "";
}

bool term_includes(const Term& big, const Term& small) {
    for (const auto& s : small) {
        bool found = false;
        for (const auto& b : big) found |= b.key() == s.key();
        if (!found) return false;
    }
    return true;
}

// Every event `r` matches is matched by `d`: each of r's terms contains one of d's.
bool implies(const std::vector<Term>& r, const std::vector<Term>& d) {
    for (const auto& rt : r) {
        bool covered = false;
        for (const auto& dt : d) covered |= term_includes(rt, dt);
        if (!covered) return false;
    }
    return true;
}

// The kernel's path filter keeps "DIR/" only for an existing directory and
// matches bytes otherwise: "/x/q/" pushed before /x/q exists would also
// drop /x/qq. Such a prefix stays in userspace.
bool prefix_is_exact(const std::string& p) {
    if (p.empty() || p[0] != '/') return false;
    if (!p.ends_with('/')) return true;
    struct stat st{};
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The atoms of a drop rule, if it is one comparison or an "or" of them.
std::vector<const Node*> alternatives(const Node& n) {
    if (n.kind == Node::Kind::kCompare) return {&n};
    if (n.kind != Node::Kind::kOr) return {};
    std::vector<const Node*> out;
    for (const auto& k : n.kids) {
        auto sub = alternatives(*k);
        if (sub.empty()) return {};
        out.insert(out.end(), sub.begin(), sub.end());
    }
    return out;
}

}  // namespace

void check_rule_set(const RuleSet& set, std::vector<Diag>& errors) {
    std::vector<std::optional<std::vector<Term>>> forms;
    for (const auto& r : set.rules) forms.push_back(r.condition ? dnf(*r.condition, false) : std::nullopt);
    bool any_keep = std::any_of(set.rules.begin(), set.rules.end(), [](const Rule& r) { return r.keep; });
    for (size_t i = 0; i < set.rules.size(); ++i) {
        const Rule& r = set.rules[i];
        if (!forms[i]) continue;
        std::string why;
        bool never = true;
        for (const auto& t : *forms[i]) {
            std::string w = contradiction(t);
            if (w.empty()) {
                never = false;
                break;
            }
            if (why.empty()) why = w;
        }
        if (never) {
            errors.push_back({r.file, r.condition->pos, fmt::format("rule '{}' can never match: {}", r.id, why)});
            continue;
        }
        if (r.drop || r.keep || any_keep) continue;
        for (size_t j = 0; j < set.rules.size(); ++j) {
            const Rule& d = set.rules[j];
            if (!d.drop || !forms[j] || !implies(*forms[i], *forms[j])) continue;
            errors.push_back({r.file, r.pos,
                              fmt::format("rule '{}' can never act: every event it matches is dropped by rule '{}' ({})",
                                          r.id, d.id, d.where())});
            break;
        }
    }
}

KernelDropPlan plan_kernel_drops(const RuleSet& set) {
    KernelDropPlan plan;
    bool any_keep = std::any_of(set.rules.begin(), set.rules.end(), [](const Rule& r) { return r.keep; });
    for (const auto& r : set.rules) {
        if (!r.drop) continue;
        auto userspace = [&](std::string why) { plan.decisions.push_back({r.id, "in userspace: " + why, false}); };
        if (any_keep) {
            userspace("keep rules exist, and the kernel cannot tell what they would keep");
            continue;
        }
        auto alts = alternatives(*r.condition);
        std::string kind;
        bool ok = !alts.empty();
        for (const Node* a : alts) {
            std::string k;
            if (a->field_name == "file.path" && a->op == Op::kStartsWith) k = "paths";
            else if (a->field_name == "process.executable" && (a->op == Op::kEq || a->op == Op::kIn)) k = "executables";
            else if ((a->field_name == "user.id" || a->field_name == "user.name") && (a->op == Op::kEq || a->op == Op::kIn)) k = "uids";
            else if (a->field_name == "ktrail.syscall" && (a->op == Op::kEq || a->op == Op::kIn)) k = "syscalls";
            if (k.empty() || (!kind.empty() && k != kind)) ok = false;
            kind = k;
        }
        if (!ok) {
            userspace("the kernel decides only file.path startswith, process.executable, user.id/name and ktrail.syscall, "
                      "one kind per rule");
            continue;
        }
        std::vector<std::string> items;
        std::vector<uint32_t> uids;
        bool resolved = true;
        std::string why;
        for (const Node* a : alts)
            for (const auto& v : a->values) {
                if (kind == "uids") {
                    if (a->field_name == "user.id") {
                        uids.push_back(static_cast<uint32_t>(*v.number));
                    } else if (passwd* pw = getpwnam(v.text.c_str())) {
                        uids.push_back(pw->pw_uid);
                    } else {
                        resolved = false;
                        why = "a user name has no account here";
                    }
                } else if (kind == "executables" && (v.text.empty() || v.text[0] != '/')) {
                    resolved = false;
                    why = "an executable is not an absolute path";
                } else if (kind == "paths" && v.text.size() >= KT_PREFIX_MAX) {
                    // apply_drops would refuse the whole set: ktraild would not start.
                    resolved = false;
                    why = fmt::format("a prefix is longer than the kernel's path filter takes ({} bytes)", KT_PREFIX_MAX - 1);
                } else if (kind == "paths" && !prefix_is_exact(v.text)) {
                    resolved = false;
                    why = "a prefix ending in '/' names no directory yet (the kernel would match more)";
                } else {
                    items.push_back(v.text);
                }
            }
        if (!resolved) {
            userspace(why);
            continue;
        }
        std::string what;
        if (kind == "paths") plan.paths.insert(plan.paths.end(), items.begin(), items.end());
        if (kind == "executables") plan.executables.insert(plan.executables.end(), items.begin(), items.end());
        if (kind == "syscalls") plan.syscalls.insert(plan.syscalls.end(), items.begin(), items.end());
        if (kind == "uids") {
            plan.uids.insert(plan.uids.end(), uids.begin(), uids.end());
            for (uint32_t u : uids) items.push_back(std::to_string(u));
        }
        for (const auto& i : items) what += (what.empty() ? "" : ", ") + i;
        plan.decisions.push_back({r.id, fmt::format("in the kernel: {} {}", kind, what), true});
    }
    return plan;
}

}  // namespace ktrail::rules
