#include "verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "spool/chain.h"

namespace ktrail::verify {
namespace {

struct LostRange {
    uint64_t first, last;
    std::string event_id;
};

void add_tampering(AgentReport& r, uint64_t seq, std::string event_id, std::string reason) {
    ++r.tampered_total;
    if (r.tampered.size() < kMaxFindings) r.tampered.push_back({seq, std::move(event_id), std::move(reason)});
}

void add_gap(AgentReport& r, uint64_t first, uint64_t last) {
    // 1..purged_through is what retention removed on purpose.
    first = std::max(first, r.purged_through + 1);
    if (first > last) return;
    Gap g;
    g.first = first;
    g.last = last;
    r.gaps.push_back(std::move(g));
}

// The stored columns that differ from the ones the raw event gives.
std::string differing_columns(const store::Row& stored, const store::Row& derived) {
    std::vector<const char*> cols;
    if (stored.time_ns != derived.time_ns) cols.push_back("time_ns");
    if (stored.event_id != derived.event_id) cols.push_back("event_id");
    if (stored.host_id != derived.host_id) cols.push_back("host_id");
    if (stored.host_name != derived.host_name) cols.push_back("host_name");
    if (stored.kind != derived.kind) cols.push_back("kind");
    if (stored.action != derived.action) cols.push_back("action");
    if (stored.outcome != derived.outcome) cols.push_back("outcome");
    if (stored.user_name != derived.user_name) cols.push_back("user_name");
    if (stored.path != derived.path) cols.push_back("path");
    if (stored.process_executable != derived.process_executable) cols.push_back("process_executable");
    if (stored.session_id != derived.session_id) cols.push_back("session_id");
    return fmt::format("{}", fmt::join(cols, ", "));
}

// Which part of [g.first, g.last] the lost ranges cover; explained if all.
void explain(Gap& g, const std::vector<LostRange>& lost) {
    std::vector<const LostRange*> overlapping;
    for (const auto& l : lost)
        if (l.first <= g.last && l.last >= g.first) overlapping.push_back(&l);
    std::sort(overlapping.begin(), overlapping.end(),
              [](const LostRange* a, const LostRange* b) { return a->first < b->first; });
    uint64_t next = g.first;  // the first sequence not yet covered
    for (const LostRange* l : overlapping) {
        if (l->first > next) break;
        if (l->last >= next) next = l->last + 1;
        if (next > g.last) break;
    }
    g.explained = !overlapping.empty() && next > g.last;
    for (const LostRange* l : overlapping) g.explained_by.push_back(l->event_id);
}

}  // namespace

const char* to_string(Status s) {
    switch (s) {
        case Status::ok: return "ok";
        case Status::gaps: return "gaps";
        case Status::tampered: return "tampered";
    }
    return "?";
}

Status AgentReport::status() const {
    if (tampered_total) return Status::tampered;
    for (const auto& g : gaps)
        if (!g.explained) return Status::gaps;
    return Status::ok;
}

Status Report::status() const {
    Status worst = Status::ok;
    for (const auto& a : agents) worst = std::max(worst, a.status());
    return worst;
}

Result<AgentReport> verify_agent(store::Store& store, const std::string& agent_id) {
    AgentReport r;
    r.agent_id = agent_id;
    auto info = store.agent(agent_id);
    if (!info) return std::unexpected(info.error());
    std::string public_key;
    if (*info) {
        r.registered = true;
        r.host_id = (*info)->host_id;
        r.host_name = (*info)->host_name;
        r.purged_through = (*info)->purged_through;
        public_key = (*info)->public_key;
    }

    // Checkpoints first: only those with a good signature vouch for anything.
    auto cps = store.checkpoints(agent_id);
    if (!cps) return std::unexpected(cps.error());
    r.checkpoints = cps->size();
    std::map<uint64_t, chain::Hash> signed_heads;
    for (const auto& c : *cps) {
        if (!r.registered) {
            add_tampering(r, c.sequence, "",
                          fmt::format("checkpoint at seq {}: the agent is not registered, no public key to check "
                                      "it with",
                                      c.sequence));
            continue;
        }
        if (!chain::verify_signature(public_key, chain::checkpoint_message(agent_id, c.sequence, c.head, c.time_ns),
                                     c.signature)) {
            add_tampering(r, c.sequence, "", fmt::format("checkpoint at seq {}: bad signature", c.sequence));
            continue;
        }
        ++r.checkpoints_valid;
        signed_heads[c.sequence] = c.head;
    }

    std::vector<LostRange> lost;
    bool have_prev = false;
    bool prev_tampered = false;
    uint64_t prev_seq = 0;
    chain::Hash prev_hash{};
    v1::Event ev;
    Result<void> scanned = store.scan(agent_id, [&](const store::Row& row) {
        ++r.events;
        if (r.first_sequence == 0) r.first_sequence = row.sequence;
        if (r.host_name.empty()) {
            r.host_name = row.host_name;
            r.host_id = row.host_id;
        }
        if (have_prev && row.sequence == prev_seq) {
            add_tampering(r, row.sequence, row.event_id,
                          fmt::format("a second stored event with sequence {}", row.sequence));
            return;
        }
        bool bad = false;
        auto flag = [&](std::string reason) {
            add_tampering(r, row.sequence, row.event_id, std::move(reason));
            bad = true;
        };
        ev.Clear();
        if (!ev.ParseFromString(row.raw)) {
            flag("the stored bytes are not a ktrail event");
        } else {
            if (ev.sequence() != row.sequence || ev.agent().id() != row.agent_id)
                flag(fmt::format("stored as {} seq {} but the event is {} seq {}", row.agent_id, row.sequence,
                                 ev.agent().id(), ev.sequence()));
            else if (auto cols = differing_columns(row, store::make_row(ev, std::string(), row.hash)); !cols.empty())
                flag(fmt::format("the stored {} column{} differ{} from the event", cols,
                                 cols.find(',') == std::string::npos ? "" : "s",
                                 cols.find(',') == std::string::npos ? "s" : ""));
            if (ev.action() == "events-lost" && ev.has_ktrail() && ev.ktrail().lost_first_sequence() > 0 &&
                ev.ktrail().lost_last_sequence() >= ev.ktrail().lost_first_sequence())
                lost.push_back({ev.ktrail().lost_first_sequence(), ev.ktrail().lost_last_sequence(), ev.id()});
        }

        const chain::Hash* link = nullptr;  // the hash this row must follow from
        if (row.sequence == 1)
            link = &chain::kGenesis;
        else if (have_prev && row.sequence == prev_seq + 1)
            link = &prev_hash;
        else
            add_gap(r, have_prev ? prev_seq + 1 : 1, row.sequence - 1);  // anchor a new run here
        if (have_prev && row.sequence < prev_seq) flag("stored out of sequence order");
        // A break right after a row already found changed is that row's doing.
        if (link && chain::next(*link, row.raw) != row.hash && !(prev_tampered && link == &prev_hash))
            flag("chain broken: the stored hash does not follow from the previous event's (this event or its "
                 "hash was changed)");
        if (auto it = signed_heads.find(row.sequence); it != signed_heads.end() && it->second != row.hash)
            flag(fmt::format("checkpoint at seq {}: the stored chain hash differs from the signed head",
                             row.sequence));

        have_prev = true;
        prev_tampered = bad;
        prev_seq = row.sequence;
        prev_hash = row.hash;
        r.last_sequence = row.sequence;
    });
    if (!scanned) return std::unexpected(scanned.error());

    // A signed checkpoint past the last stored event: the tail is gone.
    if (!signed_heads.empty()) {
        uint64_t signed_last = signed_heads.rbegin()->first;
        uint64_t end = std::max(r.last_sequence, r.purged_through);
        if (signed_last > end) {
            Gap g;
            g.first = end + 1;
            g.last = signed_last;
            g.tail = true;
            g.checkpoint_sequence = signed_last;
            r.gaps.push_back(std::move(g));
        }
    }
    for (auto& g : r.gaps) explain(g, lost);
    if (!r.registered && r.events)
        add_tampering(r, 0, "",
                      "events are stored for an agent that is not registered (its agents row, with the public key, "
                      "is missing)");
    return r;
}

Result<Report> verify_store(store::Store& store, const Options& options) {
    auto ids = store.agent_ids();
    if (!ids) return std::unexpected(ids.error());
    Report report;
    for (const auto& id : *ids) {
        if (!options.host.empty() && id != options.host) {
            // Match the host before reading every event.
            auto info = store.agent(id);
            if (!info) return std::unexpected(info.error());
            std::string name, host_id;
            if (*info) {
                name = (*info)->host_name;
                host_id = (*info)->host_id;
            } else {
                store::Query q;
                q.agent_id = id;
                q.limit = 1;
                auto rows = store.query(q);
                if (!rows) return std::unexpected(rows.error());
                if (!rows->empty()) {
                    name = rows->front().host_name;
                    host_id = rows->front().host_id;
                }
            }
            if (options.host != name && options.host != host_id) continue;
        }
        auto r = verify_agent(store, id);
        if (!r) return std::unexpected(r.error());
        report.agents.push_back(std::move(*r));
    }
    return report;
}

}  // namespace ktrail::verify
