// Outputs on the spool: each has its own cursor, a forwarder re-delivers what
// its destination did not confirm, and the file output rotates between whole
// lines without losing any.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "forward/forwarder.h"
#include "output/output_spec.h"
#include "spool/spool.h"

namespace fs = std::filesystem;
using namespace ktrail;
using namespace std::chrono_literals;

namespace {

struct TempDir {
    TempDir() {
        char tmpl[] = "/tmp/ktrail-outputs-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string path;
};

std::string event(uint64_t seq) {
    v1::Event ev;
    ev.set_sequence(seq);
    ev.set_id("agent:" + std::to_string(seq));
    ev.set_action("opened-file");
    ev.set_time_ns(1'700'000'000'000'000'000 + static_cast<int64_t>(seq));
    ev.mutable_file()->set_path("/tmp/f" + std::to_string(seq) + std::string(100, 'p'));
    return ev.SerializeAsString();
}

void append(spool::Spool& s, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i <= to; ++i) REQUIRE(s.append_event(i, event(i)).has_value());
    REQUIRE(s.commit().has_value());
}

std::unique_ptr<spool::Spool> open(const std::string& dir, std::vector<std::string> cursors, uint64_t segment = 64 << 10) {
    auto s = spool::Spool::open({dir + "/spool", 1ull << 30, segment, std::move(cursors)});
    REQUIRE(s.has_value());
    return std::move(*s);
}

size_t segments(const std::string& dir) {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir + "/spool")) n += e.path().extension() == ".wal";
    return n;
}

// A destination that fails when told to and confirms only up to a mark the
// test moves, like a syslog receiver that never acknowledges.
class ScriptedDestination : public forward::Destination {
public:
    std::string name() const override { return "scripted"; }
    Result<forward::Delivered> deliver(const forward::Batch& b) override {
        std::lock_guard lock(mu);
        if (fail_next > 0) {
            --fail_next;
            return fail("scripted failure");
        }
        for (const auto& r : b.records)
            if (r.type == spool::Record::Type::event) received.push_back(r.sequence);
        return forward::Delivered{};
    }
    Result<uint64_t> confirmed_through() override {
        std::lock_guard lock(mu);
        if (break_confirmation) {
            break_confirmation = false;
            return fail("connection reset");
        }
        return confirm_mark;
    }
    std::mutex mu;
    int fail_next = 0;
    bool break_confirmation = false;
    uint64_t confirm_mark = UINT64_MAX;
    std::vector<uint64_t> received;
};

forward::ForwarderOptions quick() {
    forward::ForwarderOptions o;
    o.max_events = 100;
    o.linger = 1ms;
    o.backoff_initial = 2ms;
    o.backoff_max = 10ms;
    return o;
}

}  // namespace

TEST_CASE("every output has its own cursor; a segment goes once the slowest is past it", "[outputs]") {
    TempDir d;
    auto s = open(d.path, {d.path + "/a", d.path + "/b"});
    append(*s, 1, 3000);
    size_t before = segments(d.path);
    REQUIRE(before > 3);
    auto hash_at = [&](uint64_t seq) {
        spool::Reader r(*s, 1);
        std::vector<spool::Record> out;
        std::vector<spool::LostRange> lost;
        while (r.read(1000, 1 << 30, out, lost).value() > 0) {}
        for (const auto& rec : out)
            if (rec.sequence == seq) return rec.hash;
        FAIL("no record " << seq);
        return chain::Hash{};
    };
    s->ack(3000, hash_at(3000), 0);
    REQUIRE(s->commit().has_value());
    CHECK(segments(d.path) == before);  // output b has not read anything
    CHECK(s->acked(0) == 3000);
    CHECK(s->acked(1) == 0);
    s->ack(1500, hash_at(1500), 1);
    CHECK(segments(d.path) == before);  // until the writer's commit
    REQUIRE(s->commit().has_value());
    CHECK(segments(d.path) < before);
    CHECK(segments(d.path) > 1);
    s.reset();
    // Reopened: each cursor where it was; b reads from 1501.
    auto again = open(d.path, {d.path + "/a", d.path + "/b"});
    CHECK(again->acked(0) == 3000);
    CHECK(again->acked(1) == 1500);
    spool::Reader rb(*again, 1);
    std::vector<spool::Record> out;
    std::vector<spool::LostRange> lost;
    REQUIRE(rb.read(10, 1 << 30, out, lost).value() == 10);
    CHECK(out.front().sequence == 1501);
}

TEST_CASE("a new output starts at the oldest record kept, with the chain hash unknown", "[outputs]") {
    TempDir d;
    {
        auto s = open(d.path, {d.path + "/a"});
        append(*s, 1, 3000);
        std::vector<spool::Record> out;
        std::vector<spool::LostRange> lost;
        spool::Reader r(*s);
        while (r.read(1000, 1 << 30, out, lost).value() > 0) {}
        s->ack(2000, out[1999].hash);
    }
    auto s = open(d.path, {d.path + "/a", d.path + "/new"});
    uint64_t oldest = s->acked(1) + 1;
    CHECK(oldest > 1);      // segments before the first cursor's ack are gone
    CHECK(oldest <= 2001);  // and nothing the new output could still get is skipped
    CHECK_FALSE(s->acked_hash(1).has_value());
    CHECK(s->acked_hash(0).has_value());
}

