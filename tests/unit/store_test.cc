// The central store through its interface, as the collector and `ktrail
// query` use it: ingest and every query filter, dedup of retried batches,
// retention, stored hashes, trust-on-first-use of agent keys. The same cases
// run on SQLite here and on PostgreSQL in store_e2e_tests (store_fixture.h).
#include <filesystem>
#include <set>

#include "store_fixture.h"

namespace ktrail::store_test {

#ifndef KTRAIL_STORE_PG
namespace {
// Every SQLite store of this run lives in one directory, removed at exit.
struct SqliteDir {
    std::string path;
    unsigned n = 0;
    SqliteDir() {
        char tmpl[] = "/tmp/ktrail-store-unit-XXXXXX";
        if (mkdtemp(tmpl)) path = tmpl;
    }
    ~SqliteDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};
}  // namespace

std::string fresh_store_url() {
    static SqliteDir dir;
    REQUIRE(!dir.path.empty());
    return "sqlite:" + dir.path + "/store" + std::to_string(++dir.n) + ".db";
}
#endif

namespace {

std::vector<std::string> ids(const std::vector<store::Row>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) out.push_back(r.event_id);
    return out;
}

std::vector<std::string> query_ids(store::Store& s, store::Query q) {
    auto rows = s.query(q);
    INFO((rows ? std::string() : rows.error().message));
    REQUIRE(rows);
    return ids(*rows);
}

using Ids = std::vector<std::string>;

// Two hosts' events at known times relative to `now`.
struct Fleet {
    int64_t now = now_ns();
    TestChain web{"agent-web", "web1"}, db{"agent-db", "db1"};
    Fleet() {
        web.add({.time_ns = now - 3 * 3600 * kSec, .action = "executed", .user = "root", .path = "", .exe = "/usr/bin/bash", .session = 1});  // web:1
        web.add({.time_ns = now - 90 * 60 * kSec, .action = "opened-file", .user = "alice", .path = "/etc/shadow", .session = 7});  // web:2
        web.add({.time_ns = now - 30 * 60 * kSec, .action = "deleted", .outcome = "failure", .user = "bob", .path = "/tmp/a_b", .exe = "/usr/bin/rm", .session = 42});  // web:3
        web.add({.time_ns = now - 10 * 60 * kSec, .action = "wrote-to-file", .user = "alice", .path = "/home/alice/.ssh/authorized_keys", .exe = "/usr/bin/vim", .session = 42});  // web:4
        db.add({.time_ns = now - 50 * 60 * kSec, .action = "deleted", .user = "postgres", .path = "/tmp/axb", .exe = "/usr/bin/rm", .session = -1});  // db:1
        db.add({.time_ns = now - 5 * 60 * kSec, .action = "opened-file", .outcome = "unknown", .user = "alice", .path = "/etc/passwd", .session = 9});  // db:2
        db.add({.time_ns = now - 1 * 60 * kSec, .action = "changed-file-permissions-of", .user = "root", .path = "/etc/100%", .session = 1});  // db:3
    }
    void load(store::Store& s) {
        REQUIRE(s.register_agent(web.info()));
        REQUIRE(s.register_agent(db.info()));
        auto r = s.ingest(web.rows, web.checkpoints);
        REQUIRE(r);
        CHECK(r->inserted == 4);
        r = s.ingest(db.rows, db.checkpoints);
        REQUIRE(r);
        CHECK(r->inserted == 3);
    }
};

}  // namespace

