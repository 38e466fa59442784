// e2e: the whole path as a user runs it. The real ktraild ships through its
// spool to the real ktrail-collector over mutual TLS into SQLite or
// PostgreSQL; `ktrail query` and `ktrail verify` read the store. Then the
// bad days: the agent killed -9 five times under load, the collector down
// for a minute, a spool too small for the backlog, a damaged spool.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "collector_harness.h"
#include "ktraild_harness.h"
#include "postgres_server.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace ktrail;
using e2e::Collector;
using e2e::json;
using e2e::TempDir;

namespace {

// A port nobody listens on now, so a collector can stop and come back on it.
int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

e2e::CollectorOptions on_fixed_port(std::string store_url = "") {
    e2e::CollectorOptions o;
    o.store_url = std::move(store_url);
    o.listen = "127.0.0.1:" + std::to_string(free_port());
    return o;
}

std::string hostname() {
    char buf[256] = {};
    gethostname(buf, sizeof(buf) - 1);
    return buf;
}

// A test directory with development certificates for this host and a
// collector (not started) whose store is in it.
struct Site {
    explicit Site(e2e::CollectorOptions options = on_fixed_port())
        : collector(dir.path, e2e::make_dev_certs(dir / "certs", {hostname()}), std::move(options)) {}
    TempDir dir;
    Collector collector;
};

// ktraild shipping to `c` (its own file output too, for the test to compare).
e2e::Agent start_shipping_agent(const TempDir& dir, const Collector& c, std::vector<std::string> extra = {}) {
    std::string host = hostname();
    std::vector<std::string> args = {"--no-default-rules", "--output", "collector:" + c.target(),
                                     "--tls-ca", c.certs().ca(), "--tls-cert", c.certs().agent_cert(host),
                                     "--tls-key", c.certs().agent_key(host)};
    args.insert(args.end(), extra.begin(), extra.end());
    return e2e::start_agent(dir, args);
}

// Whole lines only: a killed agent may leave half a line at the end.
std::vector<json> complete_events(const std::string& path) {
    std::vector<json> out;
    std::istringstream in(e2e::slurp(path));
    std::string line;
    while (std::getline(in, line)) {
        if (in.eof()) break;  // no newline after it: cut by the kill
        auto j = json::parse(line, nullptr, false);
        // A line cut by the kill, followed by the next run's first event.
        if (j.is_discarded())
            if (auto at = line.rfind("{\"@timestamp\""); at != std::string::npos && at > 0)
                j = json::parse(line.substr(at), nullptr, false);
        if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
}

std::string agent_id(const TempDir& dir) {
    std::string id = e2e::slurp(dir / "state/agent-id");
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    return id;
}

std::unique_ptr<store::Store> open(const std::string& url) {
    auto s = store::open_store(url);
    REQUIRE(s);
    return std::move(*s);
}

// Every stored event of the agent, by sequence.
std::map<uint64_t, v1::Event> stored_events(const std::string& url, const std::string& agent) {
    std::map<uint64_t, v1::Event> out;
    auto s = open(url);
    REQUIRE(s->scan(agent, [&](const store::Row& r) {
        v1::Event ev;
        REQUIRE(ev.ParseFromString(r.raw));
        out.emplace(r.sequence, std::move(ev));
    }));
    return out;
}

// The sequence of the last whole line of a running agent's JSON file.
uint64_t last_written(const std::string& path) {
    std::string text = e2e::slurp(path);
    if (text.size() > (1u << 16)) text.erase(0, text.size() - (1u << 16));
    size_t end = text.rfind('\n');
    if (end == std::string::npos) return 0;
    size_t begin = text.rfind('\n', end - 1);
    auto line = nlohmann::json::parse(text.substr(begin == std::string::npos ? 0 : begin + 1, end), nullptr, false);
    return line.is_discarded() ? 0 : line["event"]["sequence"].get<uint64_t>();
}

// Waits (up to `limit`) until the collector has caught up with what the
// agent has written (within `slack` events): after an outage the backlog
// takes a while on a busy machine, and what is left at stop waits for the
// next start.
void wait_caught_up(const std::string& url, const std::string& agent, const std::string& out, uint64_t slack,
                    std::chrono::seconds limit = 120s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        auto s = open(url);
        uint64_t last = last_written(out);
        auto stored = s->hashes(agent, last > slack ? last - slack : 1, last);
        if (stored && !stored->empty()) return;
        std::this_thread::sleep_for(1s);
    }
}

// Waits (up to `limit`) until the store holds every sequence up to the
// agent's last one (as its final log line says) with nothing missing.
std::map<uint64_t, v1::Event> wait_all_stored(const std::string& url, const std::string& agent, uint64_t last,
                                              std::chrono::seconds limit = 60s) {
    auto until = std::chrono::steady_clock::now() + limit;
    std::map<uint64_t, v1::Event> events;
    while (std::chrono::steady_clock::now() < until) {
        events = stored_events(url, agent);
        if (!events.empty() && events.rbegin()->first >= last) break;
        std::this_thread::sleep_for(200ms);
    }
    return events;
}

// The agent's "spool: last sequence N" stop line.
uint64_t last_sequence_logged(const e2e::Agent& a) {
    std::string log = e2e::slurp(a.err);
    auto at = log.rfind("spool: last sequence ");
    REQUIRE(at != std::string::npos);
    return std::stoull(log.substr(at + 21));
}

struct Command {
    int status = -1;
    std::string out;
};

Command run_cli(const std::string& args) {
    Command c;
    FILE* p = popen((std::string(KTRAIL_CLI) + " " + args + " 2>&1").c_str(), "r");
    REQUIRE(p);
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof(buf), p)) c.out.append(buf, n);
    c.status = pclose(p);
    return c;
}

