// Collector ingest over a real SQLite store: what is accepted, what is
// refused (with which gRPC code), and that a refused batch stores nothing.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>

#include "../fuzz/batch_maker.h"
#include "forward/batch_codec.h"
#include "ingest.h"
#include "store/store.h"

using namespace ktrail;
using collector::Code;
using collector::Ingestor;
using testing::FakeAgent;
using testing::make_agent;

namespace {

struct Fixture {
    Fixture() {
        char tmpl[] = "/tmp/ktrail-ingest-XXXXXX";
        REQUIRE(mkdtemp(tmpl));
        dir = tmpl;
        auto s = store::open_store("sqlite:" + dir + "/store.db");
        REQUIRE(s);
        store = std::move(*s);
        ingestor = std::make_unique<Ingestor>(*store);
    }
    ~Fixture() {
        ingestor.reset();
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    collector::IngestOutcome submit(const v1::Batch& b, const std::string& peer) {
        auto z = forward::compress(b);
        REQUIRE(z);
        return ingestor->submit(*z, peer);
    }
    size_t stored(const std::string& agent_id) {
        auto h = store->hashes(agent_id, 1, 1'000'000);
        REQUIRE(h);
        return h->size();
    }
    std::string dir;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<Ingestor> ingestor;
};

void require_refused(const collector::IngestOutcome& out, Code code) {
    REQUIRE_FALSE(out.has_value());
    INFO(out.error().message);
    CHECK(collector::code_name(out.error().code) == std::string(collector::code_name(code)));
}

std::string event_hash_bytes(const std::string& prev, const std::string& raw) {
    chain::Hash p;
    REQUIRE(chain::from_bytes(prev, p));
    return std::string(chain::as_bytes(chain::next(p, raw)));
}

}  // namespace

TEST_CASE("codec: a batch survives compress and decompress", "[collector][codec]") {
    FakeAgent a = make_agent();
    v1::Batch b = a.next_batch(50);
    auto z = forward::compress(b);
    REQUIRE(z);
    CHECK(z->raw_size() == b.ByteSizeLong());
    CHECK(z->zstd().size() < z->raw_size() / 3);  // realistic events compress well
    auto back = forward::decompress(*z);
    REQUIRE(back);
    CHECK(back->SerializeAsString() == b.SerializeAsString());
}

TEST_CASE("codec: refuses oversized, mismatched and garbage input", "[collector][codec]") {
    FakeAgent a = make_agent();
    auto z = *forward::compress(a.next_batch(10));

    auto big = z;
    big.set_raw_size(forward::kMaxRawBatch + 1);
    auto r = forward::decompress(big);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("over the limit"));

    auto small = z;
    small.set_raw_size(z.raw_size() - 1);
    r = forward::decompress(small);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("does not match"));

    v1::CompressedBatch junk;
    junk.set_zstd("this is not zstd");
    junk.set_raw_size(16);
    r = forward::decompress(junk);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("zstd"));

    // Valid zstd whose content is not a Batch.
    v1::Batch fake;
    fake.set_agent_id(std::string(100, '\xff'));  // field 1 as bytes: invalid UTF-8 for a string
    auto zf = *forward::compress(fake);
    r = forward::decompress(zf);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("not a ktrail.v1.Batch"));
}

TEST_CASE("ingest: a good batch is stored and acked; a retry is all duplicates", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    v1::Batch b = a.next_batch(100);
    auto out = f.submit(b, "web-1");
    REQUIRE(out);
    CHECK(out->committed_through() == 100);
    CHECK(out->inserted() == 100);
    CHECK(out->duplicates() == 0);
    CHECK(f.stored(a.agent_id) == 100);

    // The stored rows are the exact bytes and hashes of the chain.
    std::vector<store::Row> rows;
    REQUIRE(f.store->scan(a.agent_id, [&](const store::Row& r) { rows.push_back(r); }));
    REQUIRE(rows.size() == 100);
    chain::Hash h = chain::kGenesis;
    for (size_t i = 0; i < rows.size(); ++i) {
        CHECK(rows[i].sequence == i + 1);
        CHECK(rows[i].raw == b.events(static_cast<int>(i)));
        h = chain::next(h, rows[i].raw);
        CHECK(rows[i].hash == h);
    }
    CHECK(rows.back().hash == a.head);
    CHECK(rows[0].host_name == "web-1");
    CHECK(rows[0].user_name == "alice");
    auto cps = f.store->checkpoints(a.agent_id);
    REQUIRE(cps);
    REQUIRE(cps->size() == 1);
    CHECK((*cps)[0].sequence == 100);
    CHECK((*cps)[0].head == a.head);
    auto agent = f.store->agent(a.agent_id);
    REQUIRE(agent);
    REQUIRE(agent->has_value());
    CHECK((*agent)->public_key == a.key.public_key());

    auto again = f.submit(b, "web-1");
    REQUIRE(again);
    CHECK(again->committed_through() == 100);
    CHECK(again->inserted() == 0);
    CHECK(again->duplicates() == 100);
    CHECK(f.stored(a.agent_id) == 100);

    // The next batch links to the stored chain.
    auto next = f.submit(a.next_batch(50), "web-1");
    REQUIRE(next);
    CHECK(next->committed_through() == 150);
    CHECK(next->inserted() == 50);
    CHECK(f.stored(a.agent_id) == 150);
}

