// The SQLite back end: one file in WAL mode, for one host or a small fleet.
// One connection per Store, guarded by a mutex; statements prepared once.
//
// A writing store (OpenOptions.create) checkpoints the WAL into the database
// from a thread of its own, on its own connection: copying pages back and the
// fsync that goes with it then overlap the next batches instead of stalling
// every few commits (about 1.5-2x the ingest rate with this many indexes).
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

#include "store/backends.h"

namespace ktrail::store {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  key INTEGER PRIMARY KEY,  -- agent number << 44 | sequence: the row's place and its dedup key
  agent_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  time_ns INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  host_id TEXT NOT NULL,
  host_name TEXT NOT NULL,
  kind TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  user_name TEXT NOT NULL,
  path TEXT NOT NULL,
  process_executable TEXT NOT NULL,
  session_id INTEGER NOT NULL,
  hash BLOB NOT NULL,
  raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_numbers (
  agent_no INTEGER PRIMARY KEY,
  agent_id TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS events_time ON events (time_ns);
CREATE INDEX IF NOT EXISTS events_host_time ON events (host_name, time_ns);
CREATE INDEX IF NOT EXISTS events_action_time ON events (action, time_ns);
CREATE INDEX IF NOT EXISTS events_user_time ON events (user_name, time_ns);
CREATE INDEX IF NOT EXISTS events_session_time ON events (session_id, time_ns) WHERE session_id >= 0;
CREATE INDEX IF NOT EXISTS events_path ON events (path) WHERE path <> '';
CREATE TABLE IF NOT EXISTS agents (
  agent_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  host_name TEXT NOT NULL,
  public_key BLOB NOT NULL,
  first_seen_ns INTEGER NOT NULL,
  purged_through INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS checkpoints (
  agent_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  chain_head BLOB NOT NULL,
  time_ns INTEGER NOT NULL,
  signature BLOB NOT NULL,
  PRIMARY KEY (agent_id, sequence)
);
)sql";

// events.key packs the agent's number and the sequence: the table's own
// B-tree is then ordered by (agent, sequence) and dedups on it, with no
// separate primary-key index to maintain (~15% of the ingest cost).
constexpr int kSequenceBits = 44;
constexpr uint64_t kMaxSequence = uint64_t{1} << kSequenceBits;

constexpr const char* kRowColumns =
    "agent_id, sequence, time_ns, event_id, host_id, host_name, kind, action, outcome, user_name, path, "
    "process_executable, session_id, hash, raw";

struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string_view text(sqlite3_stmt* s, int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(s, col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s, col))) : std::string_view();
}

chain::Hash hash_of(sqlite3_stmt* s, int col) {
    chain::Hash h{};
    if (!chain::from_bytes(text(s, col), h)) h.fill(0);
    return h;
}

// SQLite's GLOB negates a class with '^'; shell globs (and the PostgreSQL
// back end) also take '!'.
std::string sqlite_glob(std::string_view glob) {
    std::string out(glob);
    bool in_class = false;
    for (size_t i = 0; i < out.size(); ++i) {
        if (!in_class && out[i] == '[') {
            in_class = true;
            if (i + 1 < out.size() && out[i + 1] == '!') out[i + 1] = '^';
            if (i + 1 < out.size() && (out[i + 1] == '^')) ++i;
            if (i + 1 < out.size() && out[i + 1] == ']') ++i;  // literal ']' first in a class
        } else if (in_class && out[i] == ']') {
            in_class = false;
        }
    }
    return out;
}

class SqliteStore final : public Store {
public:
    SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    ~SqliteStore() override {
        if (checkpointer_.joinable()) {
            {
                std::lock_guard lock(ckpt_mu_);
                stopping_ = true;
            }
            ckpt_cv_.notify_one();
            checkpointer_.join();
        }
        stmts_.clear();
        sqlite3_close_v2(db_);  // the last connection checkpoints what is left
    }