// A steady load: a shell creating files in DIR, one every ~2 ms.
struct Load {
    explicit Load(const std::string& dir) {
        fs::create_directories(dir);
        pid = fork();
        if (pid == 0) {
            std::string script = "i=0; while :; do : > " + dir + "/f$i; i=$((i+1)); sleep 0.002; done";
            execl("/bin/bash", "bash", "-c", script.c_str(), nullptr);
            _exit(127);
        }
    }
    ~Load() { stop(); }
    void stop() {
        if (pid <= 0) return;
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        pid = -1;
    }
    pid_t pid = -1;
};

size_t count_prefix(const std::map<uint64_t, v1::Event>& events, const std::string& prefix) {
    size_t n = 0;
    for (const auto& [seq, ev] : events) n += ev.file().path().starts_with(prefix);
    return n;
}

void check_gapless(const std::map<uint64_t, v1::Event>& events, uint64_t last) {
    REQUIRE(!events.empty());
    CHECK(events.begin()->first == 1);
    CHECK(events.rbegin()->first == last);
    CHECK(events.size() == last);  // 1..last, each once
}

void ship_and_query(const std::string& store_url) {
    Site site(on_fixed_port(store_url));
    auto& [dir, c] = site;
    c.start();
    auto a = start_shipping_agent(dir, c);
    e2e::wait_started(a);
    std::string work = dir / "work";
    fs::create_directories(work);
    for (int i = 0; i < 200; ++i) std::ofstream(work + "/file" + std::to_string(i)) << "x";
    REQUIRE(e2e::run({"chmod", "600", work + "/file7"}) == 0);
    // A Latin-1 file name (not UTF-8) travels and is stored byte for byte.
    const std::string latin1 = work + "/caf\xe9";
    std::ofstream(latin1) << "x";
    std::this_thread::sleep_for(1s);
    REQUIRE(WEXITSTATUS(e2e::stop_agent(a)) == 0);
    uint64_t last = last_sequence_logged(a);
    auto events = wait_all_stored(c.store_url(), agent_id(dir), last, 30s);
    check_gapless(events, last);
    bool latin1_stored = false;
    for (const auto& [seq, ev] : events) latin1_stored |= ev.file().path() == latin1;
    CHECK(latin1_stored);

    // `ktrail query` finds every created file with the fields a user checks.
    auto q = run_cli("query --store '" + c.store_url() + "' --since 10m --action created-file --path '" + work +
                     "/*' --limit 1000 --json");
    INFO(q.out.substr(0, 2000));
    REQUIRE(WEXITSTATUS(q.status) == 0);
    std::set<std::string> paths;
    std::istringstream lines(q.out);
    std::string line;
    while (std::getline(lines, line)) {
        auto j = json::parse(line);
        paths.insert(j["file"]["path"].get<std::string>());
        CHECK(j["host"]["name"] == hostname());
        CHECK(j["user"]["name"] == "root");
        CHECK(j["event"]["outcome"] == "success");
        CHECK(!j["process"]["executable"].get<std::string>().empty());
        CHECK(j["agent"]["id"] == agent_id(dir));
    }
    CHECK(paths.size() == 201);
    CHECK(paths.count(work + "/caf\xef\xbf\xbd") == 1);  // JSON shows the byte as U+FFFD
    CHECK(paths.count(work + "/file199") == 1);
    auto chmod = run_cli("query --store '" + c.store_url() + "' --action changed-file-permissions-of --path '" +
                         work + "/file7'");
    CHECK_THAT(chmod.out, Catch::Contains(work + "/file7"));
    CHECK_THAT(chmod.out, Catch::Contains("/usr/bin/chmod"));

    auto v = run_cli("verify --store '" + c.store_url() + "'");
    INFO(v.out);
    CHECK(WEXITSTATUS(v.status) == 0);
    CHECK_THAT(v.out, Catch::Contains(hostname()));
    CHECK_THAT(v.out, Catch::Contains("ok"));
}

}  // namespace