TEST_CASE("store: every query filter, newest first", "[store]") {
    auto s = open_test_store(fresh_store_url());
    Fleet f;
    f.load(*s);
    store::Query q;
    CHECK(query_ids(*s, q) == Ids{"agent-db:3", "agent-db:2", "agent-web:4", "agent-web:3", "agent-db:1",
                                  "agent-web:2", "agent-web:1"});
    q.limit = 2;
    CHECK(query_ids(*s, q) == Ids{"agent-db:3", "agent-db:2"});

    SECTION("time") {
        store::Query t;
        t.since_ns = f.now - 3600 * kSec;
        CHECK(query_ids(*s, t) == Ids{"agent-db:3", "agent-db:2", "agent-web:4", "agent-web:3", "agent-db:1"});
        t.until_ns = f.now - 20 * 60 * kSec;
        CHECK(query_ids(*s, t) == Ids{"agent-web:3", "agent-db:1"});
        t.since_ns = f.now - 10 * 60 * kSec;  // inclusive at both ends
        t.until_ns = f.now - 5 * 60 * kSec;
        CHECK(query_ids(*s, t) == Ids{"agent-db:2", "agent-web:4"});
    }
    SECTION("host, by name or id; agent") {
        store::Query h;
        h.host = "db1";
        CHECK(query_ids(*s, h) == Ids{"agent-db:3", "agent-db:2", "agent-db:1"});
        h.host = "m-web1";
        CHECK(query_ids(*s, h) == Ids{"agent-web:4", "agent-web:3", "agent-web:2", "agent-web:1"});
        h.host = "nosuchhost";
        CHECK(query_ids(*s, h).empty());
        store::Query a;
        a.agent_id = "agent-web";
        CHECK(query_ids(*s, a).size() == 4);
    }
    SECTION("user, action, outcome, session") {
        store::Query u;
        u.user = "alice";
        CHECK(query_ids(*s, u) == Ids{"agent-db:2", "agent-web:4", "agent-web:2"});
        store::Query a;
        a.action = "deleted";
        CHECK(query_ids(*s, a) == Ids{"agent-web:3", "agent-db:1"});
        store::Query o;
        o.outcome = "failure";
        CHECK(query_ids(*s, o) == Ids{"agent-web:3"});
        o.outcome = "unknown";
        CHECK(query_ids(*s, o) == Ids{"agent-db:2"});
        store::Query sess;
        sess.session_id = 42;
        CHECK(query_ids(*s, sess) == Ids{"agent-web:4", "agent-web:3"});
        sess.session_id = -1;  // no session
        CHECK(query_ids(*s, sess) == Ids{"agent-db:1"});
        store::Query both;  // filters combine
        both.user = "alice";
        both.host = "web1";
        both.since_ns = f.now - 3600 * kSec;
        CHECK(query_ids(*s, both) == Ids{"agent-web:4"});
    }
    SECTION("path globs") {
        auto by_path = [&](const std::string& glob) {
            store::Query p;
            p.path_glob = glob;
            return query_ids(*s, p);
        };
        CHECK(by_path("/etc/*") == Ids{"agent-db:3", "agent-db:2", "agent-web:2"});
        CHECK(by_path("/etc/passwd") == Ids{"agent-db:2"});
        CHECK(by_path("/home/*/.ssh/authorized_keys") == Ids{"agent-web:4"});
        CHECK(by_path("*/.ssh/*") == Ids{"agent-web:4"});
        CHECK(by_path("/tmp/a?b") == Ids{"agent-web:3", "agent-db:1"});
        // SQL wildcards in a glob are plain characters.
        CHECK(by_path("/tmp/a_b") == Ids{"agent-web:3"});
        CHECK(by_path("/etc/100%") == Ids{"agent-db:3"});
        CHECK(by_path("/etc/1%").empty());
        CHECK(by_path("/etc/[ps]*") == Ids{"agent-db:2", "agent-web:2"});
        CHECK(by_path("/etc/[!p]*") == Ids{"agent-db:3", "agent-web:2"});
        CHECK(by_path("/etc/[^p]*") == Ids{"agent-db:3", "agent-web:2"});
        CHECK(by_path("/ETC/*").empty());  // case matters, as in the file system
        CHECK(by_path("*").size() == 7);   // every event (no file: an empty path)
        CHECK(by_path("?*").size() == 6);  // every event with a path
    }
    SECTION("values are data, never SQL") {
        for (std::string evil : {"x' OR '1'='1", "'; DROP TABLE events; --", "\\", "%", "_"}) {
            store::Query q2;
            q2.user = evil;
            CHECK(query_ids(*s, q2).empty());
            store::Query q3;
            q3.host = evil;
            CHECK(query_ids(*s, q3).empty());
            store::Query q4;
            q4.path_glob = evil;
            CHECK(query_ids(*s, q4).empty());
        }
        CHECK(query_ids(*s, store::Query{}).size() == 7);
    }
    SECTION("the row keeps the columns, the hash and the exact bytes") {
        store::Query one;
        one.agent_id = "agent-web";
        one.limit = 1;
        auto rows = s->query(one);
        REQUIRE(rows);
        REQUIRE(rows->size() == 1);
        const auto& want = f.web.rows[3];
        const auto& got = rows->front();
        CHECK(got.agent_id == "agent-web");
        CHECK(got.sequence == 4);
        CHECK(got.time_ns == want.time_ns);
        CHECK(got.host_id == "m-web1");
        CHECK(got.host_name == "web1");
        CHECK(got.kind == "event");
        CHECK(got.user_name == "alice");
        CHECK(got.path == "/home/alice/.ssh/authorized_keys");
        CHECK(got.process_executable == "/usr/bin/vim");
        CHECK(got.session_id == 42);
        CHECK(got.hash == want.hash);
        CHECK(got.raw == want.raw);
    }
}

