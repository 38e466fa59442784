// `ktrail verify`: checks every stored event of every agent against its hash
// chain, its derived columns and the agent's signed checkpoints, and says per
// agent whether the record is whole (ok), has holes (gaps) or was changed
// (tampered).
//
// Per agent, in sequence order:
//   - raw bytes that do not decode, a decoded event whose agent id or
//     sequence differs from its row's key, or stored columns (path, user,
//     action, ...) that differ from the ones derived again from the raw bytes
//     (store::make_row): tampered;
//   - hash_n != SHA-256(hash_{n-1} || raw_n) where n-1 is stored (n = 1 links
//     to the genesis hash): tampered;
//   - a missing run of sequences: a gap; the run after it is anchored at its
//     own stored hash. 1..purged_through (removed by retention) is no gap. A
//     gap covered by the agent's events-lost events
//     (ktrail.lost_first_sequence..lost_last_sequence) is explained;
//   - checkpoints: the signature must verify with the agent's registered key;
//     the stored hash at the checkpoint's sequence must be the signed head; a
//     checkpoint past the last stored event means the tail was removed (a gap).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.h"
#include "util/error.h"

namespace ktrail::verify {

struct Gap {
    uint64_t first = 0, last = 0;          // the missing sequences, inclusive
    bool explained = false;                // covered by the agent's events-lost events
    std::vector<std::string> explained_by; // their event ids
    bool tail = false;                     // past the last stored event, shown by a signed checkpoint
    uint64_t checkpoint_sequence = 0;      // tail: that checkpoint's sequence
};

struct Tampering {
    uint64_t sequence = 0;
    std::string event_id;  // empty when the finding is about a checkpoint or the agent
    std::string reason;
};

enum class Status { ok, gaps, tampered };
const char* to_string(Status s);

struct AgentReport {
    std::string agent_id, host_id, host_name;
    bool registered = false;        // has a row (and public key) in agents
    uint64_t events = 0;            // rows read
    uint64_t first_sequence = 0, last_sequence = 0;  // stored range (0: none)
    uint64_t purged_through = 0;    // 1..this removed by retention
    uint64_t checkpoints = 0;       // stored checkpoints
    uint64_t checkpoints_valid = 0; // of which the signature verified
    std::vector<Gap> gaps;
    std::vector<Tampering> tampered;  // at most kMaxFindings, then...
    uint64_t tampered_total = 0;      // ...all of them counted here
    Status status() const;  // tampered > unexplained gap > ok
};

inline constexpr size_t kMaxFindings = 1000;

struct Report {
    std::vector<AgentReport> agents;
    Status status() const;  // the worst agent's
};

struct Options {
    std::string host;  // host.name, host.id or agent id; empty: every agent
};

Result<AgentReport> verify_agent(store::Store& store, const std::string& agent_id);
Result<Report> verify_store(store::Store& store, const Options& options = {});

}  // namespace ktrail::verify