TEST_CASE("ingest: a batch overlapping stored events stores only the new ones", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    FakeAgent copy = a;
    v1::Batch first = a.next_batch(10, false);
    REQUIRE(f.submit(first, "web-1"));
    // 1..20 from the start: 10 duplicates, 10 new.
    v1::Batch all = copy.next_batch(20);
    auto out = f.submit(all, "web-1");
    REQUIRE(out);
    CHECK(out->committed_through() == 20);
    CHECK(out->inserted() == 10);
    CHECK(out->duplicates() == 10);
    CHECK(f.stored(a.agent_id) == 20);
}

TEST_CASE("ingest: same sequences with other content are a conflicting replay", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    FakeAgent other = a;  // same agent, same key: a forked chain
    REQUIRE(f.submit(a.next_batch(10), "web-1"));

    v1::Batch forked = other.next_batch(20, true, /*variant=*/1);
    auto out = f.submit(forked, "web-1");
    require_refused(out, Code::already_exists);
    CHECK_THAT(out.error().message, Catch::Contains("conflicting replay"));
    CHECK_THAT(out.error().message, Catch::Contains(a.agent_id));
    CHECK_THAT(out.error().message, Catch::Contains("web-1"));
    CHECK(f.stored(a.agent_id) == 10);  // not even the 10 new ones
}

TEST_CASE("ingest: a batch for another host than the certificate's is refused", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent("db-2");
    auto out = f.submit(a.next_batch(10), "web-1");
    require_refused(out, Code::permission_denied);
    CHECK_THAT(out.error().message, Catch::Contains("db-2"));
    CHECK_THAT(out.error().message, Catch::Contains("web-1"));
    CHECK(f.stored(a.agent_id) == 0);
    auto agent = f.store->agent(a.agent_id);
    REQUIRE(agent);
    CHECK_FALSE(agent->has_value());  // not even registered

    // Names the peer chose cannot forge log lines.
    FakeAgent forger = make_agent("db-2\n[info] all is well");
    auto forged = f.submit(forger.next_batch(1), "web-1");
    require_refused(forged, Code::permission_denied);
    CHECK(forged.error().message.find('\n') == std::string::npos);
    CHECK_THAT(forged.error().message, Catch::Contains("db-2\\x0a[info]"));
}

TEST_CASE("ingest: another host's event inside a batch is refused", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    v1::Batch b = a.header(1);
    chain::Hash h = chain::kGenesis;
    for (uint64_t s = 1; s <= 5; ++s) {
        v1::Event e = a.event(s);
        if (s == 3) e.mutable_host()->set_name("db-2");
        std::string raw = e.SerializeAsString();
        h = chain::next(h, raw);
        b.add_events(raw);
    }
    auto out = f.submit(b, "web-1");
    require_refused(out, Code::permission_denied);
    CHECK_THAT(out.error().message, Catch::Contains("event 3"));
    CHECK_THAT(out.error().message, Catch::Contains("db-2"));
    CHECK(f.stored(a.agent_id) == 0);
}

