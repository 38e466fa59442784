// Metrics and status: the Prometheus exposition of a snapshot (golden text,
// escaping, a line-by-line parse), the HTTP server and the status socket on
// real sockets, and the `ktrail status` summary of a status document.
//
// KTRAIL_UPDATE_GOLDEN=1 rewrites tests/unit/golden/metrics.prom.txt and
// status.txt; review the diff.
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "control/ack_ages.h"
#include "control/metrics_server.h"
#include "control/prometheus.h"
#include "control/status_json.h"
#include "control/status_socket.h"
#include "status.h"

using namespace ktrail::control;
using nlohmann::json;

namespace {

constexpr int64_t kStart = 1'780'000'000'000'000'000;

Snapshot sample_snapshot() {
    Snapshot s;
    s.start_ns = kStart;
    s.taken_ns = kStart + 3723'500'000'000;  // 1 h 2 min 3.5 s later
    s.pid = 4242;
    s.version = "0.1.0";
    s.agent_id = "1c98dc42-0000-4000-8000-000000000001";
    s.hostname = "vm";
    s.audit_mode = "daemon";
    s.programs = {"handle_exec", "handle_fork", "handle_exit", "sys_exit"};
    s.ktrail_rules = 2;
    s.ktrail_rule_files = 1;
    s.audit_rules = 3;
    s.kernel[1] = {100, 0, 5};
    s.kernel[2] = {50, 1, 0};
    s.kernel[3] = {49, 0, 0};
    s.kernel[4] = {1000, 2, 300};
    s.ringbuf_read = 1196;
    s.ringbuf_used = 4096;
    s.ringbuf_size = 16u << 20;
    s.agent_filtered = 7;
    s.decode_errors = 1;
    s.audit_events = 12;
    s.audit_status = true;
    s.audit_kernel_lost = 4;
    s.audit_backlog = 2;
    s.audit_backlog_limit = 8192;
    s.emitted = 1150;
    s.rule_dropped = 30;
    s.lost = {3, 4, 0, 0, 1};
    s.events_per_second = 12.5;
    s.spool_bytes = 3 << 20;
    s.spool_max_bytes = 1ull << 30;
    s.spool_last_sequence = 1150;
    s.spool_durable_sequence = 1148;
    OutputSnapshot file{"file:/var/log/ktrail/events.json", 1148, 0, 0, 1148, 12, 0, 0, s.taken_ns - 2'000'000'000,
                        false, ""};
    OutputSnapshot odd{"syslog+tcp://siem:514?x=\"a\\b\"\nnext", 1000, 148, 35.25, 1000, 10, 7, 2,
                       s.taken_ns - 95'000'000'000, true, "batch 1001..1148 not delivered: connect: Connection refused"};
    s.outputs = {file, odd};
    s.rules = {{"drop-tmp", 1180, 30, 30, 0}, {"ssh-brute-force", 1150, 6, 0, 1}};
    s.processes_live = 180;
    s.processes_exited = 20;
    s.rss_bytes = 25 << 20;
    return s;
}

void check_golden(const std::string& name, const std::string& got) {
    std::string path = std::string(KTRAIL_GOLDEN_DIR) + "/" + name;
    const char* update = std::getenv("KTRAIL_UPDATE_GOLDEN");
    if (update && std::string(update) == "1") std::ofstream(path) << got;
    std::ifstream in(path);
    std::stringstream want;
    want << in.rdbuf();
    INFO(path << " (KTRAIL_UPDATE_GOLDEN=1 writes it)");
    CHECK(got == want.str());
}

// A sample line: name, labels (unescaped), value. Throws on anything the
// text format 0.0.4 does not allow.
struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value;
};

Sample parse_sample(const std::string& line) {
    static const std::regex name_re("^[a-zA-Z_:][a-zA-Z0-9_:]*");
    std::smatch m;
    if (!std::regex_search(line, m, name_re)) throw std::runtime_error("no metric name: " + line);
    Sample s{m.str(), {}, 0};
    size_t i = m.length();
    if (i < line.size() && line[i] == '{') {
        ++i;
        while (line.at(i) != '}') {
            size_t eq = line.find('=', i);
            std::string key = line.substr(i, eq - i);
            if (!std::regex_match(key, std::regex("[a-zA-Z_][a-zA-Z0-9_]*"))) throw std::runtime_error("label: " + line);
            if (line.at(eq + 1) != '"') throw std::runtime_error("unquoted label value: " + line);
            std::string value;
            for (i = eq + 2; line.at(i) != '"'; ++i) {
                if (line[i] == '\n') throw std::runtime_error("raw newline: " + line);
                if (line[i] != '\\') {
                    value += line[i];
                    continue;
                }
                char c = line.at(++i);
                if (c == 'n') value += '\n';
                else if (c == '\\' || c == '"') value += c;
                else throw std::runtime_error("bad escape: " + line);
            }
            s.labels[key] = value;
            ++i;
            if (line.at(i) == ',') ++i;
        }
        ++i;
    }
    if (line.at(i) != ' ') throw std::runtime_error("no value: " + line);
    std::string v = line.substr(i + 1);
    size_t used = 0;
    s.value = std::stod(v, &used);
    if (used != v.size()) throw std::runtime_error("value: " + line);
    return s;
}

// Every line of an exposition; checks HELP/TYPE before samples, counters
// named *_total, one family each.
std::vector<Sample> parse_exposition(const std::string& text) {
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;
    std::set<std::string> helped;
    std::string family;
    std::istringstream in(text);
    std::string line;
    REQUIRE(text.ends_with("\n"));
    while (std::getline(in, line)) {
        INFO(line);
        REQUIRE(!line.empty());
        if (line.starts_with("# HELP ")) {
            std::string name = line.substr(7, line.find(' ', 7) - 7);
            REQUIRE(helped.insert(name).second);
            continue;
        }
        if (line.starts_with("# TYPE ")) {
            std::istringstream w(line.substr(7));
            std::string name, type;
            w >> name >> type;
            REQUIRE(helped.count(name));
            REQUIRE(!types.count(name));
            REQUIRE((type == "counter" || type == "gauge"));
            if (type == "counter") CHECK(name.ends_with("_total"));
            else CHECK(!name.ends_with("_total"));
            CHECK(name.starts_with("ktrail_"));
            types[name] = type;
            family = name;
            continue;
        }
        REQUIRE(line[0] != '#');
        Sample s;
        REQUIRE_NOTHROW(s = parse_sample(line));
        CHECK(s.name == family);
        samples.push_back(std::move(s));
    }
    return samples;
}

const Sample* find(const std::vector<Sample>& samples, const std::string& name,
                   std::map<std::string, std::string> labels = {}) {
    for (const auto& s : samples)
        if (s.name == name && s.labels == labels) return &s;
    return nullptr;
}

// One request on a fresh loopback connection; everything the server sent.
std::string http(uint16_t port, const std::string& request) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
    close(fd);
    return got;
}