    Result<void> init(bool create) {
        sqlite3_busy_timeout(db_, 10000);
        // 16 KiB pages: fewer, fuller index pages per commit (~25% faster
        // ingest here). Only takes effect while the file has no pages yet.
        if (create) (void)exec("PRAGMA page_size=16384");
        if (auto r = exec("PRAGMA journal_mode=WAL"); !r) return r;
        if (auto r = exec("PRAGMA synchronous=NORMAL"); !r) return r;
        if (auto r = exec("PRAGMA cache_size=-262144"); !r) return r;  // up to 256 MiB: the indexes' hot pages
        if (auto r = exec("PRAGMA temp_store=MEMORY"); !r) return r;
        if (create) start_checkpointer();
        if (create) {
            if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
            if (auto r = exec(kSchema); !r) {
                exec("ROLLBACK");
                return r;
            }
            if (auto r = exec("COMMIT"); !r) return r;
        } else {
            auto s = prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('events', "
                             "'agents', 'checkpoints')");
            if (!s) return std::unexpected(s.error());
            if (sqlite3_step(s->get()) != SQLITE_ROW || sqlite3_column_int(s->get(), 0) != 3)
                return fail(fmt::format("{} is not a ktrail store (no events table); is this the file "
                                        "ktrail-collector --store writes?", path_));
        }
        return {};
    }

    Result<void> register_agent(const AgentInfo& agent) override {
        std::lock_guard lock(mu_);
        if (agent.public_key.size() != 32)
            return fail(fmt::format("agent {}: public key has {} bytes, an Ed25519 key has 32", agent.agent_id,
                                    agent.public_key.size()));
        auto ins = cached(
            "INSERT INTO agents (agent_id, host_id, host_name, public_key, first_seen_ns) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (agent_id) DO NOTHING");
        if (!ins) return std::unexpected(ins.error());
        sqlite3_stmt* s = *ins;
        bind_text(s, 1, agent.agent_id);
        bind_text(s, 2, agent.host_id);
        bind_text(s, 3, agent.host_name);
        bind_blob(s, 4, agent.public_key);
        sqlite3_bind_int64(s, 5, now_ns());
        if (auto r = step_done(s, "register the agent"); !r) return r;
        if (sqlite3_changes(db_) == 1) return {};
        auto known = agent_locked(agent.agent_id);
        if (!known) return std::unexpected(known.error());
        if (*known && (*known)->public_key != agent.public_key)
            return std::unexpected(key_mismatch(agent, **known, path_));
        // Same key: follow a renamed host.
        if (*known && ((*known)->host_name != agent.host_name || (*known)->host_id != agent.host_id)) {
            auto up = cached("UPDATE agents SET host_id = ?, host_name = ? WHERE agent_id = ?");
            if (!up) return std::unexpected(up.error());
            bind_text(*up, 1, agent.host_id);
            bind_text(*up, 2, agent.host_name);
            bind_text(*up, 3, agent.agent_id);
            return step_done(*up, "update the agent's host");
        }
        return {};
    }

    Result<std::optional<AgentInfo>> agent(const std::string& agent_id) override {
        std::lock_guard lock(mu_);
        return agent_locked(agent_id);
    }

    Result<std::vector<AgentInfo>> agents() override {
        std::lock_guard lock(mu_);
        auto s = cached("SELECT agent_id, host_id, host_name, public_key, purged_through FROM agents ORDER BY "
                        "host_name, agent_id");
        if (!s) return std::unexpected(s.error());
        std::vector<AgentInfo> out;
        int rc;
        while ((rc = sqlite3_step(*s)) == SQLITE_ROW) out.push_back(agent_from(*s));
        if (rc != SQLITE_DONE) return error("list the agents");
        return out;
    }

    Result<std::vector<std::string>> agent_ids() override {
        std::lock_guard lock(mu_);
        // Every agent with events has a number (see agent_number()).
        auto s = cached(
            "SELECT agent_id FROM agent_numbers UNION SELECT agent_id FROM agents "
            "UNION SELECT DISTINCT agent_id FROM checkpoints ORDER BY 1");
        if (!s) return std::unexpected(s.error());
        std::vector<std::string> out;
        int rc;
        while ((rc = sqlite3_step(*s)) == SQLITE_ROW) out.emplace_back(text(*s, 0));
        if (rc != SQLITE_DONE) return error("list the agent ids");
        return out;
    }

    Result<std::vector<std::pair<uint64_t, chain::Hash>>> hashes(const std::string& agent_id, uint64_t first,
                                                                 uint64_t last) override {
        std::lock_guard lock(mu_);
        std::vector<std::pair<uint64_t, chain::Hash>> out;
        auto no = agent_number(agent_id, false);
        if (!no) return std::unexpected(no.error());
        if (*no < 0 || first > last || first >= kMaxSequence) return out;
        auto s = cached("SELECT sequence, hash FROM events WHERE key BETWEEN ? AND ? ORDER BY key");
        if (!s) return std::unexpected(s.error());
        sqlite3_bind_int64(*s, 1, (*no << kSequenceBits) | static_cast<int64_t>(first));
        sqlite3_bind_int64(*s, 2, (*no << kSequenceBits) | static_cast<int64_t>(std::min(last, kMaxSequence - 1)));
        int rc;
        while ((rc = sqlite3_step(*s)) == SQLITE_ROW)
            out.emplace_back(static_cast<uint64_t>(sqlite3_column_int64(*s, 0)), hash_of(*s, 1));
        if (rc != SQLITE_DONE) return error("read the stored hashes");
        return out;
    }

