// The central store: one schema, two back ends (SQLite, PostgreSQL).
//
// A row is one event: the exact bytes the agent hashed (`raw`), its chain
// hash, and the columns queries filter on, derived from those bytes.
// Primary key (agent_id, sequence): a retried batch never doubles an event.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ktrail/v1/event.pb.h"
#include "spool/chain.h"
#include "util/error.h"

namespace ktrail::store {

struct Row {
    std::string agent_id;
    uint64_t sequence = 0;
    int64_t time_ns = 0;
    std::string event_id;
    std::string host_id;
    std::string host_name;
    std::string kind;
    std::string action;
    std::string outcome;
    std::string user_name;
    std::string path;               // file.path
    std::string process_executable;
    int64_t session_id = -1;        // -1: none
    chain::Hash hash{};
    std::string raw;                // serialized ktrail.v1.Event, exactly as hashed
};

// The query columns of `ev`, with its raw bytes and chain hash.
Row make_row(const v1::Event& ev, std::string raw, const chain::Hash& hash);

struct AgentInfo {
    std::string agent_id;
    std::string host_id;
    std::string host_name;
    std::string public_key;  // Ed25519, 32 raw bytes
    // Retention bookkeeping, read-only (register_agent ignores it): the
    // highest sequence of this agent that apply_retention removed, so
    // `ktrail verify` reads 1..purged_through as "removed by retention",
    // not as a gap.
    uint64_t purged_through = 0;
};

struct Checkpoint {
    std::string agent_id;
    uint64_t sequence = 0;
    chain::Hash head{};
    int64_t time_ns = 0;
    std::string signature;
};

struct IngestResult {
    uint64_t inserted = 0;
    uint64_t duplicates = 0;
};

// `ktrail query`'s filters; empty/unset means no filter.
struct Query {
    std::optional<int64_t> since_ns, until_ns;
    std::string host;      // host.name (or host.id)
    std::string user;      // user.name
    std::string action;    // event.action
    std::string path_glob; // file.path, shell glob
    std::string outcome;   // success | failure | unknown
    std::optional<int64_t> session_id;
    std::string agent_id;
    size_t limit = 100;    // newest first; 0: no limit
    // since_ns <= time_ns <= until_ns. path_glob: `*` any run of characters
    // (including '/'), `?` one character, `[abc]`/`[!abc]`/`[^abc]` a class.
};

// One connection per Store; calls from several threads are serialized.
// Several Stores (collectors) may share one database.
class Store {
public:
    virtual ~Store() = default;
    // Trust on first use: the first key an agent presents is recorded; a
    // later, different key is refused (the error says so).
    virtual Result<void> register_agent(const AgentInfo& agent) = 0;
    virtual Result<std::optional<AgentInfo>> agent(const std::string& agent_id) = 0;
    virtual Result<std::vector<AgentInfo>> agents() = 0;
    // The stored hashes of `agent_id`'s events with first <= sequence <= last.
    virtual Result<std::vector<std::pair<uint64_t, chain::Hash>>> hashes(const std::string& agent_id, uint64_t first,
                                                                         uint64_t last) = 0;
    // One transaction: rows already stored (same key) are skipped and counted
    // as duplicates; checkpoints likewise.
    virtual Result<IngestResult> ingest(std::span<const Row> rows, std::span<const Checkpoint> checkpoints) = 0;
    virtual Result<std::vector<Row>> query(const Query& q) = 0;
    // Every stored event of `agent_id`, in sequence order.
    virtual Result<void> scan(const std::string& agent_id, const std::function<void(const Row&)>& each) = 0;
    virtual Result<std::vector<Checkpoint>> checkpoints(const std::string& agent_id) = 0;
    // Removes events (and checkpoints) older than `cutoff_ns`; returns how many events.
    virtual Result<uint64_t> apply_retention(int64_t cutoff_ns) = 0;

    // Every agent id the store knows of: registered agents and any id found
    // in events or checkpoints (what `ktrail verify` walks). The default
    // lists the registered agents only.
    virtual Result<std::vector<std::string>> agent_ids();
};

// URL: "sqlite:PATH" or "postgresql://..." (a libpq connection URI).
Result<std::unique_ptr<Store>> open_store(const std::string& url);

struct OpenOptions {
    // false: never create anything. A missing SQLite file or an empty
    // database is an error that says so (`ktrail query`/`verify` use this,
    // so a mistyped --store does not leave an empty store behind).
    bool create = true;
};
Result<std::unique_ptr<Store>> open_store(const std::string& url, const OpenOptions& options);

// The URL with any password replaced by "***" (for messages and logs).
std::string redact_url(const std::string& url);

}  // namespace ktrail::store