TEST_CASE("store: a retried batch is stored once", "[store]") {
    auto url = fresh_store_url();
    auto s = open_test_store(url);
    TestChain c("agent-1", "host1");
    for (int i = 0; i < 20; ++i) c.add({.time_ns = now_ns() - (20 - i) * kSec, .path = "/var/log/f" + std::to_string(i)});
    c.checkpoint();
    REQUIRE(s->register_agent(c.info()));
    std::span<const store::Row> all(c.rows);
    auto r = s->ingest(all.first(12), {});
    REQUIRE(r);
    CHECK(r->inserted == 12);
    CHECK(r->duplicates == 0);
    // The same batch again (the ack was lost): nothing new.
    r = s->ingest(all.first(12), {});
    REQUIRE(r);
    CHECK(r->inserted == 0);
    CHECK(r->duplicates == 12);
    // Overlapping: 8..20, of which 8..12 are stored already.
    r = s->ingest(all.subspan(7), c.checkpoints);
    REQUIRE(r);
    CHECK(r->inserted == 8);
    CHECK(r->duplicates == 5);
    // Checkpoints dedup too.
    REQUIRE(s->ingest({}, c.checkpoints));
    // One new event twice in one batch: stored once.
    c.add({.time_ns = now_ns(), .path = "/var/log/twice"});
    std::vector<store::Row> twice{c.rows.back(), c.rows.back()};
    r = s->ingest(twice, {});
    REQUIRE(r);
    CHECK(r->inserted == 1);
    CHECK(r->duplicates == 1);
    c.rows.pop_back();
    exec_sql(url, "DELETE FROM events WHERE sequence = 21");
    store::Query q;
    q.limit = 0;
    auto rows = s->query(q);
    REQUIRE(rows);
    CHECK(rows->size() == 20);
    std::set<uint64_t> seqs;
    for (const auto& row : *rows) seqs.insert(row.sequence);
    CHECK(seqs.size() == 20);
    auto cps = s->checkpoints("agent-1");
    REQUIRE(cps);
    REQUIRE(cps->size() == 1);
    CHECK(cps->front().sequence == 20);
    CHECK(cps->front().head == c.checkpoints[0].head);
    CHECK(cps->front().signature == c.checkpoints[0].signature);

    // scan: every event in sequence order.
    std::vector<uint64_t> order;
    REQUIRE(s->scan("agent-1", [&](const store::Row& row) { order.push_back(row.sequence); }));
    REQUIRE(order.size() == 20);
    for (size_t i = 0; i < order.size(); ++i) CHECK(order[i] == i + 1);
}