TEST_CASE("pipeline: ktraild -> collector -> SQLite, every file event queryable and verified", "[pipeline]") {
    ship_and_query("");
}

TEST_CASE("pipeline: ktraild -> collector -> PostgreSQL, every file event queryable and verified", "[pipeline]") {
    ship_and_query(test::PostgresServer::shared().fresh_database());
}

TEST_CASE("pipeline: kill -9 five times under load loses nothing that reached the spool", "[pipeline]") {
    Site site;
    auto& [dir, c] = site;
    c.start();
    Load load(dir / "load");
    // The events file accumulates over the runs: wait for this run's start.
    auto wait_started = [&](const e2e::Agent& a, size_t run) {
        for (int i = 0; i < 400; ++i) {
            std::string out = e2e::slurp(a.out);
            size_t n = 0;
            for (size_t at = out.find("agent-started"); at != std::string::npos; at = out.find("agent-started", at + 1)) ++n;
            if (n >= run) return;
            std::this_thread::sleep_for(50ms);
        }
        FAIL("ktraild run " << run << " did not start: " << e2e::slurp(a.err));
    };
    for (int round = 0; round < 5; ++round) {
        auto a = start_shipping_agent(dir, c);
        wait_started(a, round + 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(1200 + 300 * round));
        int status = e2e::stop_agent(a, SIGKILL);
        REQUIRE(WIFSIGNALED(status));
    }
    auto a = start_shipping_agent(dir, c);
    wait_started(a, 6);
    std::this_thread::sleep_for(1s);
    load.stop();
    REQUIRE(WEXITSTATUS(e2e::stop_agent(a)) == 0);
    uint64_t last = last_sequence_logged(a);
    auto events = wait_all_stored(c.store_url(), agent_id(dir), last);
    INFO("agent log: " << e2e::slurp(a.err));
    check_gapless(events, last);
    // Every event the agent wrote out (it was spooled first) is in the store, the same.
    auto written = complete_events(a.out);
    REQUIRE(written.size() > 500);
    std::set<uint64_t> starts;  // by sequence: a file output is at least once across a kill
    for (const auto& e : written) {
        uint64_t seq = e["event"]["sequence"].get<uint64_t>();
        auto it = events.find(seq);
        REQUIRE(it != events.end());
        CHECK(it->second.id() == e["event"]["id"].get<std::string>());
        CHECK(it->second.action() == e["event"]["action"].get<std::string>());
        if (e["event"]["action"] == "agent-started") starts.insert(seq);
    }
    CHECK(starts.size() == 6);
    size_t stored_starts = 0;
    for (const auto& [seq, ev] : events) stored_starts += ev.action() == "agent-started";
    CHECK(stored_starts == 6);
    auto v = run_cli("verify --store '" + c.store_url() + "'");
    INFO(v.out);
    CHECK(WEXITSTATUS(v.status) == 0);
}

