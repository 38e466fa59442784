// The spool as the agent and the forwarder use it: what is committed can be
// read back in order with its chain, survives a restart, and damage (a torn
// tail, flipped bytes) costs only the damaged records, which are reported.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "spool/spool.h"

namespace fs = std::filesystem;
using namespace ktrail;

namespace {

struct TempSpoolDir {
    TempSpoolDir() {
        char tmpl[] = "/tmp/ktrail-spool-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempSpoolDir() { fs::remove_all(path); }
    std::string path;
};

std::string event_bytes(uint64_t seq) { return "event " + std::to_string(seq) + std::string(200, 'x'); }

std::unique_ptr<spool::Spool> open_spool(const std::string& dir, spool::Recovery* r = nullptr,
                                         uint64_t segment = 16u << 20, uint64_t max = 1ull << 30) {
    auto s = spool::Spool::open({dir, max, segment}, r);
    REQUIRE(s.has_value());
    return std::move(*s);
}

void append(spool::Spool& s, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i <= to; ++i) REQUIRE(s.append_event(i, event_bytes(i)).has_value());
}

std::vector<spool::Record> read_all(spool::Spool& s, std::vector<spool::LostRange>* damaged = nullptr,
                                    spool::Reader* reader = nullptr) {
    std::unique_ptr<spool::Reader> own;
    if (!reader) {
        own = std::make_unique<spool::Reader>(s);
        reader = own.get();
    }
    std::vector<spool::Record> out;
    std::vector<spool::LostRange> lost;
    while (true) {
        auto n = reader->read(1000, 1u << 20, out, lost);
        REQUIRE(n.has_value());
        if (*n == 0) break;
    }
    if (damaged) *damaged = lost;
    return out;
}

std::vector<std::string> segments(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".wal") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("CRC32C is the Castagnoli checksum", "[spool]") {
    CHECK(spool::crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(spool::crc32c(0, "", 0) == 0u);
}

TEST_CASE("committed events read back in order with their chain hashes", "[spool]") {
    TempSpoolDir dir;
    auto s = open_spool(dir.path);
    append(*s, 1, 500);
    {
        spool::Reader reader(*s);
        std::vector<spool::Record> out;
        std::vector<spool::LostRange> lost;
        REQUIRE(reader.read(1000, 1u << 20, out, lost).value() == 0);  // nothing durable yet
    }
    REQUIRE(s->commit().has_value());
    CHECK(s->durable_sequence() == 500);
    auto recs = read_all(*s);
    REQUIRE(recs.size() == 500);
    chain::Hash h = chain::kGenesis;
    for (uint64_t i = 0; i < recs.size(); ++i) {
        CHECK(recs[i].sequence == i + 1);
        CHECK(recs[i].bytes == event_bytes(i + 1));
        h = chain::next(h, recs[i].bytes);
        CHECK(recs[i].hash == h);
    }
    CHECK(s->head() == h);
}

TEST_CASE("a restart continues the sequence and the chain", "[spool]") {
    TempSpoolDir dir;
    chain::Hash head;
    {
        auto s = open_spool(dir.path, nullptr, 64 * 1024);
        append(*s, 1, 1000);
        REQUIRE(s->append_checkpoint(1000, s->head(), 42, std::string(64, 's')).has_value());
        REQUIRE(s->commit().has_value());
        head = s->head();
    }
    spool::Recovery r;
    auto s = open_spool(dir.path, &r, 64 * 1024);
    CHECK(r.last_sequence == 1000);
    CHECK(r.head == head);
    CHECK(r.damaged_bytes == 0);
    append(*s, 1001, 1010);
    REQUIRE(s->commit().has_value());
    auto recs = read_all(*s);
    REQUIRE(recs.size() == 1011);  // 1010 events and the checkpoint
    CHECK(recs[1000].type == spool::Record::Type::checkpoint);
    CHECK(recs[1000].hash == head);
    CHECK(recs[1000].time_ns == 42);
    CHECK(recs.back().sequence == 1010);
    chain::Hash h = head;
    for (uint64_t i = 1001; i <= 1010; ++i) h = chain::next(h, event_bytes(i));
    CHECK(recs.back().hash == h);
}

TEST_CASE("acks delete whole segments and survive a restart", "[spool]") {
    TempSpoolDir dir;
    chain::Hash at600;
    {
        auto s = open_spool(dir.path, nullptr, 64 * 1024);
        append(*s, 1, 1000);
        REQUIRE(s->commit().has_value());
        auto before = segments(dir.path).size();
        REQUIRE(before > 3);
        uint64_t bytes = s->bytes();
        auto recs = read_all(*s);
        at600 = recs[599].hash;
        s->ack(600, at600);
        CHECK(segments(dir.path).size() == before);  // the writer persists acks and deletes
        REQUIRE(s->commit().has_value());
        CHECK(segments(dir.path).size() < before);
        CHECK(s->bytes() < bytes);
        // What is left still holds everything after the ack.
        spool::Reader reader(*s);
        auto rest = read_all(*s, nullptr, &reader);
        REQUIRE(!rest.empty());
        CHECK(rest.front().sequence == 601);
        CHECK(rest.back().sequence == 1000);
    }
    spool::Recovery r;
    auto s = open_spool(dir.path, &r, 64 * 1024);
    CHECK(r.acked == 600);
    CHECK(s->acked_hash() == at600);
    CHECK(r.last_sequence == 1000);
    auto rest = read_all(*s);
    REQUIRE(rest.size() == 400);
    CHECK(rest.front().sequence == 601);
    // Everything acked: the chain still continues after a restart with no events left.
    s->ack(1000, rest.back().hash);
    auto head = s->head();
    s.reset();
    for (const auto& seg : segments(dir.path)) fs::remove(seg);
    auto again = open_spool(dir.path, &r, 64 * 1024);
    CHECK(r.last_sequence == 1000);
    CHECK(again->head() == head);
}

TEST_CASE("a torn tail is cut at the last whole record", "[spool]") {
    TempSpoolDir dir;
    {
        auto s = open_spool(dir.path);
        append(*s, 1, 100);
        REQUIRE(s->commit().has_value());
    }
    auto segs = segments(dir.path);
    REQUIRE(segs.size() == 1);
    auto size = fs::file_size(segs[0]);
    fs::resize_file(segs[0], size - 100);  // half of record 100 is gone
    spool::Recovery r;
    auto s = open_spool(dir.path, &r);
    CHECK(r.last_sequence == 99);
    CHECK(r.damaged_bytes > 0);
    CHECK(r.damaged_records == 1);
    auto recs = read_all(*s);
    REQUIRE(recs.size() == 99);
    CHECK(recs.back().bytes == event_bytes(99));
    // New events continue the chain from the last whole record.
    append(*s, 100, 100);
    REQUIRE(s->commit().has_value());
    CHECK(read_all(*s).back().hash == chain::next(recs.back().hash, event_bytes(100)));
}

TEST_CASE("flipped bytes cost only the damaged records, reported as a sequence range", "[spool]") {
    TempSpoolDir dir;
    {
        auto s = open_spool(dir.path, nullptr, 64 * 1024);
        append(*s, 1, 1000);
        REQUIRE(s->commit().has_value());
    }
    auto segs = segments(dir.path);
    REQUIRE(segs.size() > 2);
    // Flip bytes in the middle of the first segment: inside some record's payload.
    {
        int fd = open(segs[0].c_str(), O_RDWR);
        REQUIRE(fd >= 0);
        char junk[3] = {'\x5a', '\x5a', '\x5a'};
        REQUIRE(pwrite(fd, junk, sizeof(junk), 20000) == 3);
        close(fd);
    }
    spool::Recovery r;
    auto s = open_spool(dir.path, &r, 64 * 1024);
    CHECK(r.last_sequence == 1000);
    spool::Reader reader(*s);
    std::vector<spool::LostRange> lost;
    auto recs = read_all(*s, &lost, &reader);
    REQUIRE(lost.size() == 1);
    CHECK(lost[0].first == lost[0].last);  // one record held those bytes
    CHECK(recs.size() == 999);
    CHECK(reader.damaged_records() >= 1);
    CHECK(reader.damaged_bytes() > 0);
    for (const auto& rec : recs) CHECK((rec.sequence < lost[0].first || rec.sequence > lost[0].last));
    CHECK(recs.back().sequence == 1000);
}

TEST_CASE("the cap leaves room only for the loss report", "[spool]") {
    TempSpoolDir dir;
    auto s = open_spool(dir.path, nullptr, 64 * 1024, 512 * 1024);
    uint64_t seq = 0;
    while (s->has_room(event_bytes(seq + 1).size())) {
        ++seq;
        REQUIRE(s->append_event(seq, event_bytes(seq)).has_value());
    }
    CHECK(seq > 1000);
    CHECK(s->bytes() <= 512 * 1024);
    CHECK(s->has_room(200, true));  // the events-lost event still fits
    REQUIRE(s->commit().has_value());
    // Acking frees whole segments: room again.
    auto recs = read_all(*s);
    s->ack(recs[recs.size() / 2].sequence, recs[recs.size() / 2].hash);
    REQUIRE(s->commit().has_value());
    CHECK(s->has_room(event_bytes(seq + 1).size()));
}

TEST_CASE("a wiped spool directory continues the chain from the cursor kept beside it", "[spool]") {
    TempSpoolDir state;
    std::string dir = state.path + "/spool", cursor = state.path + "/spool-acked";
    chain::Hash head;
    {
        auto s = spool::Spool::open({dir, 1ull << 30, 64 * 1024, {cursor}});
        REQUIRE(s.has_value());
        append(**s, 1, 300);
        REQUIRE((*s)->commit().has_value());
        auto recs = read_all(**s);
        head = recs.back().hash;
        (*s)->ack(300, head);
    }
    fs::remove_all(dir);  // an admin freeing space
    spool::Recovery r;
    auto s = spool::Spool::open({dir, 1ull << 30, 64 * 1024, {cursor}}, &r);
    REQUIRE(s.has_value());
    CHECK(r.acked == 300);
    CHECK(r.last_sequence == 300);
    CHECK((*s)->head() == head);
    append(**s, 301, 301);
    REQUIRE((*s)->commit().has_value());
    auto recs = read_all(**s);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].sequence == 301);
    CHECK(recs[0].hash == chain::next(head, event_bytes(301)));
}