TEST_CASE("store: hashes() gives the stored chain hashes of a range", "[store]") {
    auto s = open_test_store(fresh_store_url());
    TestChain c("agent-h", "hosth");
    for (int i = 0; i < 10; ++i) c.add({.time_ns = now_ns() - (10 - i) * kSec});
    REQUIRE(s->register_agent(c.info()));
    REQUIRE(s->ingest(c.rows, {}));
    auto h = s->hashes("agent-h", 3, 6);
    REQUIRE(h);
    REQUIRE(h->size() == 4);
    for (size_t i = 0; i < 4; ++i) {
        CHECK((*h)[i].first == i + 3);
        CHECK((*h)[i].second == c.rows[i + 2].hash);
    }
    h = s->hashes("agent-h", 9, 100);
    REQUIRE(h);
    CHECK(h->size() == 2);
    h = s->hashes("other-agent", 1, 10);
    REQUIRE(h);
    CHECK(h->empty());
}

TEST_CASE("store: an agent's first key is trusted, a different one refused", "[store]") {
    auto s = open_test_store(fresh_store_url());
    TestChain c("agent-k", "hostk");
    REQUIRE(s->register_agent(c.info()));
    REQUIRE(s->register_agent(c.info()));  // again, same key: fine
    auto known = s->agent("agent-k");
    REQUIRE(known);
    REQUIRE(known->has_value());
    CHECK((*known)->public_key == c.key.public_key());
    CHECK((*known)->host_name == "hostk");
    CHECK((*known)->purged_through == 0);

    auto other = chain::SigningKey::generate();
    REQUIRE(other);
    store::AgentInfo impostor = c.info();
    impostor.public_key = other->public_key();
    auto r = s->register_agent(impostor);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("agent-k") && Catch::Contains("different public key"));
    known = s->agent("agent-k");
    REQUIRE(known);
    CHECK((*known)->public_key == c.key.public_key());

    // Same key, renamed host: followed.
    store::AgentInfo renamed = c.info();
    renamed.host_name = "hostk-new";
    REQUIRE(s->register_agent(renamed));
    CHECK((*s->agent("agent-k"))->host_name == "hostk-new");

    store::AgentInfo bad = c.info();
    bad.agent_id = "agent-short";
    bad.public_key = "short";
    CHECK_FALSE(s->register_agent(bad));

    auto none = s->agent("nobody");
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
    TestChain d("agent-a", "hosta");
    REQUIRE(s->register_agent(d.info()));
    auto all = s->agents();
    REQUIRE(all);
    REQUIRE(all->size() == 2);
    CHECK(all->at(0).agent_id == "agent-a");
    CHECK(all->at(1).agent_id == "agent-k");
}

TEST_CASE("store: retention removes old events and remembers how far", "[store]") {
    auto url = fresh_store_url();
    auto s = open_test_store(url);
    int64_t now = now_ns();
    int64_t day = 86400 * kSec;
    TestChain c("agent-r", "hostr");
    c.add({.time_ns = now - 4 * day, .path = "/old/1"});
    c.add({.time_ns = now - 3 * day, .path = "/old/2"});
    c.checkpoint();
    c.add({.time_ns = now - 2 * day - 3600 * kSec, .path = "/old/3"});
    c.add({.time_ns = now - 3600 * kSec, .path = "/new/4"});
    c.add({.time_ns = now - 60 * kSec, .path = "/new/5"});
    c.checkpoint();
    REQUIRE(s->register_agent(c.info()));
    REQUIRE(s->ingest(c.rows, c.checkpoints));

    // Whole days before the cutoff go on both back ends (PostgreSQL drops
    // day partitions, SQLite deletes by time).
    auto removed = s->apply_retention(now - day);
    INFO((removed ? std::string() : removed.error().message));
    REQUIRE(removed);
    CHECK(*removed == 3);
    store::Query q;
    q.limit = 0;
    CHECK(query_ids(*s, q) == Ids{"agent-r:5", "agent-r:4"});
    auto a = s->agent("agent-r");
    REQUIRE(a);
    CHECK((*a)->purged_through == 3);
    auto cps = s->checkpoints("agent-r");
    REQUIRE(cps);
    REQUIRE(cps->size() == 1);
    CHECK(cps->front().sequence == 5);
    // Nothing more to remove: the bookkeeping stays.
    removed = s->apply_retention(now - day);
    REQUIRE(removed);
    CHECK(*removed == 0);
    CHECK((*s->agent("agent-r"))->purged_through == 3);
    // New events for the dropped days still go in (the day is made again).
    TestChain late("agent-late", "hostl");
    late.add({.time_ns = now - 4 * day});
    REQUIRE(s->register_agent(late.info()));
    auto r = s->ingest(late.rows, {});
    REQUIRE(r);
    CHECK(r->inserted == 1);
}

