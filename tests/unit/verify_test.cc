// `ktrail verify` on a real chain: 50 events hashed with chain::next, a real
// Ed25519 key, a signed checkpoint every 10 events; then the edits someone
// with write access to the database could make, each of which verify must
// name. Runs on SQLite here and on PostgreSQL in store_e2e_tests.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>
#include <tuple>

#include "store_fixture.h"
#include "verify.h"

namespace ktrail::store_test {
namespace {

using verify::Status;

// 50 events of agent-v on host web1, checkpoints at 10, 20, ..., 50; event
// 40 is an events-lost event for 33..35 when `with_lost` (those three are
// then left out of the store, as a damaged spool segment would).
struct Fixture {
    std::string url = fresh_store_url();
    std::unique_ptr<store::Store> s = open_test_store(url);
    TestChain c{"agent-v", "web1"};
    int64_t t0 = now_ns() - 3600 * kSec;

    explicit Fixture(bool with_lost = false) {
        for (int i = 1; i <= 50; ++i) {
            EventSpec e{.time_ns = t0 + i * kSec, .path = "/srv/data/file" + std::to_string(i)};
            if (with_lost && i == 40) {
                v1::Event ev = make_event(e);
                ev.set_action("events-lost");
                ev.set_module("agent");
                ev.clear_file();
                ev.mutable_ktrail()->set_lost_stage("spool");
                ev.mutable_ktrail()->set_lost_count(3);
                ev.mutable_ktrail()->set_lost_first_sequence(33);
                ev.mutable_ktrail()->set_lost_last_sequence(35);
                c.add(ev);
            } else {
                c.add(e);
            }
            if (i % 10 == 0) c.checkpoint();
        }
        REQUIRE(s->register_agent(c.info()));
        std::vector<store::Row> rows;
        for (const auto& r : c.rows)
            if (!with_lost || r.sequence < 33 || r.sequence > 35) rows.push_back(r);
        auto r = s->ingest(rows, c.checkpoints);
        REQUIRE(r);
    }

    verify::AgentReport run() {
        auto report = verify::verify_store(*s);
        INFO((report ? std::string() : report.error().message));
        REQUIRE(report);
        REQUIRE(report->agents.size() == 1);
        return report->agents.front();
    }

