// The store and verify tests (tests/unit/store_test.cc, verify_test.cc) on a
// real PostgreSQL started for this run, plus what only PostgreSQL has: day
// partitions, several collectors opening one database at once, and a day
// dropped by one collector's retention while another still ingests into it.
#include <libpq-fe.h>

#include <atomic>
#include <thread>

#include "postgres_server.h"
#include "store_fixture.h"

namespace ktrail::store_test {

std::string fresh_store_url() {
    try {
        return test::PostgresServer::shared().fresh_database();
    } catch (const std::exception& e) {
        FAIL(e.what());
    }
    return {};
}

namespace {

std::vector<std::string> partitions(const std::string& url) {
    std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(url.c_str()), PQfinish);
    REQUIRE(PQstatus(c.get()) == CONNECTION_OK);
    PGresult* r = PQexec(c.get(),
                         "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                         "WHERE i.inhparent = 'events'::regclass ORDER BY 1");
    REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetvalue(r, i, 0));
    PQclear(r);
    return out;
}

}  // namespace

TEST_CASE("store-pg: events go to one partition per UTC day, made on demand", "[store][pg]") {
    auto url = fresh_store_url();
    auto s = open_test_store(url);
    CHECK(partitions(url).empty());
    TestChain c("agent-p", "hostp");
    // 2026-11-25 23:59:59.999999999 and 2026-11-26 00:00:00 UTC.
    int64_t midnight = 1'795'651'200LL * kSec;
    c.add({.time_ns = midnight - 1});
    c.add({.time_ns = midnight});
    c.add({.time_ns = midnight + 86399 * kSec});
    REQUIRE(s->register_agent(c.info()));
    auto r = s->ingest(c.rows, {});
    REQUIRE(r);
    CHECK(r->inserted == 3);
    CHECK(partitions(url) == std::vector<std::string>{"events_20261125", "events_20261126"});
    // The cutoff at midnight drops the 25th only.
    auto removed = s->apply_retention(midnight);
    REQUIRE(removed);
    CHECK(*removed == 1);
    CHECK(partitions(url) == std::vector<std::string>{"events_20261126"});
    CHECK((*s->agent("agent-p"))->purged_through == 1);
}

TEST_CASE("store-pg: collectors opening and ingesting into one database at once", "[store][pg]") {
    auto url = fresh_store_url();
    constexpr int kCollectors = 6;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    std::vector<std::string> errors(kCollectors);
    int64_t base = now_ns() - 10 * 86400 * kSec;
    for (int i = 0; i < kCollectors; ++i) {
        threads.emplace_back([&, i] {
            auto s = store::open_store(url);
            if (!s) {
                errors[i] = s.error().message;
                ++failures;
                return;
            }
            // Every collector needs the same ten day partitions at the same time.
            TestChain c("agent-c" + std::to_string(i), "host" + std::to_string(i));
            for (int d = 0; d < 10; ++d) c.add({.time_ns = base + d * 86400 * kSec});
            auto reg = (*s)->register_agent(c.info());
            auto r = reg ? (*s)->ingest(c.rows, {}) : std::unexpected(reg.error());
            if (!r || r->inserted != 10) {
                errors[i] = r ? "inserted " + std::to_string(r->inserted) : r.error().message;
                ++failures;
            }
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) INFO(e);
    CHECK(failures == 0);
    CHECK(partitions(url).size() == 10);
    auto s = open_test_store(url);
    store::Query q;
    q.limit = 0;
    auto rows = s->query(q);
    REQUIRE(rows);
    CHECK(rows->size() == kCollectors * 10);
}

TEST_CASE("store-pg: a day dropped by another collector's retention is made again", "[store][pg]") {
    auto url = fresh_store_url();
    auto a = open_test_store(url), b = open_test_store(url);
    int64_t day = 86400 * kSec, now = now_ns();
    TestChain c("agent-d", "hostd");
    c.add({.time_ns = now - 5 * day});
    REQUIRE(a->register_agent(c.info()));
    REQUIRE(a->ingest(c.rows, {}));  // a knows the day's partition exists
    REQUIRE(b->apply_retention(now - day));
    CHECK(partitions(url).empty());
    c.add({.time_ns = now - 5 * day + kSec});  // a late event for that day
    auto r = a->ingest(std::span<const store::Row>(c.rows).subspan(1), {});
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r);
    CHECK(r->inserted == 1);
}

TEST_CASE("store-pg: a store that is not there, and a server that is not there", "[store][pg]") {
    auto url = test::PostgresServer::shared().create_database("empty_db");
    auto r = store::open_store(url, store::OpenOptions{.create = false});
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("has no ktrail tables"));
    r = store::open_store("postgresql://postgres@127.0.0.1:1/x");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("cannot connect to the postgresql store"));
}

}  // namespace ktrail::store_test