TEST_CASE("store: opening is idempotent and a second handle sees the same data", "[store]") {
    auto url = fresh_store_url();
    auto a = open_test_store(url);
    auto b = open_test_store(url);  // schema already there: no error
    TestChain c("agent-o", "hosto");
    c.add({.time_ns = now_ns()});
    REQUIRE(a->register_agent(c.info()));
    REQUIRE(a->ingest(c.rows, {}));
    auto rows = b->query({});
    REQUIRE(rows);
    CHECK(rows->size() == 1);
    auto read_only = store::open_store(url, store::OpenOptions{.create = false});
    REQUIRE(read_only);
    auto ids_ = (*read_only)->agent_ids();
    REQUIRE(ids_);
    CHECK(*ids_ == std::vector<std::string>{"agent-o"});
}

#ifndef KTRAIL_STORE_PG
TEST_CASE("store: URLs and a store that is not there", "[store]") {
    auto r = store::open_store("mysql://x");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("unknown store URL") && Catch::Contains("sqlite:PATH"));
    r = store::open_store("sqlite:/nonexistent-dir/x.db", store::OpenOptions{.create = false});
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("no store at /nonexistent-dir/x.db"));
    r = store::open_store("postgresql://u:secret@127.0.0.1:1/db");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, !Catch::Contains("secret") && Catch::Contains("u:***@127.0.0.1"));
    CHECK(store::redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db");
    CHECK(store::redact_url("postgresql://h/db?user=u&password=pw&x=1") == "postgresql://h/db?user=u&password=***&x=1");
    CHECK(store::redact_url("sqlite:/a/b.db") == "sqlite:/a/b.db");
}

TEST_CASE("store: make_row derives the query columns from the event", "[store]") {
    v1::Event ev = make_event({.time_ns = 123, .action = "deleted", .outcome = "failure", .user = "bob",
                               .path = "/srv/x", .exe = "/bin/rm", .session = -1});
    ev.set_sequence(9);
    ev.set_id("a:9");
    ev.mutable_agent()->set_id("a");
    ev.mutable_host()->set_name("h");
    ev.mutable_host()->set_id("hid");
    chain::Hash h{};
    h[0] = 7;
    auto row = store::make_row(ev, "RAW", h);
    CHECK(row.agent_id == "a");
    CHECK(row.sequence == 9);
    CHECK(row.time_ns == 123);
    CHECK(row.event_id == "a:9");
    CHECK(row.host_id == "hid");
    CHECK(row.host_name == "h");
    CHECK(row.kind == "event");
    CHECK(row.action == "deleted");
    CHECK(row.outcome == "failure");
    CHECK(row.user_name == "bob");
    CHECK(row.path == "/srv/x");
    CHECK(row.process_executable == "/bin/rm");
    CHECK(row.session_id == -1);
    CHECK(row.hash == h);
    CHECK(row.raw == "RAW");
    ev.mutable_session()->set_id(0);  // session 0 is a session
    CHECK(store::make_row(ev, "", h).session_id == 0);
    // A column holds what both back ends can store: NUL and bytes that are
    // not UTF-8 become U+FFFD (the raw event keeps them).
    ev.mutable_file()->set_path(std::string("/a\0b\xff", 5));
    CHECK(store::make_row(ev, "", h).path == "/a\xef\xbf\xbd" "b\xef\xbf\xbd");
}
#endif

}  // namespace ktrail::store_test