    void sql(const std::string& statement, const std::vector<std::string>& blobs = {}) {
        exec_sql(url, statement, blobs);
    }
    std::string where(uint64_t seq) const {
        return " WHERE agent_id = 'agent-v' AND sequence = " + std::to_string(seq);
    }
};

std::vector<std::string> tampered_ids(const verify::AgentReport& r) {
    std::vector<std::string> out;
    for (const auto& t : r.tampered) out.push_back(t.event_id.empty() ? t.reason : t.event_id);
    return out;
}

std::string describe(const verify::AgentReport& r) {
    std::string s = fmt::format("status {} events {} gaps {} tampered {}", verify::to_string(r.status()), r.events,
                                r.gaps.size(), r.tampered_total);
    for (const auto& g : r.gaps) s += fmt::format("\n  gap {}..{} explained={} tail={}", g.first, g.last, g.explained, g.tail);
    for (const auto& t : r.tampered) s += fmt::format("\n  tampered {} seq {}: {}", t.event_id, t.sequence, t.reason);
    return s;
}

}  // namespace

TEST_CASE("verify: an untouched store is ok", "[verify]") {
    Fixture f;
    auto r = f.run();
    INFO(describe(r));
    CHECK(r.status() == Status::ok);
    CHECK(r.agent_id == "agent-v");
    CHECK(r.host_name == "web1");
    CHECK(r.events == 50);
    CHECK(r.first_sequence == 1);
    CHECK(r.last_sequence == 50);
    CHECK(r.checkpoints == 5);
    CHECK(r.checkpoints_valid == 5);
    CHECK(r.gaps.empty());
    CHECK(r.tampered.empty());
}

TEST_CASE("verify: a changed event is tampered, named by its id", "[verify]") {
    Fixture f;
    SECTION("its raw bytes") {
        v1::Event ev;
        REQUIRE(ev.ParseFromString(f.c.rows[16].raw));
        ev.mutable_file()->set_path("/srv/data/innocent");
        f.sql("UPDATE events SET raw = $1" + f.where(17), {ev.SerializeAsString()});
        auto r = f.run();
        INFO(describe(r));
        CHECK(r.status() == Status::tampered);
        // The path column no longer matches, and the chain breaks here.
        CHECK(tampered_ids(r) == std::vector<std::string>{"agent-v:17", "agent-v:17"});
    }
    SECTION("its raw bytes and hash, re-chained to the next checkpoint") {
        // A careful forger recomputes the hashes up to the next checkpoint:
        // the signed head at 20 no longer matches.
        chain::Hash h = f.c.rows[14].hash;  // seq 15
        for (uint64_t seq = 16; seq <= 20; ++seq) {
            v1::Event ev;
            REQUIRE(ev.ParseFromString(f.c.rows[seq - 1].raw));
            if (seq == 16) ev.set_outcome("failure");
            std::string raw = ev.SerializeAsString();
            h = chain::next(h, raw);
            f.sql("UPDATE events SET raw = $1, hash = $2, outcome = '" + ev.outcome() + "'" + f.where(seq),
                  {raw, std::string(chain::as_bytes(h))});
        }
        auto r = f.run();
        INFO(describe(r));
        CHECK(r.status() == Status::tampered);
        REQUIRE(r.tampered.size() == 1);
        CHECK(r.tampered[0].event_id == "agent-v:20");
        CHECK_THAT(r.tampered[0].reason, Catch::Contains("checkpoint at seq 20") && Catch::Contains("signed head"));
    }
    SECTION("only a column (path)") {
        f.sql("UPDATE events SET path = '/srv/data/innocent'" + f.where(23));
        auto r = f.run();
        INFO(describe(r));
        CHECK(r.status() == Status::tampered);
        REQUIRE(r.tampered.size() == 1);
        CHECK(r.tampered[0].event_id == "agent-v:23");
        CHECK(r.tampered[0].sequence == 23);
        CHECK_THAT(r.tampered[0].reason, Catch::Contains("path"));
    }
    SECTION("bytes that are not an event") {
        f.sql("UPDATE events SET raw = $1" + f.where(5), {std::string("\xff\xff\xff\xff garbage", 13)});
        auto r = f.run();
        INFO(describe(r));
        CHECK(r.status() == Status::tampered);
        REQUIRE_FALSE(r.tampered.empty());
        CHECK(r.tampered[0].event_id == "agent-v:5");
        CHECK_THAT(r.tampered[0].reason, Catch::Contains("not a ktrail event"));
    }
    SECTION("two events swapped (raw and hash)") {
        f.sql("UPDATE events SET raw = $1, hash = $2" + f.where(12),
              {f.c.rows[12].raw, std::string(chain::as_bytes(f.c.rows[12].hash))});
        f.sql("UPDATE events SET raw = $1, hash = $2" + f.where(13),
              {f.c.rows[11].raw, std::string(chain::as_bytes(f.c.rows[11].hash))});
        auto r = f.run();
        INFO(describe(r));
        CHECK(r.status() == Status::tampered);
        auto names = tampered_ids(r);
        CHECK(std::set<std::string>(names.begin(), names.end()) == std::set<std::string>{"agent-v:12", "agent-v:13"});
        CHECK_THAT(r.tampered[0].reason, Catch::Contains("stored as agent-v seq 12 but the event is agent-v seq 13"));
    }
}

TEST_CASE("verify: a deleted event is an unexplained gap", "[verify]") {
    Fixture f;
    f.sql("DELETE FROM events" + f.where(30));
    f.sql("DELETE FROM events" + f.where(31));
    auto r = f.run();
    INFO(describe(r));
    CHECK(r.status() == Status::gaps);
    CHECK(r.tampered.empty());
    REQUIRE(r.gaps.size() == 1);
    CHECK(r.gaps[0].first == 30);
    CHECK(r.gaps[0].last == 31);
    CHECK_FALSE(r.gaps[0].explained);
    CHECK_FALSE(r.gaps[0].tail);
    CHECK(r.events == 48);
}

TEST_CASE("verify: a gap an events-lost event explains is ok, and listed", "[verify]") {
    Fixture f(/*with_lost=*/true);
    auto r = f.run();
    INFO(describe(r));
    CHECK(r.status() == Status::ok);
    REQUIRE(r.gaps.size() == 1);
    CHECK(r.gaps[0].first == 33);
    CHECK(r.gaps[0].last == 35);
    CHECK(r.gaps[0].explained);
    CHECK(r.gaps[0].explained_by == std::vector<std::string>{"agent-v:40"});
    // One more missing next to it is not covered: unexplained.
    f.sql("DELETE FROM events" + f.where(36));
    r = f.run();
    INFO(describe(r));
    CHECK(r.status() == Status::gaps);
    REQUIRE(r.gaps.size() == 1);
    CHECK(r.gaps[0].first == 33);
    CHECK(r.gaps[0].last == 36);
    CHECK_FALSE(r.gaps[0].explained);
}

TEST_CASE("verify: a dropped tail is found through the last signed checkpoint", "[verify]") {
    Fixture f;
    f.sql("DELETE FROM events WHERE agent_id = 'agent-v' AND sequence > 45");
    auto r = f.run();
    INFO(describe(r));
    CHECK(r.status() == Status::gaps);
    CHECK(r.last_sequence == 45);
    REQUIRE(r.gaps.size() == 1);
    CHECK(r.gaps[0].first == 46);
    CHECK(r.gaps[0].last == 50);
    CHECK(r.gaps[0].tail);
    CHECK(r.gaps[0].checkpoint_sequence == 50);
    CHECK_FALSE(r.gaps[0].explained);
}

TEST_CASE("verify: a checkpoint signed with another key is tampered", "[verify]") {
    Fixture f;
    auto other = chain::SigningKey::generate();
    REQUIRE(other);
    store::Checkpoint forged{"agent-v", 25, f.c.rows[24].hash, f.c.rows[24].time_ns, {}};
    forged.signature = other->sign(chain::checkpoint_message("agent-v", 25, forged.head, forged.time_ns));
    REQUIRE(f.s->ingest({}, std::vector<store::Checkpoint>{forged}));
    auto r = f.run();
    INFO(describe(r));
    CHECK(r.status() == Status::tampered);
    REQUIRE(r.tampered.size() == 1);
    CHECK(r.tampered[0].reason == "checkpoint at seq 25: bad signature");
    CHECK(r.checkpoints == 6);
    CHECK(r.checkpoints_valid == 5);
    // A forged checkpoint far past the end does not claim a missing tail.
    CHECK(r.gaps.empty());
}

TEST_CASE("verify: events removed by retention are no gap", "[verify]") {
    auto url = fresh_store_url();
    auto s = open_test_store(url);
    int64_t day = 86400 * kSec, now = now_ns();
    TestChain c("agent-old", "oldhost");
    for (int i = 0; i < 10; ++i) c.add({.time_ns = now - 5 * day + i * kSec});
    c.checkpoint();
    for (int i = 0; i < 10; ++i) c.add({.time_ns = now - 3600 * kSec + i * kSec});
    c.checkpoint();
    REQUIRE(s->register_agent(c.info()));
    REQUIRE(s->ingest(c.rows, c.checkpoints));
    auto removed = s->apply_retention(now - 2 * day);
    REQUIRE(removed);
    CHECK(*removed == 10);
    auto report = verify::verify_store(*s);
    REQUIRE(report);
    REQUIRE(report->agents.size() == 1);
    const auto& r = report->agents[0];
    INFO(describe(r));
    CHECK(r.status() == Status::ok);
    CHECK(r.purged_through == 10);
    CHECK(r.first_sequence == 11);
    CHECK(r.gaps.empty());
    // But deleting the first event after it is a gap.
    exec_sql(url, "DELETE FROM events WHERE agent_id = 'agent-old' AND sequence = 11");
    report = verify::verify_store(*s);
    REQUIRE(report);
    INFO(describe(report->agents[0]));
    REQUIRE(report->agents[0].gaps.size() == 1);
    CHECK(report->agents[0].gaps[0].first == 11);
    CHECK(report->agents[0].gaps[0].last == 11);
}

TEST_CASE("verify: several agents, each judged on its own; --host picks one", "[verify]") {
    Fixture f;
    TestChain other("agent-w", "web2");
    for (int i = 1; i <= 5; ++i) other.add({.time_ns = f.t0 + i * kSec});
    other.checkpoint();
    REQUIRE(f.s->register_agent(other.info()));
    REQUIRE(f.s->ingest(other.rows, other.checkpoints));
    f.sql("DELETE FROM events" + f.where(7));
    auto report = verify::verify_store(*f.s);
    REQUIRE(report);
    REQUIRE(report->agents.size() == 2);
    CHECK(report->agents[0].agent_id == "agent-v");
    CHECK(report->agents[0].status() == Status::gaps);
    CHECK(report->agents[1].agent_id == "agent-w");
    CHECK(report->agents[1].status() == Status::ok);
    CHECK(report->status() == Status::gaps);
    for (std::string host : {"web2", "m-web2", "agent-w"}) {
        auto one = verify::verify_store(*f.s, {.host = host});
        REQUIRE(one);
        REQUIRE(one->agents.size() == 1);
        CHECK(one->agents[0].agent_id == "agent-w");
    }
    // Events of an agent nobody registered (its agents row deleted).
    f.sql("DELETE FROM agents WHERE agent_id = 'agent-w'");
    auto one = verify::verify_store(*f.s, {.host = "web2"});
    REQUIRE(one);
    REQUIRE(one->agents.size() == 1);
    CHECK(one->agents[0].status() == Status::tampered);
    CHECK_FALSE(one->agents[0].registered);
}

#ifdef KTRAIL_CLI
TEST_CASE("verify: the ktrail command, for people and for scripts", "[verify][cli]") {
    Fixture f(/*with_lost=*/true);
    auto ok = run_ktrail({"verify", "--store", f.url});
    INFO(ok.out << ok.err);
    CHECK(ok.status == 0);
    CHECK_THAT(ok.out, Catch::Contains("web1 (agent agent-v): ok: 47 events, seq 1..50, 5 signed checkpoints"));
    CHECK_THAT(ok.out, Catch::Contains("gap: seq 33..35 (3 events missing): explained by events-lost agent-v:40"));
    CHECK_THAT(ok.out, Catch::Contains("1 host: 1 ok, 0 with unexplained gaps, 0 tampered"));

    f.sql("UPDATE events SET path = '/nothing/to/see'" + f.where(17));
    f.sql("DELETE FROM events WHERE agent_id = 'agent-v' AND sequence > 47");
    auto bad = run_ktrail({"verify", "--store", f.url});
    INFO(bad.out << bad.err);
    CHECK(bad.status == 1);
    CHECK_THAT(bad.out, Catch::Contains("web1 (agent agent-v): tampered"));
    CHECK_THAT(bad.out, Catch::Contains("tampered: agent-v:17 (seq 17): the stored path column differs from the event"));
    CHECK_THAT(bad.out, Catch::Contains("gap: tail missing: seq 48..50 (3 events), signed checkpoint at 50: not "
                                        "explained by any events-lost event"));

    auto js = run_ktrail({"verify", "--store", f.url, "--json", "--host", "web1"});
    INFO(js.out << js.err);
    CHECK(js.status == 1);
    auto j = nlohmann::json::parse(js.out);
    CHECK(j["agent_id"] == "agent-v");
    CHECK(j["host_name"] == "web1");
    CHECK(j["status"] == "tampered");
    REQUIRE(j["tampered"].size() == 1);
    CHECK(j["tampered"][0]["event_id"] == "agent-v:17");
    REQUIRE(j["gaps"].size() == 2);
    CHECK(j["gaps"][0]["explained"] == true);
    CHECK(j["gaps"][1]["first"] == 48);
    CHECK(j["gaps"][1]["tail"] == true);

    auto usage = run_ktrail({"verify", "--stroe", f.url});
    CHECK(usage.status == 2);
    CHECK_THAT(usage.err, Catch::Contains("unknown flag '--stroe'"));
    auto nohost = run_ktrail({"verify", "--store", f.url, "--host", "nosuch"});
    CHECK(nohost.status == 1);
    CHECK_THAT(nohost.err, Catch::Contains("no agent with host name, host id or agent id 'nosuch'"));
}

TEST_CASE("query: the ktrail command, table and JSON lines", "[verify][cli]") {
    Fixture f;
    auto js = run_ktrail({"query", "--store", f.url, "--since", "2h", "--path", "/srv/data/file1?", "--json"});
    INFO(js.out << js.err);
    CHECK(js.status == 0);
    std::vector<nlohmann::json> lines;
    std::istringstream in(js.out);
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    REQUIRE(lines.size() == 10);  // file10..file19, newest first
    CHECK(lines[0]["event"]["id"] == "agent-v:19");
    CHECK(lines[0]["file"]["path"] == "/srv/data/file19");
    CHECK(lines[0]["host"]["name"] == "web1");
    CHECK(lines[0]["user"]["name"] == "alice");
    CHECK(lines[9]["event"]["id"] == "agent-v:10");

    auto table = run_ktrail({"query", "--store=" + f.url, "--user", "alice", "--limit", "3"});
    INFO(table.out << table.err);
    CHECK(table.status == 0);
    std::istringstream t(table.out);
    std::string header, first;
    std::getline(t, header);
    std::getline(t, first);
    CHECK(header.starts_with("TIME                      HOST  USER   ACTION       OUTCOME  PATH"));
    CHECK_THAT(first, Catch::Contains("web1  alice  opened-file  success  /srv/data/file50"));
    CHECK_THAT(first, Catch::EndsWith("agent-v:50"));
    // Columns line up: every row has the event id where the header has it.
    size_t col = header.find("EVENT ID");
    CHECK(first.find("agent-v:50") == col);
    CHECK_THAT(table.err, Catch::Contains("the newest 3 shown"));

    auto none = run_ktrail({"query", "--store", f.url, "--action", "nothing-like-this"});
    CHECK(none.status == 0);
    CHECK(none.out.empty());
    CHECK_THAT(none.err, Catch::Contains("no events match"));

    for (auto [flag, value, says] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"--since", "10x", "--since: '10x' is neither a duration"},
             {"--outcome", "maybe", "--outcome: 'maybe' is not one of success, failure, unknown"},
             {"--limit", "-1", "--limit: '-1' is not a number"},
             {"--session", "abc", "--session: 'abc' is not a session id"},
             {"--colour", "red", "unknown flag '--colour'"}}) {
        auto bad = run_ktrail({"query", "--store", f.url, flag, value});
        INFO(flag << " " << value << ": " << bad.err);
        CHECK(bad.status == 2);
        CHECK_THAT(bad.err, Catch::Contains(says));
    }
    auto missing = run_ktrail({"query", "--store", f.url, "--host"});
    CHECK(missing.status == 2);
    CHECK_THAT(missing.err, Catch::Contains("--host needs a value"));
    if (!is_pg(f.url)) {
        auto gone = run_ktrail({"query", "--store", "sqlite:/nonexistent/events.db"});
        CHECK(gone.status == 1);
        CHECK_THAT(gone.err, Catch::Contains("no store at /nonexistent/events.db"));
    }
}
#endif

}  // namespace ktrail::store_test