TEST_CASE("a second agent on the same spool is refused, naming the fix", "[outputs]") {
    TempDir d;
    auto s = open(d.path, {d.path + "/a"});
    auto second = spool::Spool::open({d.path + "/spool", 1ull << 30, 64 << 10, {d.path + "/a"}});
    REQUIRE_FALSE(second.has_value());
    CHECK_THAT(second.error().message, Catch::Contains("in use by another ktraild (pid " + std::to_string(getpid())));
    CHECK_THAT(second.error().message, Catch::Contains("--state"));
}

TEST_CASE("a forwarder re-delivers what its destination failed or did not confirm", "[outputs]") {
    TempDir d;
    auto s = open(d.path, {d.path + "/a"});
    auto dest = std::make_unique<ScriptedDestination>();
    ScriptedDestination& sd = *dest;
    sd.confirm_mark = 0;  // nothing confirmed yet
    sd.fail_next = 3;
    forward::Forwarder f(*s, 0, std::move(dest), quick());
    f.start();
    append(*s, 1, 1000);
    // Delivered but unconfirmed: the cursor stays.
    for (int i = 0; i < 200; ++i) {
        std::this_thread::sleep_for(5ms);
        std::lock_guard lock(sd.mu);
        if (!sd.received.empty() && sd.received.back() == 1000) break;
    }
    CHECK(s->acked() == 0);
    {
        // The receiver lost its connection: everything after the cursor again.
        std::lock_guard lock(sd.mu);
        sd.confirm_mark = 500;
    }
    REQUIRE_FALSE(f.flush(300ms));
    CHECK(s->acked() == 500);
    {
        std::lock_guard lock(sd.mu);
        sd.break_confirmation = true;
        sd.received.clear();
        sd.confirm_mark = UINT64_MAX;
    }
    append(*s, 1001, 1500);
    REQUIRE(f.flush(5s));
    f.stop(0ms);
    CHECK(s->acked() == 1500);
    std::set<uint64_t> got(sd.received.begin(), sd.received.end());
    // After the broken confirmation, delivery restarts right after 500.
    CHECK(*got.begin() == 501);
    CHECK(got.size() == 1000);
    CHECK(f.stats().retries.load() >= 4);
}

TEST_CASE("the file output rotates between whole lines and loses none under load", "[outputs]") {
    TempDir d;
    std::string path = d.path + "/events.json";
    auto spec = parse_output_spec("file:" + path + "?max-size=64K&keep=1000&fsync=none");
    REQUIRE(spec.has_value());
    auto dest = make_file_destination(*spec, DestinationContext{});
    REQUIRE(dest.has_value());
    auto s = open(d.path, {d.path + "/a"});
    forward::Forwarder f(*s, 0, std::move(*dest), quick());
    f.start();
    // Written while the forwarder rotates; one generation moved away by an
    // external logrotate halfway.
    for (uint64_t i = 1; i <= 20000; i += 500) {
        append(*s, i, i + 499);
        if (i == 10001) {
            REQUIRE(f.flush(5s));
            fs::rename(path, d.path + "/logrotated.json");
        }
    }
    REQUIRE(f.flush(10s));
    f.stop(0ms);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(d.path))
        if (e.path().filename().string().find(".json") != std::string::npos) files.push_back(e.path());
    CHECK(files.size() > 20);
    std::multiset<uint64_t> seen;
    for (const auto& p : files) {
        if (p.filename() != "logrotated.json") CHECK(fs::file_size(p) <= 64 * 1024);
        std::ifstream in(p);
        std::string line;
        uint64_t last = 0;
        while (std::getline(in, line)) {
            auto j = nlohmann::json::parse(line, nullptr, false);
            REQUIRE_FALSE(j.is_discarded());  // no line split across files
            uint64_t seq = j["event"]["sequence"].get<uint64_t>();
            CHECK(seq > last);  // in order within a file
            last = seq;
            seen.insert(seq);
        }
    }
    CHECK(seen.size() == 20000);
    CHECK(std::set<uint64_t>(seen.begin(), seen.end()).size() == 20000);
    CHECK(*seen.begin() == 1);
    CHECK(*seen.rbegin() == 20000);
}

TEST_CASE("output specs: clear errors for what cannot work", "[outputs]") {
    auto err = [](const std::string& text) {
        auto spec = parse_output_spec(text);
        if (!spec) return spec.error().message;
        auto d = make_file_destination(*spec, DestinationContext{});
        return d ? std::string("accepted") : d.error().message;
    };
    CHECK(err("pigeon://x") == "--output pigeon://x: unknown scheme 'pigeon://'; use syslog+tcp://, syslog+tls:// or kafka://");
    CHECK(err("file:") == "--output file: needs a path, e.g. file:/var/log/ktrail/events.json");
    CHECK(err("file:/tmp/x?colour=red") ==
          "--output file:/tmp/x?colour=red: unknown parameter 'colour'; a file takes format=, max-size=, keep=, fsync=");
    CHECK(err("file:/tmp/x?keep=0") == "--output file:/tmp/x?keep=0: keep takes a number of old files from 1 to 1000, not '0'");
    CHECK(err("file:/tmp/x?max-size=lots") == "--output file:/tmp/x?max-size=lots: max-size takes a size like 512M or 2G, not 'lots'");
    CHECK(err("file:/tmp/x?format=xml") == "--output file:/tmp/x?format=xml: unknown event format 'xml': use json, ocsf or cef");
    CHECK(err("file:/tmp/x?keep=2&keep=3") == "--output file:/tmp/x?keep=2&keep=3: 'keep' is given twice");
    CHECK(err("stdout?fsync=none") == "--output stdout?fsync=none: stdout takes only format=");
    CHECK(err("file:/nonexistent-dir/x") == "cannot open output file /nonexistent-dir/x: No such file or directory");
}
