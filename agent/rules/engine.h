// Runs a rule set over events: drop/keep, tags, severity, technique, the
// matched rule's id and name; and alert thresholds (at least N matching
// events within a window, per group), each crossing emitted as an alert
// event that names the events behind it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ktrail/v1/event.pb.h"
#include "rules/rule_set.h"

namespace ktrail::rules {

struct EngineStats {
    uint64_t evaluated = 0;
    uint64_t dropped = 0;
    uint64_t alerts = 0;
};

// Per rule (by index in RuleSet::rules): events its condition was evaluated
// on, matched, dropped (drop rules) and alerts raised.
struct RuleCounts {
    uint64_t evaluated = 0;
    uint64_t matched = 0;
    uint64_t dropped = 0;
    uint64_t alerts = 0;
};

class Engine {
public:
    explicit Engine(std::shared_ptr<const RuleSet> set);

    // Decides and annotates. False: the rules drop the event. `alert_hits`
    // gets the alert rules the event matched (for count() once it has an id).
    bool apply(v1::Event& ev, std::vector<const Rule*>& alert_hits);
    // Counts a kept event (with its event.id) for the alert rules it matched;
    // appends an alert event for every threshold it crossed.
    void count(const v1::Event& ev, const std::vector<const Rule*>& alert_hits, std::vector<v1::Event>& alerts);

    // After a reload: the counts of rules that keep their id, and the
    // totals, continue from `previous` (Prometheus counters do not reset).
    void carry_counts(const Engine& previous);

    const RuleSet& rules() const { return *set_; }
    const EngineStats& stats() const { return stats_; }
    const std::vector<RuleCounts>& rule_counts() const { return counts_; }
    size_t alert_groups() const { return windows_.size(); }

private:
    struct Seen {
        int64_t time_ns;
        std::string event_id;
    };
    struct Window {
        std::deque<Seen> seen;
        int64_t window_ns = 0;
    };
    // A rule's condition is the `and` of its parts; a part several rules have
    // (the same macro, the same test) is evaluated once per event.
    struct Part {
        const Node* node;
        int memo;  // its slot in memo_, or -1 when no other rule has it
    };
    void index_conditions();
    bool matches(const Rule& r, const v1::Event& ev);
    std::string group_key(const Rule& r, const v1::Event& ev, std::vector<std::pair<std::string, std::string>>* values) const;
    void bound_windows(int64_t now_ns);

    std::shared_ptr<const RuleSet> set_;
    std::vector<const Rule*> drops_, keeps_, others_;
    std::vector<std::vector<Part>> parts_;  // by index in set_->rules
    std::vector<int8_t> memo_;              // this event's shared parts: 0 not yet known, 1 true, -1 false
    std::unordered_map<std::string, Window> windows_;
    EngineStats stats_;
    std::vector<RuleCounts> counts_;
    static constexpr size_t kMaxWindows = 65536;
};

}  // namespace ktrail::rules
