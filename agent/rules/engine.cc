#include "rules/engine.h"

#include <algorithm>
#include <iterator>
#include <string_view>

namespace ktrail::rules {
namespace {

// A field's value as text, for alert groups.
std::string field_text(const std::string& name, const v1::Event& ev) {
    std::string_view key;
    FieldValue v;
    const Field* f = find_field(name);
    if (f) v = f->get(ev);
    else if (is_audit_data_field(name, &key)) v = audit_data(ev, key);
    if (!v.present) return "";
    if (v.list) {
        std::string out;
        for (const auto& s : *v.list) out += (out.empty() ? "" : ",") + s;
        return out;
    }
    if (f && f->type == FieldType::kNumber) return std::to_string(v.num);
    return std::string(v.str);
}

// A condition's structure as text: equal keys, equal conditions.
void structure_key(const Node& n, std::string& out) {
    out += static_cast<char>('a' + static_cast<int>(n.kind));
    if (n.kind == Node::Kind::kCompare) {
        out.append(n.field_name).append(1, '\0').append(to_string(n.op)).append(1, '\0');
        for (const auto& v : n.values)
            out.append(v.quoted ? "q" : "").append(std::to_string(v.text.size())).append(1, ':').append(v.text);
    }
    out += '(';
    for (const auto& k : n.kids) structure_key(*k, out);
    out += ')';
}

// Whether a condition reads what apply() changes as it goes from rule to rule
// (tags, severity, ...): such a part is never shared.
bool reads_annotations(const Node& n) {
    static constexpr std::string_view kAnnotations[] = {"tags", "event.severity"};  // the fields apply() sets
    if (n.kind == Node::Kind::kCompare && std::ranges::find(kAnnotations, n.field_name) != std::end(kAnnotations))
        return true;
    return std::ranges::any_of(n.kids, [](const auto& k) { return reads_annotations(*k); });
}

// The parts whose `and` a condition is, in evaluation order.
void conjuncts(const Node& n, std::vector<const Node*>& out) {
    if (n.kind != Node::Kind::kAnd) return out.push_back(&n);
    for (const auto& k : n.kids) conjuncts(*k, out);
}

}  // namespace

Engine::Engine(std::shared_ptr<const RuleSet> set) : set_(std::move(set)) {
    for (const auto& r : set_->rules) {
        if (r.drop) {
            drops_.push_back(&r);
            continue;
        }
        if (r.keep) keeps_.push_back(&r);
        // A keep rule's tag, severity, technique or alert act as any rule's.
        if (!r.keep || !r.tags.empty() || r.severity || !r.technique.empty() || r.alert) others_.push_back(&r);
    }
    index_conditions();
    counts_.resize(set_->rules.size());
}

void Engine::carry_counts(const Engine& previous) {
    stats_ = previous.stats_;
    std::unordered_map<std::string, const RuleCounts*> by_id;
    for (size_t i = 0; i < previous.set_->rules.size(); ++i) by_id[previous.set_->rules[i].id] = &previous.counts_[i];
    for (size_t i = 0; i < set_->rules.size(); ++i)
        if (auto it = by_id.find(set_->rules[i].id); it != by_id.end()) counts_[i] = *it->second;
}

void Engine::index_conditions() {
    const auto& rules = set_->rules;
    std::vector<std::vector<const Node*>> parts(rules.size());
    std::vector<std::vector<std::string>> keys(rules.size());      // "": never shared
    std::unordered_map<std::string, std::pair<size_t, int>> uses;  // key -> (rules' parts with it, slot + 1)
    for (size_t i = 0; i < rules.size(); ++i) {
        if (rules[i].condition) conjuncts(*rules[i].condition, parts[i]);
        for (const Node* n : parts[i]) {
            std::string key;
            if (!reads_annotations(*n)) structure_key(*n, key);
            ++uses[key].first;
            keys[i].push_back(std::move(key));
        }
    }
    int slots = 0;
    parts_.assign(rules.size(), {});
    for (size_t i = 0; i < rules.size(); ++i) {
        for (size_t j = 0; j < parts[i].size(); ++j) {
            auto& [count, slot] = uses[keys[i][j]];
            bool shared = count > 1 && !keys[i][j].empty();
            if (shared && slot == 0) slot = ++slots;
            parts_[i].push_back({parts[i][j], shared ? slot - 1 : -1});
        }
    }
    memo_.assign(static_cast<size_t>(slots), 0);
}

bool Engine::matches(const Rule& r, const v1::Event& ev) {
    auto i = static_cast<size_t>(&r - set_->rules.data());
    ++counts_[i].evaluated;
    for (const Part& p : parts_[i]) {
        if (p.memo < 0) {
            if (!evaluate(*p.node, ev)) return false;
            continue;
        }
        int8_t& known = memo_[static_cast<size_t>(p.memo)];
        if (!known) known = evaluate(*p.node, ev) ? 1 : -1;
        if (known < 0) return false;
    }
    ++counts_[i].matched;
    return true;
}

bool Engine::apply(v1::Event& ev, std::vector<const Rule*>& alert_hits) {
    ++stats_.evaluated;
    alert_hits.clear();
    std::fill(memo_.begin(), memo_.end(), 0);
    // Drops first: a dropped event is not looked at further, unless kept.
    for (const Rule* d : drops_) {
        if (!matches(*d, ev)) continue;
        bool kept = false;
        for (const Rule* k : keeps_)
            if ((kept = matches(*k, ev))) break;
        if (!kept) {
            ++stats_.dropped;
            ++counts_[static_cast<size_t>(d - set_->rules.data())].dropped;
            return false;
        }
        break;
    }
    const Rule* named = nullptr;
    for (const Rule* r : others_) {
        if (!matches(*r, ev)) continue;
        for (const auto& t : r->tags)
            if (std::find(ev.tags().begin(), ev.tags().end(), t) == ev.tags().end()) ev.add_tags(t);
        if (r->severity && (!ev.has_severity() || *r->severity > ev.severity())) {
            ev.set_severity(*r->severity);
            named = r;
        }
        if (!r->technique.empty() && ev.technique_id().empty()) ev.set_technique_id(r->technique);
        if (!named) named = r;
        if (r->alert) alert_hits.push_back(r);
    }
    if (named) {
        ev.mutable_rule()->set_id(named->id);
        ev.mutable_rule()->set_name(named->name);
    }
    return true;
}

std::string Engine::group_key(const Rule& r, const v1::Event& ev,
                              std::vector<std::pair<std::string, std::string>>* values) const {
    std::string key = r.id;
    for (const auto& f : r.alert->by) {
        std::string v = field_text(f, ev);
        key += '\x1f';
        key += v;
        if (values) values->emplace_back(f, std::move(v));
    }
    return key;
}

void Engine::bound_windows(int64_t now_ns) {
    if (windows_.size() < kMaxWindows) return;
    // Forget groups with nothing left in their window, then, if still too
    // many, all of them: a bound on memory beats a perfect count.
    std::erase_if(windows_, [&](const auto& kv) {
        return kv.second.seen.empty() || kv.second.seen.back().time_ns < now_ns - kv.second.window_ns;
    });
    if (windows_.size() >= kMaxWindows) windows_.clear();
}

void Engine::count(const v1::Event& ev, const std::vector<const Rule*>& alert_hits, std::vector<v1::Event>& alerts) {
    for (const Rule* r : alert_hits) {
        std::vector<std::pair<std::string, std::string>> group;
        std::string key = group_key(*r, ev, &group);
        auto it = windows_.find(key);
        if (it == windows_.end()) {
            bound_windows(ev.time_ns());
            it = windows_.emplace(std::move(key), Window{{}, r->alert->window_ns}).first;
        }
        auto& seen = it->second.seen;
        seen.push_back({ev.time_ns(), ev.id()});
        while (!seen.empty() && seen.front().time_ns <= ev.time_ns() - r->alert->window_ns) seen.pop_front();
        if (seen.size() < r->alert->count) continue;

        // Crossed: one alert naming these events; the count starts again.
        v1::Event& a = alerts.emplace_back();
        a.set_time_ns(ev.time_ns());
        a.set_kind("alert");
        a.set_module("rules");
        a.set_action(r->id);
        *a.mutable_category() = ev.category();
        a.add_type("info");
        a.set_outcome(ev.outcome());
        a.set_reason(r->description);
        if (ev.has_process()) *a.mutable_process() = ev.process();
        if (ev.has_user()) *a.mutable_user() = ev.user();
        if (ev.has_session()) *a.mutable_session() = ev.session();
        if (ev.has_source()) *a.mutable_source() = ev.source();
        a.set_container_id(ev.container_id());
        a.mutable_rule()->set_id(r->id);
        a.mutable_rule()->set_name(r->name);
        for (const auto& t : r->tags) a.add_tags(t);
        if (r->severity) a.set_severity(*r->severity);
        a.set_technique_id(r->technique);
        auto* info = a.mutable_ktrail()->mutable_alert();
        info->set_count(r->alert->count);
        info->set_window_ns(static_cast<uint64_t>(r->alert->window_ns));
        for (const auto& s : seen) info->add_event_ids(s.event_id);
        for (auto& [f, v] : group) (*info->mutable_group())[f] = v;
        seen.clear();
        ++stats_.alerts;
        ++counts_[static_cast<size_t>(r - set_->rules.data())].alerts;
    }
}

}  // namespace ktrail::rules