TEST_CASE("ingest: events out of sequence or of another agent are refused", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    SECTION("a skipped sequence") {
        v1::Batch b = a.header(1);
        b.add_events(a.event(1).SerializeAsString());
        b.add_events(a.event(3).SerializeAsString());
        auto out = f.submit(b, "web-1");
        require_refused(out, Code::invalid_argument);
        CHECK_THAT(out.error().message, Catch::Contains("expected 2"));
    }
    SECTION("another agent's id") {
        v1::Batch b = a.header(1);
        v1::Event e = a.event(1);
        e.mutable_agent()->set_id("someone-else");
        b.add_events(e.SerializeAsString());
        require_refused(f.submit(b, "web-1"), Code::invalid_argument);
    }
    SECTION("bytes that are not an event") {
        v1::Batch b = a.header(1);
        b.add_events("\xff\xff\xff garbage");
        require_refused(f.submit(b, "web-1"), Code::invalid_argument);
    }
    CHECK(f.stored(a.agent_id) == 0);
}

TEST_CASE("ingest: a batch that does not link to the stored chain is a chain break", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    REQUIRE(f.submit(a.next_batch(10), "web-1"));
    SECTION("wrong prev_hash") {
        v1::Batch b = a.next_batch(10);
        b.set_prev_hash(std::string(32, '\x42'));
        auto out = f.submit(b, "web-1");
        require_refused(out, Code::failed_precondition);
        CHECK_THAT(out.error().message, Catch::Contains("chain break"));
        CHECK_THAT(out.error().message, Catch::Contains("sequences 11-20"));
        CHECK(f.stored(a.agent_id) == 10);
    }
    SECTION("a chain that claims to start over at 1 with a non-genesis prev_hash") {
        FakeAgent b = make_agent("web-1", "another-agent");
        v1::Batch batch = b.next_batch(5);
        batch.set_prev_hash(std::string(32, '\x01'));
        require_refused(f.submit(batch, "web-1"), Code::failed_precondition);
    }
}

TEST_CASE("ingest: checkpoints must be signed by the agent's key and match the chain", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    SECTION("signed with another key") {
        auto stranger = chain::SigningKey::generate();
        REQUIRE(stranger);
        v1::Batch b = a.next_batch(10, false);
        a.add_checkpoint(b, 10, a.head, 1764144000000000000, &*stranger);
        auto out = f.submit(b, "web-1");
        require_refused(out, Code::permission_denied);
        CHECK_THAT(out.error().message, Catch::Contains("signature"));
        CHECK(f.stored(a.agent_id) == 0);
    }
    SECTION("a signed head that is not the chain's") {
        v1::Batch b = a.next_batch(10, false);
        chain::Hash wrong{};
        wrong[0] = 1;
        a.add_checkpoint(b, 5, wrong);
        require_refused(f.submit(b, "web-1"), Code::invalid_argument);
        CHECK(f.stored(a.agent_id) == 0);
    }
    SECTION("a checkpoint past the batch") {
        v1::Batch b = a.next_batch(10, false);
        a.add_checkpoint(b, 11, a.head);
        require_refused(f.submit(b, "web-1"), Code::invalid_argument);
    }
}

TEST_CASE("ingest: a known agent presenting another key is refused", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    REQUIRE(f.submit(a.next_batch(10), "web-1"));
    FakeAgent impostor = a;
    impostor.key = *chain::SigningKey::generate();
    auto out = f.submit(impostor.next_batch(10), "web-1");
    require_refused(out, Code::permission_denied);
    CHECK_THAT(out.error().message, Catch::Contains("different public key"));
    CHECK(f.stored(a.agent_id) == 10);

    // Without checkpoints too: the key is the agent's identity.
    FakeAgent quiet = a;
    quiet.key = *chain::SigningKey::generate();
    require_refused(f.submit(quiet.next_batch(10, false), "web-1"), Code::permission_denied);

    // And a known agent id from another host's certificate.
    FakeAgent moved = a;
    moved.host_name = "db-2";
    require_refused(f.submit(moved.next_batch(10, false), "db-2"), Code::permission_denied);
    CHECK(f.stored(a.agent_id) == 10);
}

TEST_CASE("ingest: garbage and oversized batches are invalid arguments", "[collector][ingest]") {
    Fixture f;
    v1::CompressedBatch junk;
    junk.set_zstd("\x28\xb5\x2f\xfd garbage");
    junk.set_raw_size(100);
    require_refused(f.ingestor->submit(junk, "web-1"), Code::invalid_argument);

    FakeAgent a = make_agent();
    auto z = *forward::compress(a.next_batch(10));
    z.set_raw_size(uint64_t{1} << 40);
    auto out = f.ingestor->submit(z, "web-1");
    require_refused(out, Code::invalid_argument);
    CHECK_THAT(out.error().message, Catch::Contains("over the limit"));

    v1::CompressedBatch empty;
    require_refused(f.ingestor->submit(empty, "web-1"), Code::invalid_argument);
    CHECK(f.stored(a.agent_id) == 0);
}