uint16_t port_of(const std::string& address) {
    return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

}  // namespace

TEST_CASE("metrics: the exposition of a snapshot", "[metrics]") {
    Snapshot s = sample_snapshot();
    std::string text = render_prometheus(s);
    check_golden("metrics.prom.txt", text);
    auto samples = parse_exposition(text);
    REQUIRE(find(samples, "ktrail_build_info", {{"version", "0.1.0"}}));
    CHECK(find(samples, "ktrail_uptime_seconds")->value == Approx(3723.5));
    CHECK(find(samples, "ktrail_kernel_produced_total", {{"kind", "syscall"}})->value == 1000);
    CHECK(find(samples, "ktrail_kernel_dropped_total", {{"kind", "fork"}})->value == 1);
    CHECK(find(samples, "ktrail_events_lost_total", {{"stage", "kernel-audit"}})->value == 4);
    CHECK(find(samples, "ktrail_rule_matched_total", {{"rule", "ssh-brute-force"}})->value == 6);
    CHECK(find(samples, "ktrail_processes", {{"state", "live"}})->value == 180);
    CHECK(find(samples, "ktrail_resident_memory_bytes")->value == 25 << 20);
    // The odd output name comes back whole through the escaping.
    const Sample* age = find(samples, "ktrail_output_oldest_unacked_age_seconds", {{"output", s.outputs[1].name}});
    REQUIRE(age);
    CHECK(age->value == 35.25);
    CHECK(find(samples, "ktrail_output_up", {{"output", s.outputs[1].name}})->value == 0);
    CHECK(find(samples, "ktrail_output_acked_sequence", {{"output", s.outputs[0].name}})->value == 1148);
}

TEST_CASE("metrics: label values are escaped", "[metrics]") {
    CHECK(escape_label_value("plain") == "plain");
    CHECK(escape_label_value("a\"b") == "a\\\"b");
    CHECK(escape_label_value("a\\b") == "a\\\\b");
    CHECK(escape_label_value("a\nb") == "a\\nb");
}

TEST_CASE("metrics: an output's oldest unconfirmed event, from the agent's notes", "[metrics]") {
    AckAges ages;
    const int64_t s = 1'000'000'000;
    ages.note(10, 100 * s);  // 1..10 written by t=100
    ages.note(10, 101 * s);  // nothing new: no note
    ages.note(25, 102 * s);
    CHECK(ages.size() == 2);
    CHECK(ages.age_s(25, 25, 110 * s) == 0);       // all confirmed
    CHECK(ages.age_s(4, 25, 110 * s) == 10);       // 5 was written by t=100
    CHECK(ages.age_s(10, 25, 110 * s) == 8);       // 11 by t=102
    CHECK(ages.age_s(25, 30, 110 * s) == 0);       // 26.. came after the last note
    ages.forget_through(10);
    CHECK(ages.size() == 1);
    for (uint64_t i = 0; i < AckAges::kMaxNotes * 2; ++i) ages.note(26 + i, (103 + static_cast<int64_t>(i)) * s);
    CHECK(ages.size() <= AckAges::kMaxNotes);
    // Thinned: coarser, but never older than it is (11 was written by t=102).
    double age = ages.age_s(10, 30, 20000 * s);
    CHECK(age <= 20000 - 102);
    CHECK(age >= 20000 - 120);
}