TEST_CASE("pipeline: the collector down for 60 s under load: nothing lost, nothing doubled", "[pipeline]") {
    Site site;
    auto& [dir, c] = site;
    c.start();
    auto a = start_shipping_agent(dir, c);
    e2e::wait_started(a);
    Load load(dir / "load");
    std::this_thread::sleep_for(2s);
    c.stop();
    std::this_thread::sleep_for(60s);
    c.start();
    std::this_thread::sleep_for(2s);
    load.stop();
    wait_caught_up(c.store_url(), agent_id(dir), a.out, 5000);
    REQUIRE(WEXITSTATUS(e2e::stop_agent(a)) == 0);
    uint64_t last = last_sequence_logged(a);
    auto events = wait_all_stored(c.store_url(), agent_id(dir), last);
    INFO("agent log: " << e2e::slurp(a.err));
    check_gapless(events, last);
    auto written = e2e::read_events(a.out);
    CHECK(written.size() == last);
    size_t files = count_prefix(events, dir / "load/");
    CHECK(files > 5000);  // the load (~150 files/s here) went on through the outage
    CHECK_THAT(e2e::slurp(a.err), Catch::Contains("not delivered"));  // it did notice the outage
    auto v = run_cli("verify --store '" + c.store_url() + "'");
    INFO(v.out);
    CHECK(WEXITSTATUS(v.status) == 0);
}

TEST_CASE("pipeline: a full spool with the collector down reports the exact loss", "[pipeline]") {
    Site site;
    auto& [dir, c] = site;
    c.start();
    c.stop();  // it has its port; the agent finds nobody there
    std::string work = dir / "work";
    fs::create_directories(work);
    // Only the test's files pass the rules, so the count can be exact.
    std::ofstream(dir / "only-work.yaml") << "- rule: only-work\n"
                                             "  description: everything but the test's files\n"
                                             "  condition: not file.path startswith \"" << work << "/\"\n"
                                             "  actions: [drop]\n";
    auto a = start_shipping_agent(dir, c, {"--rules", dir / "only-work.yaml", "--spool-max-bytes", "512K"});
    e2e::wait_started(a);
    constexpr int kFiles = 5000;
    REQUIRE(e2e::run({"bash", "-c", "for i in $(seq " + std::to_string(kFiles) + "); do : > " + work +
                                        "/f$i; done"}) == 0);
    std::this_thread::sleep_for(2s);
    c.start();
    std::this_thread::sleep_for(3s);
    REQUIRE(WEXITSTATUS(e2e::stop_agent(a)) == 0);
    uint64_t last = last_sequence_logged(a);
    auto events = wait_all_stored(c.store_url(), agent_id(dir), last);
    INFO("agent log: " << e2e::slurp(a.err));
    check_gapless(events, last);
    uint64_t lost = 0;
    size_t lost_events = 0;
    for (const auto& [seq, ev] : events)
        if (ev.action() == "events-lost" && ev.ktrail().lost_stage() == "spool-full") {
            lost += ev.ktrail().lost_count();
            ++lost_events;
        }
    size_t files = count_prefix(events, work + "/");
    std::map<std::string, size_t> actions;
    for (const auto& [seq, ev] : events)
        if (ev.file().path().starts_with(work + "/")) ++actions[ev.action() + " " + ev.ktrail().syscall()];
    std::string by_action;
    for (const auto& [action, n] : actions) by_action += action + ": " + std::to_string(n) + "; ";
    INFO("stored events under the work directory: " << by_action);
    CHECK(lost_events >= 1);
    CHECK(lost > 1000);
    CHECK(files + lost == kFiles);  // every created file is either stored or counted
    CHECK_THAT(e2e::slurp(a.err), Catch::Contains("events lost at stage spool-full"));
}