TEST_CASE("ingest: a checkpoint-only batch is checked against the stored chain", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    REQUIRE(f.submit(a.next_batch(10, false), "web-1"));
    SECTION("the right head") {
        v1::Batch b = a.header(11);
        a.add_checkpoint(b, 10, a.head);
        auto out = f.submit(b, "web-1");
        REQUIRE(out);
        CHECK(out->committed_through() == 10);
        CHECK(out->inserted() == 0);
        auto cps = f.store->checkpoints(a.agent_id);
        REQUIRE(cps);
        CHECK(cps->size() == 1);
    }
    SECTION("a head that is not the stored chain's") {
        chain::Hash wrong{};
        wrong[31] = 7;
        v1::Batch b = a.header(11);
        b.set_prev_hash(std::string(chain::as_bytes(wrong)));
        a.add_checkpoint(b, 10, wrong);
        require_refused(f.submit(b, "web-1"), Code::failed_precondition);
    }
    SECTION("an older checkpoint against a stored event") {
        chain::Hash wrong{};
        wrong[0] = 9;
        v1::Batch b = a.header(11);
        a.add_checkpoint(b, 4, wrong);
        require_refused(f.submit(b, "web-1"), Code::failed_precondition);
    }
}

TEST_CASE("ingest: after events lost on the agent, first_hash anchors the chain", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    REQUIRE(f.submit(a.next_batch(10), "web-1"));
    a.next_batch(5);  // 11..15: lost from a damaged spool segment, never sent
    chain::Hash before = a.head;
    v1::Batch b = a.next_batch(5);  // 16..20
    b.clear_prev_hash();
    b.set_first_hash(event_hash_bytes(std::string(chain::as_bytes(before)), b.events(0)));
    auto out = f.submit(b, "web-1");
    REQUIRE(out);
    CHECK(out->committed_through() == 20);
    CHECK(out->inserted() == 5);
    CHECK(f.stored(a.agent_id) == 15);

    SECTION("a first_hash that is not the event's") {
        v1::Batch c = a.next_batch(5);
        c.clear_prev_hash();
        c.set_first_hash(std::string(32, '\x05'));
        v1::Batch d = c;
        // 21 follows the stored 20: the anchor must agree with the stored chain.
        require_refused(f.submit(d, "web-1"), Code::failed_precondition);
    }
    SECTION("neither prev_hash nor first_hash") {
        v1::Batch c = a.next_batch(5);
        c.clear_prev_hash();
        require_refused(f.submit(c, "web-1"), Code::invalid_argument);
    }
}

TEST_CASE("ingest: a big batch (parsed in two halves) reports its first bad event", "[collector][ingest]") {
    Fixture f;
    FakeAgent a = make_agent();
    auto build = [&](std::initializer_list<uint64_t> foreign) {
        v1::Batch b = a.header(1);
        for (uint64_t s = 1; s <= 600; ++s) {
            v1::Event e = a.event(s);
            for (uint64_t x : foreign)
                if (s == x) e.mutable_host()->set_name("db-2");
            b.add_events(e.SerializeAsString());
        }
        return b;
    };
    auto out = f.submit(build({500}), "web-1");
    require_refused(out, Code::permission_denied);
    CHECK_THAT(out.error().message, Catch::Contains("event 500"));
    out = f.submit(build({10, 500}), "web-1");
    require_refused(out, Code::permission_denied);
    CHECK_THAT(out.error().message, Catch::Contains("event 10 "));
    CHECK(f.stored(a.agent_id) == 0);

    auto ok = f.submit(build({}), "web-1");
    REQUIRE(ok);
    CHECK(ok->inserted() == 600);
    std::vector<store::Row> rows;
    REQUIRE(f.store->scan(a.agent_id, [&](const store::Row& r) { rows.push_back(r); }));
    REQUIRE(rows.size() == 600);
    chain::Hash h = chain::kGenesis;
    for (const auto& r : rows) h = chain::next(h, r.raw);
    CHECK(rows.back().hash == h);
}
