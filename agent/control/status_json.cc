#include "control/status_json.h"

#include <nlohmann/json.hpp>

namespace ktrail::control {

std::string render_status_json(const Snapshot& s) {
    using nlohmann::json;
    json kernel = json::object();
    for (size_t k = 1; k < s.kernel.size(); ++k)
        kernel[kKindNames[k]] = {{"produced", s.kernel[k].produced},
                                 {"dropped", s.kernel[k].dropped},
                                 {"filtered", s.kernel[k].filtered}};
    json lost = json::object();
    for (size_t i = 0; i < kLostStages.size(); ++i) lost[kLostStages[i]] = s.lost[i];
    json outputs = json::array();
    for (const auto& o : s.outputs)
        outputs.push_back({{"name", o.name},
                           {"state", o.retrying ? "retrying" : "delivering"},
                           {"last_error", o.last_error},
                           {"acked_sequence", o.acked},
                           {"backlog_events", o.backlog_events},
                           {"oldest_unacked_age_seconds", o.oldest_unacked_age_s},
                           {"delivered_events", o.events},
                           {"batches", o.batches},
                           {"retries", o.retries},
                           {"duplicates", o.duplicates},
                           {"last_delivery_ns", o.last_delivery_ns}});
    json audit = {{"mode", s.audit_mode}, {"events", s.audit_events}, {"rules", s.audit_rules}};
    if (s.audit_status) {
        audit["kernel_lost"] = s.audit_kernel_lost;
        audit["backlog"] = s.audit_backlog;
        audit["backlog_limit"] = s.audit_backlog_limit;
    }
    json doc = {
        {"version", s.version},
        {"agent_id", s.agent_id},
        {"hostname", s.hostname},
        {"pid", s.pid},
        {"time_ns", s.taken_ns},
        {"start_ns", s.start_ns},
        {"audit", audit},
        {"programs", s.programs},
        {"rules", {{"ktrail", s.ktrail_rules}, {"ktrail_files", s.ktrail_rule_files}, {"audit", s.audit_rules}}},
        {"events", {{"per_second", s.events_per_second},
                    {"emitted", s.emitted},
                    {"rule_dropped", s.rule_dropped},
                    {"kernel", kernel}}},
        {"lost", lost},
        {"lost_total", s.lost_total()},
        {"spool", {{"bytes", s.spool_bytes},
                   {"max_bytes", s.spool_max_bytes},
                   {"last_sequence", s.spool_last_sequence},
                   {"durable_sequence", s.spool_durable_sequence}}},
        {"outputs", outputs},
        {"processes", {{"live", s.processes_live}, {"exited", s.processes_exited}}},
        {"rss_bytes", s.rss_bytes},
    };
    return doc.dump() + "\n";
}

}  // namespace ktrail::control
