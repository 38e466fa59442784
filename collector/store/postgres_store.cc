// The PostgreSQL back end, for fleets: `events` is partitioned by UTC day on
// time_ns (events_YYYYMMDD, created on demand), so retention drops whole
// partitions. Ingest COPYs a batch into a temporary staging table and moves
// it with one INSERT ... ON CONFLICT DO NOTHING, all in one transaction.
// Several collectors may share the database: schema and partition changes
// take a transaction-scoped advisory lock.
#include <fmt/format.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <string_view>

#include "store/backends.h"

namespace ktrail::store {
namespace {

// pg_advisory_xact_lock(kLockClass, ...) keys.
constexpr int kLockClass = 0x6b74;  // "kt"
constexpr int kLockSchema = 1;
constexpr int kLockPartitions = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  agent_id text NOT NULL,
  sequence bigint NOT NULL,
  time_ns bigint NOT NULL,
  event_id text NOT NULL,
  host_id text NOT NULL,
  host_name text NOT NULL,
  kind text NOT NULL,
  action text NOT NULL,
  outcome text NOT NULL,
  user_name text NOT NULL,
  path text NOT NULL,
  process_executable text NOT NULL,
  session_id bigint NOT NULL,
  hash bytea NOT NULL,
  raw bytea NOT NULL,
  PRIMARY KEY (agent_id, sequence, time_ns)
) PARTITION BY RANGE (time_ns);
CREATE INDEX IF NOT EXISTS events_time ON events (time_ns);
CREATE INDEX IF NOT EXISTS events_host_time ON events (host_name, time_ns);
CREATE INDEX IF NOT EXISTS events_action_time ON events (action, time_ns);
CREATE INDEX IF NOT EXISTS events_user_time ON events (user_name, time_ns);
CREATE INDEX IF NOT EXISTS events_session_time ON events (session_id, time_ns) WHERE session_id >= 0;
CREATE INDEX IF NOT EXISTS events_path ON events (path text_pattern_ops) WHERE path <> '';
CREATE TABLE IF NOT EXISTS agents (
  agent_id text PRIMARY KEY,
  host_id text NOT NULL,
  host_name text NOT NULL,
  public_key bytea NOT NULL,
  first_seen_ns bigint NOT NULL,
  purged_through bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS checkpoints (
  agent_id text NOT NULL,
  sequence bigint NOT NULL,
  chain_head bytea NOT NULL,
  time_ns bigint NOT NULL,
  signature bytea NOT NULL,
  PRIMARY KEY (agent_id, sequence)
);
)sql";

constexpr const char* kRowColumns =
    "agent_id, sequence, time_ns, event_id, host_id, host_name, kind, action, outcome, user_name, path, "
    "process_executable, session_id, hash, raw";
constexpr int kRowFields = 15;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct ResDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
};
using Res = std::unique_ptr<PGresult, ResDeleter>;

// A query parameter: text (format 0) or binary bytes (format 1, for bytea).
struct Param {
    std::string value;
    int format = 0;
};
Param txt(std::string_view s) { return {std::string(s), 0}; }
Param num(int64_t v) { return {std::to_string(v), 0}; }
Param bin(std::string_view s) { return {std::string(s), 1}; }

// Results come in binary format.
std::string_view field(const PGresult* r, int row, int col) {
    return {PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col))};
}
int64_t int8(const PGresult* r, int row, int col) {
    auto v = field(r, row, col);
    if (v.size() != 8) return 0;
    uint64_t x = 0;
    for (unsigned char c : v) x = (x << 8) | c;
    return static_cast<int64_t>(x);
}
chain::Hash hash(const PGresult* r, int row, int col) {
    chain::Hash h{};
    if (!chain::from_bytes(field(r, row, col), h)) h.fill(0);
    return h;
}