    Result<IngestResult> ingest(std::span<const Row> rows, std::span<const Checkpoint> checkpoints) override {
        std::lock_guard lock(mu_);
        IngestResult result;
        if (rows.empty() && checkpoints.empty()) return result;
        auto ins = cached(fmt::format("INSERT INTO events (key, {}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                      "ON CONFLICT DO NOTHING",
                                      kRowColumns));
        if (!ins) return std::unexpected(ins.error());
        auto cp = cached("INSERT INTO checkpoints (agent_id, sequence, chain_head, time_ns, signature) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        if (!cp) return std::unexpected(cp.error());
        if (auto r = exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
        auto rollback = [&](Error e) -> Result<IngestResult> {
            exec("ROLLBACK");
            return std::unexpected(std::move(e));
        };
        const std::string* agent = nullptr;
        int64_t agent_base = 0;
        for (const Row& row : rows) {
            if (!agent || *agent != row.agent_id) {
                auto no = agent_number(row.agent_id, true);
                if (!no) return rollback(no.error());
                agent = &row.agent_id;
                agent_base = *no << kSequenceBits;
            }
            if (row.sequence >= kMaxSequence)
                return rollback(Error{fmt::format("agent {}: sequence {} is past what this store keys (2^{})",
                                                  row.agent_id, row.sequence, kSequenceBits)});
            sqlite3_stmt* s = *ins;
            sqlite3_bind_int64(s, 1, agent_base | static_cast<int64_t>(row.sequence));
            bind_text(s, 2, row.agent_id);
            sqlite3_bind_int64(s, 3, static_cast<int64_t>(row.sequence));
            sqlite3_bind_int64(s, 4, row.time_ns);
            bind_text(s, 5, row.event_id);
            bind_text(s, 6, row.host_id);
            bind_text(s, 7, row.host_name);
            bind_text(s, 8, row.kind);
            bind_text(s, 9, row.action);
            bind_text(s, 10, row.outcome);
            bind_text(s, 11, row.user_name);
            bind_text(s, 12, row.path);
            bind_text(s, 13, row.process_executable);
            sqlite3_bind_int64(s, 14, row.session_id);
            bind_blob(s, 15, chain::as_bytes(row.hash));
            bind_blob(s, 16, row.raw);
            if (auto r = step_done(s, "insert an event"); !r) return rollback(r.error());
            if (sqlite3_changes(db_) == 1)
                ++result.inserted;
            else
                ++result.duplicates;
        }
        for (const Checkpoint& c : checkpoints) {
            sqlite3_stmt* s = *cp;
            bind_text(s, 1, c.agent_id);
            sqlite3_bind_int64(s, 2, static_cast<int64_t>(c.sequence));
            bind_blob(s, 3, chain::as_bytes(c.head));
            sqlite3_bind_int64(s, 4, c.time_ns);
            bind_blob(s, 5, c.signature);
            if (auto r = step_done(s, "insert a checkpoint"); !r) return rollback(r.error());
        }
        if (auto r = exec("COMMIT"); !r) return rollback(r.error());
        return result;
    }

    Result<std::vector<Row>> query(const Query& q) override {
        std::lock_guard lock(mu_);
        std::string sql = fmt::format("SELECT {} FROM events WHERE 1 = 1", kRowColumns);
        // Binds, in order: each a text or an integer.
        std::vector<std::variant<std::string, int64_t>> args;
        if (q.since_ns) {
            sql += " AND time_ns >= ?";
            args.emplace_back(*q.since_ns);
        }
        if (q.until_ns) {
            sql += " AND time_ns <= ?";
            args.emplace_back(*q.until_ns);
        }
        if (!q.host.empty()) {
            // host.name, or a host.id: the names registered for that id, so
            // the (host_name, time_ns) index serves both.
            std::vector<std::string> names{q.host};
            auto s = cached("SELECT DISTINCT host_name FROM agents WHERE host_id = ?");
            if (!s) return std::unexpected(s.error());
            bind_text(*s, 1, q.host);
            int rc;
            while ((rc = sqlite3_step(*s)) == SQLITE_ROW) names.emplace_back(text(*s, 0));
            if (rc != SQLITE_DONE) return error("look up the host id");
            sql += " AND host_name IN (";
            for (size_t i = 0; i < names.size(); ++i) {
                sql += i ? ", ?" : "?";
                args.emplace_back(names[i]);
            }
            sql += ")";
        }
        auto eq = [&](const char* col, const std::string& v) {
            if (v.empty()) return;
            sql += fmt::format(" AND {} = ?", col);
            args.emplace_back(v);
        };
        eq("user_name", q.user);
        eq("action", q.action);
        eq("outcome", q.outcome);
        eq("agent_id", q.agent_id);
        if (!q.path_glob.empty()) {
            // The path index holds non-empty paths only: say so when the
            // glob cannot match "" so the planner may use it.
            sql += glob_matches_empty(q.path_glob) ? " AND path GLOB ?" : " AND path <> '' AND path GLOB ?";
            args.emplace_back(sqlite_glob(q.path_glob));
        }
        if (q.session_id) {
            // Likewise the session index holds sessions (>= 0) only.
            sql += *q.session_id >= 0 ? " AND session_id >= 0 AND session_id = ?" : " AND session_id = ?";
            args.emplace_back(*q.session_id);
        }
        sql += " ORDER BY time_ns DESC";
        if (q.limit) sql += fmt::format(" LIMIT {}", q.limit);
        auto s = prepare(sql);
        if (!s) return std::unexpected(s.error());
        for (size_t i = 0; i < args.size(); ++i) {
            int n = static_cast<int>(i + 1);
            if (auto* t = std::get_if<std::string>(&args[i]))
                bind_text(s->get(), n, *t);
            else
                sqlite3_bind_int64(s->get(), n, std::get<int64_t>(args[i]));
        }
        std::vector<Row> out;
        int rc;
        while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) out.push_back(row_from(s->get()));
        if (rc != SQLITE_DONE) return error("query the events");
        return out;
    }

    Result<void> scan(const std::string& agent_id, const std::function<void(const Row&)>& each) override {
        // Pages by key, so `each` may call back into the store between pages
        // and a long scan never holds a read transaction open for long.
        constexpr int kPage = 4096;
        std::string sql = fmt::format("SELECT {} FROM events WHERE key > ? AND key < ? ORDER BY key LIMIT {}",
                                      kRowColumns, kPage);
        int64_t base;
        {
            std::lock_guard lock(mu_);
            auto no = agent_number(agent_id, false);
            if (!no) return std::unexpected(no.error());
            if (*no < 0) return {};
            base = *no << kSequenceBits;
        }
        int64_t after = -1;
        for (;;) {
            std::vector<Row> page;
            {
                std::lock_guard lock(mu_);
                auto s = cached(sql);
                if (!s) return std::unexpected(s.error());
                sqlite3_bind_int64(*s, 1, base + after);
                sqlite3_bind_int64(*s, 2, base + static_cast<int64_t>(kMaxSequence));
                int rc;
                while ((rc = sqlite3_step(*s)) == SQLITE_ROW) page.push_back(row_from(*s));
                sqlite3_reset(*s);
                if (rc != SQLITE_DONE) return error("scan the agent's events");
            }
            for (const Row& r : page) each(r);
            if (page.size() < kPage) return {};
            after = static_cast<int64_t>(page.back().sequence);
        }
    }

    Result<std::vector<Checkpoint>> checkpoints(const std::string& agent_id) override {
        std::lock_guard lock(mu_);
        auto s = cached("SELECT agent_id, sequence, chain_head, time_ns, signature FROM checkpoints "
                        "WHERE agent_id = ? ORDER BY sequence");
        if (!s) return std::unexpected(s.error());
        bind_text(*s, 1, agent_id);
        std::vector<Checkpoint> out;
        int rc;
        while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
            Checkpoint c;
            c.agent_id = text(*s, 0);
            c.sequence = static_cast<uint64_t>(sqlite3_column_int64(*s, 1));
            c.head = hash_of(*s, 2);
            c.time_ns = sqlite3_column_int64(*s, 3);
            c.signature = text(*s, 4);
            out.push_back(std::move(c));
        }
        if (rc != SQLITE_DONE) return error("read the checkpoints");
        return out;
    }

