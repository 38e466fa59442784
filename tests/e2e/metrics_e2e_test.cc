// e2e: a real ktraild with --metrics and --control: its counters move with
// real file work, `ktrail status` summarises it, and once it stops the
// socket is gone and `ktrail status` says it is not running (exit 3).
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "ktraild_harness.h"

using namespace ktrail::e2e;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string scrape(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    std::string req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    REQUIRE(send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
    std::string got;
    char buf[8192];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
    close(fd);
    REQUIRE(got.starts_with("HTTP/1.1 200 OK"));
    return got.substr(got.find("\r\n\r\n") + 4);
}

// The value of the sample `series` (name and labels as rendered); -1 if absent.
double value(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
    return -1;
}

// Runs `ktrail status ARGS`; its exit status, stdout and stderr.
struct Ran {
    int status;
    std::string out, err;
};
Ran ktrail_status(const TempDir& dir, const std::vector<std::string>& args) {
    std::string cmd = std::string(KTRAIL_CLI) + " status";
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " >" + (dir / "status.out") + " 2>" + (dir / "status.err");
    int st = std::system(cmd.c_str());
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(dir / "status.out"), slurp(dir / "status.err")};
}

uint16_t metrics_port(const Agent& a) {
    static const std::regex re("metrics on 127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 100; ++i) {
        std::smatch m;
        std::string log = slurp(a.err);
        if (std::regex_search(log, m, re)) return static_cast<uint16_t>(std::stoi(m[1]));
        std::this_thread::sleep_for(50ms);
    }
    FAIL("no 'metrics on' line in the log: " << slurp(a.err));
    return 0;
}

}  // namespace

TEST_CASE("ktraild's metrics and status follow real work; status says when it is gone", "[metrics]") {
    TempDir dir;
    const std::string watched = dir / "watched", socket = dir / "ctl/ktraild.sock", rules = dir / "rules.yaml";
    fs::create_directories(watched);
    std::ofstream(rules) << "- rule: watched-files\n"
                            "  name: Watched file created\n"
                            "  description: a file appeared under the watched directory\n"
                            "  condition: event.action = created-file and file.path startswith " + watched + "/\n"
                            "  actions: [tag watched]\n";
    Agent a = start_agent(dir, {"--no-default-rules", "--rules", rules, "--metrics", "127.0.0.1:0", "--control",
                                socket, "--watch", watched});
    wait_started(a);
    uint16_t port = metrics_port(a);
    const std::string file_output = "{output=\"file:" + a.out + "\"}";

    std::string before = scrape(port);
    CHECK(value(before, "ktrail_build_info{version=\"0.1.0\"}") == 1);
    CHECK(value(before, "ktrail_resident_memory_bytes") > 0);
    CHECK(value(before, "ktrail_bpf_programs_attached") > 0);
    double produced0 = value(before, "ktrail_kernel_produced_total{kind=\"syscall\"}");
    double emitted0 = value(before, "ktrail_events_emitted_total");
    double delivered0 = value(before, "ktrail_output_delivered_events_total" + file_output);
    double acked0 = value(before, "ktrail_output_acked_sequence" + file_output);
    double matched0 = value(before, "ktrail_rule_matched_total{rule=\"watched-files\"}");
    REQUIRE(produced0 >= 0);
    REQUIRE(emitted0 >= 0);
    REQUIRE(delivered0 >= 0);
    REQUIRE(acked0 >= 0);
    REQUIRE(matched0 >= 0);

    for (int i = 0; i < 500; ++i) {
        int fd = open((watched + "/f" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        close(fd);
    }
    // The snapshot is published once a second; the output confirms in batches.
    std::string after;
    for (int i = 0; i < 100; ++i) {
        after = scrape(port);
        if (value(after, "ktrail_output_acked_sequence" + file_output) >= acked0 + 500 &&
            value(after, "ktrail_rule_matched_total{rule=\"watched-files\"}") >= matched0 + 500)
            break;
        std::this_thread::sleep_for(100ms);
    }
    INFO(after);
    CHECK(value(after, "ktrail_kernel_produced_total{kind=\"syscall\"}") >= produced0 + 500);
    CHECK(value(after, "ktrail_events_emitted_total") >= emitted0 + 500);
    CHECK(value(after, "ktrail_output_delivered_events_total" + file_output) >= delivered0 + 500);
    CHECK(value(after, "ktrail_output_acked_sequence" + file_output) >= acked0 + 500);
    CHECK(value(after, "ktrail_rule_matched_total{rule=\"watched-files\"}") >= matched0 + 500);
    CHECK(value(after, "ktrail_output_last_delivery_time_seconds" + file_output) > 0);
    CHECK(value(after, "ktrail_output_up" + file_output) == 1);
    CHECK(value(after, "ktrail_resident_memory_bytes") > 0);
    CHECK(value(after, "ktrail_events_lost_total{stage=\"kernel-ringbuf\"}") == 0);
    CHECK(value(after, "ktrail_processes{state=\"live\"}") > 0);

    Ran st = ktrail_status(dir, {"--socket", socket});
    INFO(st.out << st.err);
    CHECK(st.status == 0);
    CHECK(std::regex_search(st.out, std::regex("programs: +[1-9][0-9]* attached")));
    CHECK(st.out.find("rules:     1 ktrail rules from 1 files") != std::string::npos);
    CHECK(std::regex_search(st.out, std::regex("events: +[0-9]+\\.[0-9]/s over the last 10 s")));
    CHECK(std::regex_search(st.out, std::regex("losses: +(none|[0-9]+) since start")));
    // The agent reads audit, as the audit daemon or beside one.
    CHECK(std::regex_search(st.out, std::regex("audit: +(ktraild is the audit daemon|reading the multicast group)")));
    CHECK(st.out.find("output     file:" + a.out) != std::string::npos);
    CHECK(st.out.find("delivering") != std::string::npos);
    CHECK(std::regex_search(st.out, std::regex("last delivery [0-9]+ s ago")));

    Ran js = ktrail_status(dir, {"--socket", socket, "--json"});
    CHECK(js.status == 0);
    json doc;
    REQUIRE_NOTHROW(doc = json::parse(js.out));
    CHECK(doc["outputs"][0]["name"] == "file:" + a.out);
    CHECK(doc["events"]["emitted"].get<uint64_t>() >= 500);
    CHECK(doc["rules"]["ktrail"] == 1);

    REQUIRE(WEXITSTATUS(stop_agent(a)) == 0);
    CHECK(!fs::exists(socket));
    Ran gone = ktrail_status(dir, {"--socket", socket});
    CHECK(gone.status == 3);
    CHECK(gone.err.find("ktraild is not running (no socket at " + socket + ")") != std::string::npos);
}