void put16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
}
void put32(std::string& out, uint32_t v) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_field(std::string& out, std::string_view v) {
    put32(out, static_cast<uint32_t>(v.size()));
    out.append(v);
}
void put_int8(std::string& out, int64_t v) {
    put32(out, 8);
    auto x = static_cast<uint64_t>(v);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

// events_YYYYMMDD for a UTC day.
std::string partition_name(int64_t day) {
    time_t t = static_cast<time_t>(day * 86400);
    struct tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("events_{:04}{:02}{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

// The day of a partition's name; false if it is not one of ours.
bool partition_day(std::string_view name, int64_t& day) {
    if (name.size() != 15 || !name.starts_with("events_")) return false;
    int v[3] = {0, 0, 0};
    const int widths[3] = {4, 2, 2};
    size_t pos = 7;
    for (int k = 0; k < 3; ++k) {
        for (int i = 0; i < widths[k]; ++i, ++pos) {
            if (name[pos] < '0' || name[pos] > '9') return false;
            v[k] = v[k] * 10 + (name[pos] - '0');
        }
    }
    struct tm tm{};
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    day = static_cast<int64_t>(timegm(&tm)) / 86400;
    return true;
}

Row row_from(const PGresult* r, int i) {
    Row row;
    row.agent_id = field(r, i, 0);
    row.sequence = static_cast<uint64_t>(int8(r, i, 1));
    row.time_ns = int8(r, i, 2);
    row.event_id = field(r, i, 3);
    row.host_id = field(r, i, 4);
    row.host_name = field(r, i, 5);
    row.kind = field(r, i, 6);
    row.action = field(r, i, 7);
    row.outcome = field(r, i, 8);
    row.user_name = field(r, i, 9);
    row.path = field(r, i, 10);
    row.process_executable = field(r, i, 11);
    row.session_id = int8(r, i, 12);
    row.hash = hash(r, i, 13);
    row.raw = field(r, i, 14);
    return row;
}

AgentInfo agent_from(const PGresult* r, int i) {
    AgentInfo a;
    a.agent_id = field(r, i, 0);
    a.host_id = field(r, i, 1);
    a.host_name = field(r, i, 2);
    a.public_key = field(r, i, 3);
    a.purged_through = static_cast<uint64_t>(int8(r, i, 4));
    return a;
}

class PgStore final : public Store {
public:
    PgStore(PGconn* conn, std::string url) : conn_(conn), where_(redact_url(url)) {
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
    }
    ~PgStore() override { PQfinish(conn_); }

    Result<void> init(bool create) {
        if (create) {
            if (auto r = command("BEGIN"); !r) return r;
            auto locked = run(fmt::format("SELECT pg_advisory_xact_lock({}, {})", kLockClass, kLockSchema), {},
                              "lock the schema");
            if (!locked) {
                rollback();
                return std::unexpected(locked.error());
            }
            if (auto r = command(kSchema); !r) {
                rollback();
                return r;
            }
            if (auto c = command("COMMIT"); !c) return c;
        } else {
            auto r = run("SELECT to_regclass('events') IS NOT NULL AND to_regclass('agents') IS NOT NULL AND "
                         "to_regclass('checkpoints') IS NOT NULL",
                         {}, "look for the ktrail tables");
            if (!r) return std::unexpected(r.error());
            if (PQntuples(r->get()) != 1 || field(r->get(), 0, 0) != std::string_view("\x01", 1))
                return fail(fmt::format("postgresql store {}: this database has no ktrail tables; is it the one "
                                        "ktrail-collector --store writes?",
                                        where_));
        }
        return {};
    }

    Result<void> register_agent(const AgentInfo& agent) override {
        std::lock_guard lock(mu_);
        if (auto r = ensure_connected(); !r) return r;
        if (agent.public_key.size() != 32)
            return fail(fmt::format("agent {}: public key has {} bytes, an Ed25519 key has 32", agent.agent_id,
                                    agent.public_key.size()));
        auto ins = run("INSERT INTO agents (agent_id, host_id, host_name, public_key, first_seen_ns) "
                       "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id) DO NOTHING",
                       {txt(agent.agent_id), txt(agent.host_id), txt(agent.host_name), bin(agent.public_key),
                        num(now_ns())},
                       "register the agent");
        if (!ins) return std::unexpected(ins.error());
        if (std::string_view(PQcmdTuples(ins->get())) == "1") return {};
        auto known = agent_locked(agent.agent_id);
        if (!known) return std::unexpected(known.error());
        if (*known && (*known)->public_key != agent.public_key)
            return std::unexpected(key_mismatch(agent, **known, where_));
        if (*known && ((*known)->host_name != agent.host_name || (*known)->host_id != agent.host_id)) {
            auto up = run("UPDATE agents SET host_id = $1, host_name = $2 WHERE agent_id = $3",
                          {txt(agent.host_id), txt(agent.host_name), txt(agent.agent_id)}, "update the agent's host");
            if (!up) return std::unexpected(up.error());
        }
        return {};
    }

    Result<std::optional<AgentInfo>> agent(const std::string& agent_id) override {
        std::lock_guard lock(mu_);
        if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
        return agent_locked(agent_id);
    }

    Result<std::vector<AgentInfo>> agents() override {
        std::lock_guard lock(mu_);
        if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
        auto r = run("SELECT agent_id, host_id, host_name, public_key, purged_through FROM agents "
                     "ORDER BY host_name, agent_id",
                     {}, "list the agents");
        if (!r) return std::unexpected(r.error());
        std::vector<AgentInfo> out;
        for (int i = 0; i < PQntuples(r->get()); ++i) out.push_back(agent_from(r->get(), i));
        return out;
    }

    Result<std::vector<std::string>> agent_ids() override {
        std::lock_guard lock(mu_);
        if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
        auto r = run("WITH RECURSIVE e(a) AS (SELECT min(agent_id) FROM events UNION ALL "
                     "SELECT (SELECT min(agent_id) FROM events WHERE agent_id > e.a) FROM e WHERE e.a IS NOT NULL) "
                     "SELECT a FROM e WHERE a IS NOT NULL UNION SELECT agent_id FROM agents "
                     "UNION SELECT agent_id FROM checkpoints ORDER BY 1",
                     {}, "list the agent ids");
        if (!r) return std::unexpected(r.error());
        std::vector<std::string> out;
        for (int i = 0; i < PQntuples(r->get()); ++i) out.emplace_back(field(r->get(), i, 0));
        return out;
    }

    Result<std::vector<std::pair<uint64_t, chain::Hash>>> hashes(const std::string& agent_id, uint64_t first,
                                                                 uint64_t last) override {
        std::lock_guard lock(mu_);
        if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
        auto r = run("SELECT sequence, hash FROM events WHERE agent_id = $1 AND sequence BETWEEN $2 AND $3 "
                     "ORDER BY sequence",
                     {txt(agent_id), num(static_cast<int64_t>(first)), num(static_cast<int64_t>(last))},
                     "read the stored hashes");
        if (!r) return std::unexpected(r.error());
        std::vector<std::pair<uint64_t, chain::Hash>> out;
        for (int i = 0; i < PQntuples(r->get()); ++i)
            out.emplace_back(static_cast<uint64_t>(int8(r->get(), i, 0)), hash(r->get(), i, 1));
        return out;
    }

    Result<IngestResult> ingest(std::span<const Row> rows, std::span<const Checkpoint> checkpoints) override {
        std::lock_guard lock(mu_);
        if (rows.empty() && checkpoints.empty()) return IngestResult{};
        if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
        auto result = ingest_once(rows, checkpoints);
        if (!result && missing_partition_) {
            // Retention on another collector dropped a day this batch needs:
            // forget what we knew and create it again.
            days_.clear();
            result = ingest_once(rows, checkpoints);
        }
        return result;
    }

    Result<std::vector<Row>> query(const Query& q) override {
        std::lock_guard lock(mu_);
        if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
        std::string sql = fmt::format("SELECT {} FROM events WHERE TRUE", kRowColumns);
        std::vector<Param> args;
        auto arg = [&](Param p) {
            args.push_back(std::move(p));
            return fmt::format("${}", args.size());
        };
        if (q.since_ns) sql += " AND time_ns >= " + arg(num(*q.since_ns));
        if (q.until_ns) sql += " AND time_ns <= " + arg(num(*q.until_ns));
        if (!q.host.empty()) {
            std::vector<std::string> names{q.host};
            auto r = run("SELECT DISTINCT host_name FROM agents WHERE host_id = $1", {txt(q.host)},
                         "look up the host id");
            if (!r) return std::unexpected(r.error());
            for (int i = 0; i < PQntuples(r->get()); ++i) names.emplace_back(field(r->get(), i, 0));
            sql += " AND host_name IN (";
            for (size_t i = 0; i < names.size(); ++i) sql += (i ? ", " : "") + arg(txt(names[i]));
            sql += ")";
        }
        if (!q.user.empty()) sql += " AND user_name = " + arg(txt(q.user));
        if (!q.action.empty()) sql += " AND action = " + arg(txt(q.action));
        if (!q.outcome.empty()) sql += " AND outcome = " + arg(txt(q.outcome));
        if (!q.agent_id.empty()) sql += " AND agent_id = " + arg(txt(q.agent_id));
        if (!q.path_glob.empty()) {
            // The path index holds non-empty paths only (likewise sessions).
            if (!glob_matches_empty(q.path_glob)) sql += " AND path <> ''";
            std::string like;
            if (glob_to_like(q.path_glob, like))
                sql += " AND path LIKE " + arg(txt(like));
            else
                sql += " AND path ~ " + arg(txt(glob_to_regex(q.path_glob)));
        }
        if (q.session_id)
            sql += (*q.session_id >= 0 ? " AND session_id >= 0 AND session_id = " : " AND session_id = ") +
                   arg(num(*q.session_id));
        sql += " ORDER BY time_ns DESC";
        if (q.limit) sql += fmt::format(" LIMIT {}", q.limit);
        auto r = run(sql, args, "query the events");
        if (!r) return std::unexpected(r.error());
        std::vector<Row> out;
        out.reserve(static_cast<size_t>(PQntuples(r->get())));
        for (int i = 0; i < PQntuples(r->get()); ++i) out.push_back(row_from(r->get(), i));
        return out;
    }

    Result<void> scan(const std::string& agent_id, const std::function<void(const Row&)>& each) override {
        // Pages by key (the primary key's order), so `each` may call back
        // into the store and no transaction stays open across pages.
        constexpr int kPage = 4096;
        std::string sql = fmt::format("SELECT {} FROM events WHERE agent_id = $1 AND (sequence, time_ns) > ($2, $3) "
                                      "ORDER BY sequence, time_ns LIMIT {}",
                                      kRowColumns, kPage);
        int64_t after_seq = -1, after_time = INT64_MIN;
        for (;;) {
            std::vector<Row> page;
            {
                std::lock_guard lock(mu_);
                if (auto r = ensure_connected(); !r) return r;
                auto r = run(sql, {txt(agent_id), num(after_seq), num(after_time)}, "scan the agent's events");
                if (!r) return std::unexpected(r.error());
                for (int i = 0; i < PQntuples(r->get()); ++i) page.push_back(row_from(r->get(), i));
            }
            for (const Row& row : page) each(row);
            if (page.size() < kPage) return {};
            after_seq = static_cast<int64_t>(page.back().sequence);
            after_time = page.back().time_ns;
        }
    }

    Result<std::vector<Checkpoint>> checkpoints(const std::string& agent_id) override {
        std::lock_guard lock(mu_);
        if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
        auto r = run("SELECT agent_id, sequence, chain_head, time_ns, signature FROM checkpoints "
                     "WHERE agent_id = $1 ORDER BY sequence",
                     {txt(agent_id)}, "read the checkpoints");
        if (!r) return std::unexpected(r.error());
        std::vector<Checkpoint> out;
        for (int i = 0; i < PQntuples(r->get()); ++i) {
            Checkpoint c;
            c.agent_id = field(r->get(), i, 0);
            c.sequence = static_cast<uint64_t>(int8(r->get(), i, 1));
            c.head = hash(r->get(), i, 2);
            c.time_ns = int8(r->get(), i, 3);
            c.signature = field(r->get(), i, 4);
            out.push_back(std::move(c));
        }
        return out;
    }

    Result<uint64_t> apply_retention(int64_t cutoff_ns) override {
        std::lock_guard lock(mu_);
        if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
        if (auto r = command("BEGIN"); !r) return std::unexpected(r.error());
        auto rollback_with = [&](Error e) -> Result<uint64_t> {
            rollback();
            return std::unexpected(std::move(e));
        };
        auto lock_r = run(fmt::format("SELECT pg_advisory_xact_lock({}, {})", kLockClass, kLockPartitions), {},
                          "lock the partitions");
        if (!lock_r) return rollback_with(lock_r.error());
        auto parts = run("SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                         "WHERE i.inhparent = 'events'::regclass",
                         {}, "list the partitions");
        if (!parts) return rollback_with(parts.error());
        uint64_t removed = 0;
        std::vector<int64_t> dropped;
        for (int i = 0; i < PQntuples(parts->get()); ++i) {
            std::string name(field(parts->get(), i, 0));
            int64_t day = 0;
            // Only whole days before the cutoff go.
            if (!partition_day(name, day) || (day + 1) * kNsPerDay > cutoff_ns) continue;
            auto up = run(fmt::format("UPDATE agents SET purged_through = GREATEST(purged_through, m.top) FROM "
                                      "(SELECT agent_id, max(sequence) AS top FROM {} GROUP BY agent_id) AS m "
                                      "WHERE agents.agent_id = m.agent_id",
                                      name),
                          {}, "record what retention removes");
            if (!up) return rollback_with(up.error());
            auto count = run(fmt::format("SELECT count(*) FROM {}", name), {}, "count a partition");
            if (!count) return rollback_with(count.error());
            removed += static_cast<uint64_t>(int8(count->get(), 0, 0));
            if (auto d = command(fmt::format("DROP TABLE {}", name).c_str()); !d) return rollback_with(d.error());
            dropped.push_back(day);
        }
        auto cp = run("DELETE FROM checkpoints c WHERE time_ns < $1 AND sequence <= "
                      "coalesce((SELECT purged_through FROM agents a WHERE a.agent_id = c.agent_id), 0)",
                      {num(cutoff_ns)}, "remove old checkpoints");
        if (!cp) return rollback_with(cp.error());
        if (auto c = command("COMMIT"); !c) return rollback_with(c.error());
        for (int64_t d : dropped) days_.erase(d);
        return removed;
    }

private:
    Result<void> ensure_connected() {
        if (PQstatus(conn_) == CONNECTION_OK) return {};
        PQreset(conn_);
        staging_ = false;
        days_.clear();
        if (PQstatus(conn_) != CONNECTION_OK) return error("reconnect");
        return {};
    }

    std::unexpected<Error> error(const char* what, const PGresult* r = nullptr) {
        const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
        last_state_ = state ? state : "";
        // 23514: no partition of relation "events" found for row.
        if (last_state_ == "23514") missing_partition_ = true;
        std::string msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
        return fail(fmt::format("postgresql store {}: cannot {}: {}", where_, what, msg));
    }

    // A statement without parameters or results (simple query protocol;
    // may hold several statements).
    Result<void> command(const char* sql) {
        Res r(PQexec(conn_, sql));
        auto st = PQresultStatus(r.get());
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return error("run a statement", r.get());
        return {};
    }
    Result<void> command(const std::string& sql) { return command(sql.c_str()); }

    void rollback() { Res(PQexec(conn_, "ROLLBACK")); }

    Result<Res> run(const std::string& sql, const std::vector<Param>& params, const char* what) {
        std::vector<const char*> values;
        std::vector<int> lengths, formats;
        for (const auto& p : params) {
            values.push_back(p.value.data());
            lengths.push_back(static_cast<int>(p.value.size()));
            formats.push_back(p.format);
        }
        Res r(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                           lengths.data(), formats.data(), 1));
        auto st = PQresultStatus(r.get());
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return error(what, r.get());
        return r;
    }

    Result<std::optional<AgentInfo>> agent_locked(const std::string& agent_id) {
        auto r = run("SELECT agent_id, host_id, host_name, public_key, purged_through FROM agents "
                     "WHERE agent_id = $1",
                     {txt(agent_id)}, "read the agent");
        if (!r) return std::unexpected(r.error());
        if (PQntuples(r->get()) == 0) return std::optional<AgentInfo>();
        return std::optional<AgentInfo>(agent_from(r->get(), 0));
    }

    // The day partitions `rows` need, created (in their own transaction)
    // unless this connection already knows they exist.
    Result<void> ensure_partitions(std::span<const Row> rows) {
        std::set<int64_t> missing;
        for (const Row& r : rows) {
            int64_t d = day_of(r.time_ns);
            if (!days_.contains(d)) missing.insert(d);
        }
        if (missing.empty()) return {};
        if (auto r = command("BEGIN"); !r) return r;
        std::string sql = fmt::format("SELECT pg_advisory_xact_lock({}, {});", kLockClass, kLockPartitions);
        for (int64_t d : missing) {
            // FROM/TO bounds as plain numbers: the day's first ns and the next day's.
            int64_t lo = d * kNsPerDay;
            std::string hi = d + 1 > INT64_MAX / kNsPerDay ? "MAXVALUE" : std::to_string((d + 1) * kNsPerDay);
            sql += fmt::format("CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ({}) TO ({});",
                               partition_name(d), lo, hi);
        }
        if (auto r = command(sql); !r) {
            rollback();
            return r;
        }
        if (auto r = command("COMMIT"); !r) return r;
        days_.insert(missing.begin(), missing.end());
        return {};
    }

    Result<void> ensure_staging() {
        if (staging_) return {};
        if (auto r = command(fmt::format("CREATE TEMP TABLE IF NOT EXISTS ktrail_staging (LIKE events) "
                                         "ON COMMIT DELETE ROWS")); !r)
            return r;
        staging_ = true;
        return {};
    }

    Result<IngestResult> ingest_once(std::span<const Row> rows, std::span<const Checkpoint> checkpoints) {
        missing_partition_ = false;
        if (auto r = ensure_partitions(rows); !r) return std::unexpected(r.error());
        if (auto r = ensure_staging(); !r) return std::unexpected(r.error());
        IngestResult result;
        if (auto r = command("BEGIN"); !r) return std::unexpected(r.error());
        auto rollback_with = [&](Error e) -> Result<IngestResult> {
            rollback();
            return std::unexpected(std::move(e));
        };
        if (!rows.empty()) {
            // Fast path: none of these events is stored yet (the usual case),
            // so COPY them straight into `events`. If another collector commits
            // one of them meanwhile, the unique index says so and the batch
            // takes the staging path instead.
            auto fresh = none_stored(rows);
            if (!fresh) return rollback_with(fresh.error());
            bool copied = false;
            if (*fresh) {
                if (auto r = command("SAVEPOINT ktrail_direct"); !r) return rollback_with(r.error());
                if (auto r = copy_rows(rows, "events"); r) {
                    copied = true;
                    result.inserted = rows.size();
                    if (auto rel = command("RELEASE SAVEPOINT ktrail_direct"); !rel) return rollback_with(rel.error());
                } else if (last_state_ == "23505") {  // unique_violation
                    if (auto back = command("ROLLBACK TO SAVEPOINT ktrail_direct"); !back)
                        return rollback_with(back.error());
                } else {
                    return rollback_with(r.error());
                }
            }
            if (!copied) {
                if (auto r = copy_rows(rows, "ktrail_staging"); !r) return rollback_with(r.error());
                auto ins = run(fmt::format("INSERT INTO events ({0}) SELECT {0} FROM ktrail_staging "
                                           "ON CONFLICT DO NOTHING",
                                           kRowColumns),
                               {}, "insert the events");
                if (!ins) return rollback_with(ins.error());
                result.inserted = std::strtoull(PQcmdTuples(ins->get()), nullptr, 10);
            }
            result.duplicates = rows.size() - result.inserted;
        }
        for (const Checkpoint& c : checkpoints) {
            auto r = run("INSERT INTO checkpoints (agent_id, sequence, chain_head, time_ns, signature) "
                         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                         {txt(c.agent_id), num(static_cast<int64_t>(c.sequence)), bin(chain::as_bytes(c.head)),
                          num(c.time_ns), bin(c.signature)},
                         "insert a checkpoint");
            if (!r) return rollback_with(r.error());
        }
        if (auto r = command("COMMIT"); !r) return rollback_with(r.error());
        return result;
    }

    // True if no event of `rows` is stored: per agent, nothing in its
    // sequence range within the batch's time range (a retried event has the
    // same time, and the bound keeps the look-up to the batch's partitions).
    Result<bool> none_stored(std::span<const Row> rows) {
        struct Range {
            uint64_t first = UINT64_MAX, last = 0;
            int64_t from = INT64_MAX, to = INT64_MIN;
        };
        std::map<std::string_view, Range> agents;
        for (const Row& r : rows) {
            Range& g = agents[r.agent_id];
            g.first = std::min(g.first, r.sequence);
            g.last = std::max(g.last, r.sequence);
            g.from = std::min(g.from, r.time_ns);
            g.to = std::max(g.to, r.time_ns);
        }
        // One round trip for every agent of the batch.
        std::string sql = "SELECT ";
        std::vector<Param> args;
        for (const auto& [agent, g] : agents) {
            size_t n = args.size();
            sql += fmt::format("{}EXISTS (SELECT 1 FROM events WHERE agent_id = ${} AND sequence BETWEEN ${} AND ${} "
                               "AND time_ns BETWEEN ${} AND ${})",
                               n ? " OR " : "", n + 1, n + 2, n + 3, n + 4, n + 5);
            args.push_back(txt(agent));
            args.push_back(num(static_cast<int64_t>(g.first)));
            args.push_back(num(static_cast<int64_t>(g.last)));
            args.push_back(num(g.from));
            args.push_back(num(g.to));
        }
        auto r = run(sql, args, "look for stored events");
        if (!r) return std::unexpected(r.error());
        // A binary boolean: one byte, 1 for true.
        return !(PQntuples(r->get()) == 1 && field(r->get(), 0, 0) == std::string_view("\x01", 1));
    }

    // COPY ... FROM STDIN in PostgreSQL's binary format.
    Result<void> copy_rows(std::span<const Row> rows, const char* table) {
        Res start(PQexec(conn_, fmt::format("COPY {} ({}) FROM STDIN (FORMAT binary)", table, kRowColumns).c_str()));
        if (PQresultStatus(start.get()) != PGRES_COPY_IN) return error("start COPY", start.get());
        buf_.clear();
        buf_.append("PGCOPY\n\xff\r\n\0", 11);
        put32(buf_, 0);  // flags
        put32(buf_, 0);  // header extension
        bool ok = true;
        auto flush = [&] {
            if (ok && PQputCopyData(conn_, buf_.data(), static_cast<int>(buf_.size())) != 1) ok = false;
            buf_.clear();
        };
        for (const Row& r : rows) {
            put16(buf_, kRowFields);
            put_field(buf_, r.agent_id);
            put_int8(buf_, static_cast<int64_t>(r.sequence));
            put_int8(buf_, r.time_ns);
            put_field(buf_, r.event_id);
            put_field(buf_, r.host_id);
            put_field(buf_, r.host_name);
            put_field(buf_, r.kind);
            put_field(buf_, r.action);
            put_field(buf_, r.outcome);
            put_field(buf_, r.user_name);
            put_field(buf_, r.path);
            put_field(buf_, r.process_executable);
            put_int8(buf_, r.session_id);
            put_field(buf_, chain::as_bytes(r.hash));
            put_field(buf_, r.raw);
            if (buf_.size() >= (1u << 20)) flush();
        }
        put16(buf_, 0xffff);  // trailer
        flush();
        if (PQputCopyEnd(conn_, ok ? nullptr : "client failed to send the rows") != 1) ok = false;
        Res end(PQgetResult(conn_));
        Result<void> result;
        if (PQresultStatus(end.get()) != PGRES_COMMAND_OK)
            result = error("COPY the events", end.get());
        else if (!ok)
            result = error("COPY the events");
        while (Res more{PQgetResult(conn_)}) {
        }
        return result;
    }

    std::mutex mu_;
    PGconn* conn_;
    std::string where_;           // the URL without its password
    std::set<int64_t> days_;      // day partitions known to exist
    bool staging_ = false;        // this session's staging table exists
    bool missing_partition_ = false;  // the last failure was a row for a dropped day
    std::string last_state_;          // SQLSTATE of the last failure
    std::string buf_;             // COPY data, reused
};

}  // namespace

Result<std::unique_ptr<Store>> open_postgres(const std::string& url, const OpenOptions& options) {
    PGconn* conn = PQconnectdb(url.c_str());
    if (!conn) return fail("cannot allocate a PostgreSQL connection");
    if (PQstatus(conn) != CONNECTION_OK) {
        std::string msg = PQerrorMessage(conn);
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
        PQfinish(conn);
        return fail(fmt::format("cannot connect to the postgresql store {}: {}", redact_url(url), msg));
    }
    auto store = std::make_unique<PgStore>(conn, url);
    if (auto r = store->init(options.create); !r) return std::unexpected(r.error());
    return store;
}

}  // namespace ktrail::store
