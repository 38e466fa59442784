// The SIEM outputs as a user runs them: one real ktraild under load feeding
// its JSON file, a size-rotated file, Kafka (librdkafka's mock cluster, down
// for a while mid-stream) and rsyslog (plain and TLS, restarted mid-stream),
// each through its own spool cursor. Every output must hold every event the
// agent wrote; a restart continues the sequence and re-sends nothing already
// delivered.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "kafka_mock.h"
#include "ktraild_harness.h"
#include "rsyslog_server.h"

namespace fs = std::filesystem;
using namespace ktrail::e2e;
using namespace std::chrono_literals;

namespace {

// Sequences of a set of JSON-lines files; a line that is not JSON fails.
std::multiset<uint64_t> sequences_in(const std::vector<std::string>& files) {
    std::multiset<uint64_t> out;
    for (const auto& f : files)
        for (const auto& e : read_events(f)) out.insert(e["event"]["sequence"].get<uint64_t>());
    return out;
}

void create_files(const std::string& dir, int from, int to) {
    for (int i = from; i < to; ++i) {
        int fd = open((dir + "/f" + std::to_string(i)).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        close(fd);
        if (i % 100 == 0) std::this_thread::sleep_for(5ms);  // a steady stream, not one burst
    }
}

// The events rsyslog received (their MSG is the event's JSON after a BOM).
std::multiset<uint64_t> sequences_in(const ktrail::test::RsyslogServer& rs, const std::string& host) {
    std::multiset<uint64_t> out;
    for (const auto& line : rs.lines()) {
        auto fields = json::parse(line);
        CHECK(fields["hostname"] == host);
        CHECK(fields["app"] == "ktrail");
        std::string msg = fields["msg"];
        if (msg.starts_with("\xEF\xBB\xBF")) msg.erase(0, 3);
        auto e = json::parse(msg, nullptr, false);
        REQUIRE_FALSE(e.is_discarded());
        CHECK(fields["msgid"] == e["event"]["action"]);
        out.insert(e["event"]["sequence"].get<uint64_t>());
    }
    return out;
}

std::set<uint64_t> distinct(const std::multiset<uint64_t>& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("every output gets every event: rotated file, Kafka through an outage, rsyslog restarted",
          "[outputs]") {
    TempDir dir;
    fs::create_directories(dir / "load");
    fs::create_directories(dir / "rotated");
    ktrail::test::MockCluster kafka(3);
    kafka.create_topic("audit", 3);
    std::string certs = dir / "tls";
    std::string cmd = "/bin/bash '" KTRAIL_SCRIPTS "/dev-certs.sh' '" + certs + "' x >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    ktrail::test::RsyslogServer plain;
    ktrail::test::RsyslogServer tls(
        {.tls = true, .ca = certs + "/ca.crt", .cert = certs + "/collector.crt", .key = certs + "/collector.key"});
    std::string rotated = dir / "rotated/events.json";
    Agent a = start_agent(
        dir, {"--no-default-rules", "--no-audit", "--watch", dir / "load", "--output",
              "file:" + rotated + "?max-size=256K&keep=1000", "--output",
              "kafka://" + kafka.bootstraps() + "/audit?timeout-ms=5000", "--output",
              "syslog+tcp://127.0.0.1:" + std::to_string(plain.port()) + "?confirm-after=300", "--output",
              "syslog+tls://localhost:" + std::to_string(tls.port()) + "?confirm-after=300&ca=" + certs + "/ca.crt"});
    wait_started(a);

    constexpr int kFiles = 6000;
    create_files(dir / "load", 0, kFiles / 3);
    kafka.set_rtt(8000);  // slower than timeout-ms: deliveries fail and are retried from the spool
    plain.stop();      // and both syslog receivers go away while events keep coming
    tls.stop();
    create_files(dir / "load", kFiles / 3, kFiles / 2);
    plain.start();
    create_files(dir / "load", kFiles / 2, 2 * kFiles / 3);
    tls.start();
    std::this_thread::sleep_for(6s);
    kafka.set_rtt(0);
    create_files(dir / "load", 2 * kFiles / 3, kFiles);
    // Syslog confirms a batch 300 ms after writing it; stopping waits for that.
    CHECK(WEXITSTATUS(stop_agent(a)) == 0);

    // The reference: the agent's own unrotated file.
    auto reference = sequences_in({a.out});
    REQUIRE(reference.size() > static_cast<size_t>(kFiles));
    CHECK(std::set<uint64_t>(reference.begin(), reference.end()).size() == reference.size());
    CHECK(*reference.begin() == 1);
    CHECK(*reference.rbegin() == reference.size());
    auto events = read_events(a.out);
    std::set<std::string> created;
    for (const auto& e : events)
        if (e["event"]["action"] == "created-file" && str(e, {"file", "path"}).starts_with(dir / "load/"))
            created.insert(str(e, {"file", "path"}));
    CHECK(created.size() == static_cast<size_t>(kFiles));

    // The rotated file: many generations, whole lines, each event once.
    std::vector<std::string> generations;
    for (const auto& e : fs::directory_iterator(dir / "rotated")) generations.push_back(e.path());
    INFO(slurp(a.err));
    CHECK(generations.size() > 10);
    for (const auto& g : generations) CHECK(fs::file_size(g) <= 256 * 1024);
    CHECK(sequences_in(generations) == reference);

    // Kafka: every event at least once (a batch cut by the outage may come
    // twice), keyed by the host id.
    auto consumed = ktrail::test::consume_all(kafka.bootstraps(), "audit", 3, reference.size());
    std::multiset<uint64_t> in_kafka;
    std::string host_id = events.front()["host"]["id"];
    for (const auto& m : consumed) {
        auto j = json::parse(m.value);
        in_kafka.insert(j["event"]["sequence"].get<uint64_t>());
        CHECK(m.key == host_id);
    }
    CHECK(distinct(in_kafka) == distinct(reference));
    WARN("Kafka: " << in_kafka.size() - distinct(in_kafka).size() << " duplicates of " << reference.size() << " events");
    std::string log = slurp(a.err);
    CHECK(log.find("output kafka://") != std::string::npos);  // the outage was seen and retried

    // rsyslog, plain and TLS: every event at least once across the restart.
    std::string host = events.front()["host"]["name"];
    plain.wait_for_lines(reference.size(), 10s);
    tls.wait_for_lines(reference.size(), 10s);
    auto in_plain = sequences_in(plain, host);
    auto in_tls = sequences_in(tls, host);
    CHECK(distinct(in_plain) == distinct(reference));
    CHECK(distinct(in_tls) == distinct(reference));
    WARN("rsyslog: " << in_plain.size() - distinct(in_plain).size() << " duplicates over TCP, "
                     << in_tls.size() - distinct(in_tls).size() << " over TLS, of " << reference.size());
    CHECK(log.find("output syslog+tcp://") != std::string::npos);

    // A restart continues the sequence and sends nothing twice.
    Agent again = start_agent(dir, {"--no-default-rules", "--no-audit", "--output",
                                    "file:" + rotated + "?max-size=256K&keep=1000"});
    // Its file already holds the first run's agent-started: wait for the new one.
    std::vector<json> seen;
    REQUIRE(wait_for(again, seen, [&](const json& e) {
        return e["event"]["action"] == "agent-started" && e["event"]["sequence"].get<uint64_t>() > *reference.rbegin();
    }));
    CHECK(WEXITSTATUS(stop_agent(again)) == 0);
    auto after = sequences_in({again.out});
    CHECK(std::set<uint64_t>(after.begin(), after.end()).size() == after.size());
    CHECK(*after.begin() == 1);  // the harness's file keeps what it had
    std::vector<std::string> all;
    for (const auto& e : fs::directory_iterator(dir / "rotated")) all.push_back(e.path());
    auto rotated_after = sequences_in(all);
    CHECK(std::set<uint64_t>(rotated_after.begin(), rotated_after.end()).size() == rotated_after.size());
    CHECK(*rotated_after.rbegin() == *after.rbegin());
    CHECK(*after.rbegin() > *reference.rbegin());
}
