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

uint16_t metrics_port(const Agent& a) { return metrics_port_in_log(a.err); }

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

    std::string before = scrape_metrics(port);
    CHECK(metric_value(before, "ktrail_build_info{version=\"0.1.0\"}") == 1);
    CHECK(metric_value(before, "ktrail_resident_memory_bytes") > 0);
    CHECK(metric_value(before, "ktrail_bpf_programs_attached") > 0);
    CHECK(metric_value(before, "ktrail_ringbuf_size_bytes") == 16 << 20);  // the default --ringbuf-size
    CHECK(metric_value(before, "ktrail_ringbuf_used_bytes") >= 0);
    double produced0 = metric_value(before, "ktrail_kernel_produced_total{kind=\"syscall\"}");
    double emitted0 = metric_value(before, "ktrail_events_emitted_total");
    double delivered0 = metric_value(before, "ktrail_output_delivered_events_total" + file_output);
    double acked0 = metric_value(before, "ktrail_output_acked_sequence" + file_output);
    double matched0 = metric_value(before, "ktrail_rule_matched_total{rule=\"watched-files\"}");
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
        after = scrape_metrics(port);
        if (metric_value(after, "ktrail_output_acked_sequence" + file_output) >= acked0 + 500 &&
            metric_value(after, "ktrail_rule_matched_total{rule=\"watched-files\"}") >= matched0 + 500)
            break;
        std::this_thread::sleep_for(100ms);
    }
    INFO(after);
    CHECK(metric_value(after, "ktrail_kernel_produced_total{kind=\"syscall\"}") >= produced0 + 500);
    CHECK(metric_value(after, "ktrail_events_emitted_total") >= emitted0 + 500);
    CHECK(metric_value(after, "ktrail_output_delivered_events_total" + file_output) >= delivered0 + 500);
    CHECK(metric_value(after, "ktrail_output_acked_sequence" + file_output) >= acked0 + 500);
    CHECK(metric_value(after, "ktrail_rule_matched_total{rule=\"watched-files\"}") >= matched0 + 500);
    CHECK(metric_value(after, "ktrail_output_last_delivery_time_seconds" + file_output) > 0);
    CHECK(metric_value(after, "ktrail_output_up" + file_output) == 1);
    CHECK(metric_value(after, "ktrail_resident_memory_bytes") > 0);
    CHECK(metric_value(after, "ktrail_events_lost_total{stage=\"kernel-ringbuf\"}") == 0);
    CHECK(metric_value(after, "ktrail_processes{state=\"live\"}") > 0);

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