    Result<uint64_t> apply_retention(int64_t cutoff_ns) override {
        std::lock_guard lock(mu_);
        if (auto r = exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
        auto rollback = [&](Error e) -> Result<uint64_t> {
            exec("ROLLBACK");
            return std::unexpected(std::move(e));
        };
        // Remember, per agent, the highest sequence removed: verify then
        // reads 1..purged_through as removed by retention, not as a gap.
        auto up = prepare(
            "UPDATE agents SET purged_through = max(purged_through, m.top) FROM "
            "(SELECT agent_id, max(sequence) AS top FROM events WHERE time_ns < ?1 GROUP BY agent_id) AS m "
            "WHERE agents.agent_id = m.agent_id");
        if (!up) return rollback(up.error());
        sqlite3_bind_int64(up->get(), 1, cutoff_ns);
        if (auto r = step_done(up->get(), "record what retention removes"); !r) return rollback(r.error());
        auto del = prepare("DELETE FROM events WHERE time_ns < ?1");
        if (!del) return rollback(del.error());
        sqlite3_bind_int64(del->get(), 1, cutoff_ns);
        if (auto r = step_done(del->get(), "remove old events"); !r) return rollback(r.error());
        uint64_t removed = static_cast<uint64_t>(sqlite3_changes64(db_));
        // Checkpoints older than the cutoff that only cover removed events.
        auto delcp = prepare(
            "DELETE FROM checkpoints WHERE time_ns < ?1 AND sequence <= "
            "coalesce((SELECT purged_through FROM agents WHERE agents.agent_id = checkpoints.agent_id), 0)");
        if (!delcp) return rollback(delcp.error());
        sqlite3_bind_int64(delcp->get(), 1, cutoff_ns);
        if (auto r = step_done(delcp->get(), "remove old checkpoints"); !r) return rollback(r.error());
        if (auto r = exec("COMMIT"); !r) return rollback(r.error());
        return removed;
    }

private:
    // WAL frames (pages) past which the checkpointer is woken, and past which
    // a commit checkpoints itself (the checkpointer lagging or stuck).
    static constexpr int kCheckpointFrames = 1000;
    static constexpr int kInlineCheckpointFrames = 64 * 1024;  // 256 MiB of WAL

    void start_checkpointer() {
        sqlite3* ck = nullptr;
        if (sqlite3_open_v2(path_.c_str(), &ck, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
            sqlite3_close_v2(ck);
            return;  // the commits' own autocheckpoint stays on
        }
        sqlite3_busy_timeout(ck, 10000);
        sqlite3_wal_hook(
            db_,
            [](void* self, sqlite3* db, const char*, int frames) {
                auto* me = static_cast<SqliteStore*>(self);
                if (frames >= kInlineCheckpointFrames) {
                    sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
                } else if (frames >= kCheckpointFrames) {
                    {
                        std::lock_guard lock(me->ckpt_mu_);
                        me->ckpt_wanted_ = true;
                    }
                    me->ckpt_cv_.notify_one();
                }
                return SQLITE_OK;
            },
            this);
        checkpointer_ = std::thread([this, ck] {
            for (;;) {
                {
                    std::unique_lock lock(ckpt_mu_);
                    ckpt_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return ckpt_wanted_ || stopping_; });
                    if (stopping_) break;
                    ckpt_wanted_ = false;
                }
                sqlite3_wal_checkpoint_v2(ck, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            }
            sqlite3_close_v2(ck);
        });
    }

    Result<void> exec(const char* sql) {
        char* msg = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
            std::string m = msg ? msg : sqlite3_errmsg(db_);
            sqlite3_free(msg);
            return fail(fmt::format("sqlite store {}: {}", path_, m));
        }
        return {};
    }

