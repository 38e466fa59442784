// Spool append rate: realistic serialized events appended (CRC32C, SHA-256
// chain) with a group commit (write + fdatasync) every 50 ms of wall time, as
// the agent does; and, for scale, the same with an fdatasync per event.
//   spool_bench [DIR]   (default: a temp dir under /var/tmp, on real disk)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "ktrail/v1/event.pb.h"
#include "spool/spool.h"

using namespace ktrail;
using Clock = std::chrono::steady_clock;

namespace {

std::string sample_event(uint64_t i) {
    v1::Event ev;
    ev.set_time_ns(1'764'000'000'000'000'000 + static_cast<int64_t>(i) * 1000);
    ev.set_sequence(i);
    ev.set_id("1c98dc42-5d9e-4c3e-a3c1-2b7a3f0e9d11:" + std::to_string(i));
    ev.set_kind("event");
    ev.add_category("file");
    ev.add_type("creation");
    ev.set_action("created-file");
    ev.set_outcome("success");
    ev.set_module("bpf");
    auto* h = ev.mutable_host();
    h->set_id("3d1219c7a0b84c55b1d7e0f3a9c2e411");
    h->set_name("web-1");
    h->set_boot_id("7adc71ad-2f51-4f0b-9e2c-0c8a1e5b6d33");
    ev.mutable_agent()->set_id("1c98dc42-5d9e-4c3e-a3c1-2b7a3f0e9d11");
    ev.mutable_agent()->set_version("0.1.0");
    auto* p = ev.mutable_process();
    p->set_pid(29898);
    p->set_thread_id(29898);
    p->set_entity_id("af832266734e794f");
    p->set_executable("/usr/bin/touch");
    p->set_name("touch");
    p->add_args("touch");
    p->add_args("/srv/report-" + std::to_string(i));
    p->set_working_directory("/home/alice");
    p->mutable_parent()->set_pid(29897);
    p->mutable_parent()->set_entity_id("c1b3728fb21b03b4");
    p->mutable_parent()->set_executable("/usr/bin/dash");
    for (const char* a : {"c1b3728fb21b03b4", "00df6d8e5b978110", "7662b57f8c5a6cf8"}) p->add_ancestry(a);
    auto* u = ev.mutable_user();
    u->set_id(0);
    u->set_name("root");
    u->mutable_audit()->set_id(1001);
    u->mutable_audit()->set_name("alice");
    ev.mutable_session()->set_id(58);
    ev.mutable_session()->set_login_user("alice");
    ev.mutable_session()->set_remote_ip("10.1.2.3");
    ev.mutable_file()->set_path("/srv/report-" + std::to_string(i));
    ev.mutable_file()->set_mode(0666);
    ev.mutable_ktrail()->set_syscall("openat");
    return ev.SerializeAsString();
}

double run(const std::string& dir, uint64_t n, bool sync_each, size_t* bytes_per_event) {
    std::filesystem::remove_all(dir);
    auto s = spool::Spool::open({dir, 64ull << 30, 16ull << 20});
    if (!s) {
        fprintf(stderr, "spool_bench: %s\n", s.error().message.c_str());
        exit(1);
    }
    std::vector<std::string> events;
    for (uint64_t i = 0; i < 1024; ++i) events.push_back(sample_event(i + 1));
    *bytes_per_event = events[0].size();
    auto start = Clock::now();
    auto last_commit = start;
    for (uint64_t i = 1; i <= n; ++i) {
        if (!(*s)->append_event(i, events[i & 1023])) exit(1);
        if (sync_each) {
            if (!(*s)->commit()) exit(1);
        } else if ((i & 255) == 0 && Clock::now() - last_commit >= std::chrono::milliseconds(50)) {
            if (!(*s)->commit()) exit(1);
            last_commit = Clock::now();
        }
    }
    if (!(*s)->commit()) exit(1);
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    s->reset();
    std::filesystem::remove_all(dir);
    return static_cast<double>(n) / secs;
}

}  // namespace

int main(int argc, char** argv) {
    std::string base = argc > 1 ? argv[1] : "/var/tmp";
    std::string dir = base + "/ktrail-spool-bench-" + std::to_string(getpid());
    size_t size = 0;
    double group = run(dir, 1'000'000, false, &size);
    double each = run(dir, 5'000, true, &size);
    printf("spool append (%zu-byte events, CRC32C + SHA-256 chain, group commit every 50 ms): %.0f events/s, %.0f MB/s\n",
           size, group, group * static_cast<double>(size) / 1e6);
    printf("spool append with an fdatasync per event (for scale): %.0f events/s; group commit is %.0fx faster\n", each,
           group / each);
    return 0;
}