TEST_CASE("metrics: the HTTP server answers GET /metrics and nothing else", "[metrics]") {
    SnapshotBox box;
    box.publish(sample_snapshot());
    auto server = MetricsServer::listen("127.0.0.1:0", box);
    REQUIRE(server);
    (*server)->start({.drop_capabilities = true, .user = {}});
    uint16_t port = port_of((*server)->address());
    CHECK((*server)->address().starts_with("127.0.0.1:"));
    CHECK(port != 0);

    std::string ok = http(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    REQUIRE(ok.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(ok.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    auto body_at = ok.find("\r\n\r\n") + 4;
    std::string body = ok.substr(body_at);
    CHECK(ok.find(fmt::format("Content-Length: {}\r\n", body.size())) != std::string::npos);
    CHECK(body == render_prometheus(box.latest()));

    CHECK(http(port, "GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    CHECK(http(port, "GET /metrics/x HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404 "));
    std::string post = http(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    CHECK(post.starts_with("HTTP/1.1 405 "));
    CHECK(post.find("Allow: GET, HEAD\r\n") != std::string::npos);
    CHECK(http(port, "garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
    std::string head = http(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
    CHECK(head.starts_with("HTTP/1.1 200 OK"));
    CHECK(head.ends_with("\r\n\r\n"));

    // A request past the bound is answered 431 (or cut) and closed, never read on.
    std::string big = "GET /metrics HTTP/1.1\r\nX-Fill: " + std::string(64 * 1024, 'a');
    std::string cut = http(port, big);
    CHECK((cut.empty() || cut.starts_with("HTTP/1.1 431 ")));
    // The server still answers afterwards.
    CHECK(http(port, "GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 OK"));
    (*server)->stop();
}

TEST_CASE("metrics: a --metrics address that cannot be used names the fix", "[metrics]") {
    SnapshotBox box;
    auto bad = MetricsServer::listen("127.0.0.1", box);
    REQUIRE(!bad);
    CHECK(bad.error().message.find("ADDR:PORT") != std::string::npos);
    auto first = MetricsServer::listen("127.0.0.1:0", box);
    REQUIRE(first);
    auto taken = MetricsServer::listen((*first)->address(), box);
    REQUIRE(!taken);
    CHECK(taken.error().message.find("pick another address or port") != std::string::npos);
}

namespace {

std::string read_unix(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path.c_str());
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
    close(fd);
    return got;
}

struct TmpDir {
    TmpDir() {
        char t[] = "/tmp/ktrail-status-XXXXXX";
        path = mkdtemp(t);
    }
    ~TmpDir() { std::filesystem::remove_all(path); }
    std::string path;
};

}  // namespace

TEST_CASE("status: the control socket answers one document per connection", "[metrics]") {
    TmpDir dir;
    std::string path = dir.path + "/run/ktrail/ktraild.sock";
    SnapshotBox box;
    box.publish(sample_snapshot());
    {
        // A socket left by a killed agent (nobody listens) is replaced.
        std::filesystem::create_directories(dir.path + "/run/ktrail");
        int stale = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        strcpy(a.sun_path, path.c_str());
        REQUIRE(bind(stale, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
        close(stale);
    }
    auto sock = StatusSocket::listen(path, box);
    REQUIRE(sock);
    (*sock)->start({.drop_capabilities = true, .user = {}});
    struct stat st{};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    for (int i = 0; i < 2; ++i) {
        json doc = json::parse(read_unix(path));
        CHECK(doc["version"] == "0.1.0");
        CHECK(doc["outputs"].size() == 2);
        CHECK(doc["lost_total"] == 8);
    }
    // A second agent on the same path is refused while this one answers.
    auto second = StatusSocket::listen(path, box);
    REQUIRE(!second);
    CHECK(second.error().message.find("another ktraild answers there") != std::string::npos);
    sock->reset();
    CHECK(!std::filesystem::exists(path));
}

TEST_CASE("status: the summary ktrail status prints", "[metrics]") {
    Snapshot s = sample_snapshot();
    json doc = json::parse(render_status_json(s));
    std::string text = ktrail::cli::render_status(doc, s.taken_ns + 500'000'000);
    check_golden("status.txt", text);
    CHECK(text.find("up 1 h 2 min") != std::string::npos);
    CHECK(text.find("ktraild is the audit daemon") != std::string::npos);
    CHECK(text.find("4 attached") != std::string::npos);
    CHECK(text.find("2 ktrail rules from 1 files, 3 audit rules") != std::string::npos);
    CHECK(text.find("12.5/s") != std::string::npos);
    CHECK(text.find("8 since start (kernel-ringbuf 3, kernel-audit 4, decode 1)") != std::string::npos);
    CHECK(text.find("retrying: batch 1001..1148 not delivered: connect: Connection refused") != std::string::npos);
    CHECK(text.find("148 events waiting (oldest 35 s)") != std::string::npos);
    CHECK(text.find("last delivery 2 s ago") != std::string::npos);
    CHECK(text.find("last delivery 1 min 35 s ago") != std::string::npos);
}