    Result<Stmt> prepare(const std::string& sql) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK)
            return fail(fmt::format("sqlite store {}: {}", path_, sqlite3_errmsg(db_)));
        return Stmt(s);
    }

    // A statement prepared once and reused (reset and unbound on each use).
    Result<sqlite3_stmt*> cached(const std::string& sql) {
        auto it = stmts_.find(sql);
        if (it == stmts_.end()) {
            auto s = prepare(sql);
            if (!s) return std::unexpected(s.error());
            it = stmts_.emplace(sql, std::move(*s)).first;
        }
        sqlite3_reset(it->second.get());
        sqlite3_clear_bindings(it->second.get());
        return it->second.get();
    }

    static void bind_text(sqlite3_stmt* s, int n, std::string_view v) {
        sqlite3_bind_text(s, n, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    }
    static void bind_blob(sqlite3_stmt* s, int n, std::string_view v) {
        sqlite3_bind_blob(s, n, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    }

    Result<void> step_done(sqlite3_stmt* s, const char* what) {
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) return error(what);
        return {};
    }

    std::unexpected<Error> error(const char* what) {
        return fail(fmt::format("sqlite store {}: cannot {}: {}", path_, what, sqlite3_errmsg(db_)));
    }

    static AgentInfo agent_from(sqlite3_stmt* s) {
        AgentInfo a;
        a.agent_id = text(s, 0);
        a.host_id = text(s, 1);
        a.host_name = text(s, 2);
        a.public_key = text(s, 3);
        a.purged_through = static_cast<uint64_t>(sqlite3_column_int64(s, 4));
        return a;
    }

    // The small number an agent's rows are keyed under (events.key = number
    // << kSequenceBits | sequence), given on its first event; -1 if it has
    // none and `create` is false. Called with mu_ held.
    Result<int64_t> agent_number(const std::string& agent_id, bool create) {
        if (auto it = agent_numbers_.find(agent_id); it != agent_numbers_.end()) return it->second;
        auto get = cached("SELECT agent_no FROM agent_numbers WHERE agent_id = ?");
        if (!get) return std::unexpected(get.error());
        bind_text(*get, 1, agent_id);
        int rc = sqlite3_step(*get);
        int64_t no = rc == SQLITE_ROW ? sqlite3_column_int64(*get, 0) : -1;
        sqlite3_reset(*get);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return error("read the agent's number");
        if (no < 0 && create) {
            auto add = cached("INSERT INTO agent_numbers (agent_id) VALUES (?)");
            if (!add) return std::unexpected(add.error());
            bind_text(*add, 1, agent_id);
            if (auto r = step_done(*add, "number a new agent"); !r) return std::unexpected(r.error());
            no = sqlite3_last_insert_rowid(db_);
            if (no >= (int64_t{1} << (63 - kSequenceBits)))
                return fail(fmt::format("agent {}: this store keys at most 2^{} agents", agent_id, 63 - kSequenceBits));
        }
        // A number found is committed and cached; one just given is not (its
        // ingest may still roll back) until it is found again.
        if (rc == SQLITE_ROW) agent_numbers_.emplace(agent_id, no);
        return no;
    }

    Result<std::optional<AgentInfo>> agent_locked(const std::string& agent_id) {
        auto s = cached("SELECT agent_id, host_id, host_name, public_key, purged_through FROM agents "
                        "WHERE agent_id = ?");
        if (!s) return std::unexpected(s.error());
        bind_text(*s, 1, agent_id);
        int rc = sqlite3_step(*s);
        std::optional<AgentInfo> out;
        if (rc == SQLITE_ROW) out = agent_from(*s);
        sqlite3_reset(*s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return error("read the agent");
        return out;
    }

    static Row row_from(sqlite3_stmt* s) {
        Row r;
        r.agent_id = text(s, 0);
        r.sequence = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
        r.time_ns = sqlite3_column_int64(s, 2);
        r.event_id = text(s, 3);
        r.host_id = text(s, 4);
        r.host_name = text(s, 5);
        r.kind = text(s, 6);
        r.action = text(s, 7);
        r.outcome = text(s, 8);
        r.user_name = text(s, 9);
        r.path = text(s, 10);
        r.process_executable = text(s, 11);
        r.session_id = sqlite3_column_int64(s, 12);
        r.hash = hash_of(s, 13);
        r.raw = text(s, 14);
        return r;
    }

    std::mutex mu_;
    std::unordered_map<std::string, int64_t> agent_numbers_;  // committed ones, guarded by mu_
    sqlite3* db_;
    std::thread checkpointer_;
    std::mutex ckpt_mu_;
    std::condition_variable ckpt_cv_;
    bool ckpt_wanted_ = false, stopping_ = false;
    std::string path_;
    std::map<std::string, Stmt> stmts_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, const OpenOptions& options) {
    if (!options.create) {
        struct stat st;
        if (stat(path.c_str(), &st) != 0)
            return fail(fmt::format("no store at {}: {} (pass --store sqlite:PATH with the file ktrail-collector "
                                    "writes, or postgresql://...)",
                                    path, strerror(errno)));
    }
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (options.create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close_v2(db);
        return fail(fmt::format("cannot open the sqlite store {}: {}", path, msg));
    }
    auto store = std::make_unique<SqliteStore>(db, path);
    if (auto r = store->init(options.create); !r) return std::unexpected(r.error());
    return store;
}

}  // namespace ktrail::store