TEST_CASE("pipeline: a damaged spool delivers its valid records and reports the rest", "[pipeline]") {
    Site site;
    auto& [dir, c] = site;
    c.start();
    c.stop();
    std::string work = dir / "work";
    fs::create_directories(work);
    auto a = start_shipping_agent(dir, c, {"--spool-max-bytes", "4M"});  // 512K segments
    e2e::wait_started(a);
    REQUIRE(e2e::run({"bash", "-c", "for i in $(seq 3000); do : > " + work + "/f$i; done"}) == 0);
    std::this_thread::sleep_for(1s);
    REQUIRE(WEXITSTATUS(e2e::stop_agent(a)) == 0);
    uint64_t before = last_sequence_logged(a);
    std::vector<std::string> segs;
    for (const auto& e : fs::directory_iterator(dir / "state/spool"))
        if (e.path().extension() == ".wal") segs.push_back(e.path().string());
    std::sort(segs.begin(), segs.end());
    REQUIRE(segs.size() >= 3);
    {  // flipped bytes inside the oldest segment
        int fd = ::open(segs[0].c_str(), O_RDWR);
        REQUIRE(fd >= 0);
        std::string junk(16, '\x5a');
        REQUIRE(pwrite(fd, junk.data(), junk.size(), 100000) == 16);
        close(fd);
    }
    fs::resize_file(segs.back(), fs::file_size(segs.back()) - 10);  // a torn tail
    c.start();
    auto b = start_shipping_agent(dir, c);
    e2e::wait_started(b);
    std::this_thread::sleep_for(3s);
    REQUIRE(WEXITSTATUS(e2e::stop_agent(b)) == 0);
    INFO("agent log: " << e2e::slurp(b.err));
    CHECK_THAT(e2e::slurp(b.err), Catch::Contains("damaged byte(s)"));
    uint64_t last = last_sequence_logged(b);
    CHECK(last >= before);
    auto events = wait_all_stored(c.store_url(), agent_id(dir), last);
    // The damaged records are the only sequences missing, and an
    // events-lost event names exactly them.
    uint64_t first_lost = 0, last_lost = 0;
    for (const auto& [seq, ev] : events)
        if (ev.action() == "events-lost" && ev.ktrail().lost_stage() == "spool-damaged") {
            first_lost = ev.ktrail().lost_first_sequence();
            last_lost = ev.ktrail().lost_last_sequence();
        }
    REQUIRE(first_lost > 0);
    for (uint64_t s = 1; s <= last; ++s) {
        bool in_gap = s >= first_lost && s <= last_lost;
        INFO("sequence " << s);
        CHECK(events.count(s) == (in_gap ? 0u : 1u));
    }
    CHECK(last_lost - first_lost + 1 < 10);  // 16 bytes spoil one record, maybe two
    auto v = run_cli("verify --store '" + c.store_url() + "'");
    INFO(v.out);
    CHECK(WEXITSTATUS(v.status) == 0);  // the gap is explained
    CHECK_THAT(v.out, Catch::Contains("explained"));
}
