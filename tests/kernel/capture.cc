#include "capture.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "enrich/host.h"

namespace ktrail::test {

TempDir::TempDir() {
    char tmpl[] = "/tmp/ktrail-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = std::filesystem::canonical(p).string();
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

Capture::Capture(bpf::BpfOptions options) {
    decoder_ = std::make_unique<bpf::Decoder>(bpf::DecodeContext{host_root_.mnt_ns(), host_root_.fd(), &clock_});
    enricher_ = std::make_unique<Enricher>(read_boot_id(), &clock_);
    auto src = bpf::BpfSource::start(options, [this](std::span<const uint8_t> rec) {
        ++delivered_;
        v1::Event ev;
        auto d = decoder_->decode(rec, ev);
        if (!d) {
            ++malformed_;
            return;
        }
        enricher_->enrich_bpf(ev, d->task, d->lifecycle);
        events_.push_back(std::move(ev));
    });
    if (!src) FAIL("BpfSource::start: " << src.error().message);
    source_ = std::move(*src);
    enricher_->seed();
}

pid_t Capture::spawn(const std::function<int()>& fn) {
    fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(fn());
    return pid;
}

void Capture::stop_and_drain() {
    source_->detach();
    // Programs already running on another CPU finish within an RCU grace period.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    drain();
}

void check_all_delivered(Capture& cap) {
    auto k = cap.source().counters();
    CHECK(k.total(KT_CNT_DROPPED) == 0);
    CHECK(k.total(KT_CNT_PRODUCED) == cap.delivered());
    CHECK(cap.malformed() == 0);
}

bool is_process_record(const v1::Event& e) {
    return (e.action() == "executed" && e.outcome() == "success") || e.action() == "exited" || e.action() == "forked";
}

bool create_file(const std::string& path) {
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    close(fd);
    return true;
}

long int80(long nr, long a, long b, long c) {
    long ret;
    asm volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

char* low_string(const std::string& s) {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    return static_cast<char*>(memcpy(p, s.c_str(), s.size() + 1));
}

void Capture::drain() {
    auto n = source_->poll(0);
    REQUIRE(n.has_value());
}

int Capture::exit_status(pid_t pid) const {
    for (const auto& [p, s] : statuses_)
        if (p == pid) return s;
    return -1;
}

std::vector<v1::Event> Capture::events_of(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) == pid) statuses_.emplace_back(pid, status);
    else REQUIRE(errno == ECHILD);  // not our child (a grandchild): wait for its exit event
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto exited = [&] {
        for (const auto& e : events_)
            if (e.action() == "exited" && e.process().pid() == static_cast<uint32_t>(pid)) return true;
        return false;
    };
    while (!exited() && std::chrono::steady_clock::now() < deadline) {
        auto n = source_->poll(20);
        REQUIRE(n.has_value());
    }
    std::vector<v1::Event> out;
    for (const auto& e : events_)
        if (e.process().pid() == static_cast<uint32_t>(pid)) out.push_back(e);
    INFO(describe(out));
    REQUIRE(exited());
    return out;
}

std::vector<const v1::Event*> with_action(const std::vector<v1::Event>& events, std::string_view action,
                                          std::string_view path) {
    std::vector<const v1::Event*> out;
    for (const auto& e : events)
        if (e.action() == action && (path.empty() || e.file().path() == path)) out.push_back(&e);
    return out;
}

const v1::Event& one(const std::vector<v1::Event>& events, std::string_view action, std::string_view path) {
    auto found = with_action(events, action, path);
    INFO("looking for " << action << " " << path << " in:\n" << describe(events));
    REQUIRE(found.size() == 1);
    return *found[0];
}

std::string describe(const std::vector<v1::Event>& events) {
    std::ostringstream s;
    for (const auto& e : events) {
        s << "  " << e.action() << " " << e.outcome() << " " << e.reason() << " path=" << e.file().path()
          << " target=" << e.file().target_path() << " syscall=" << e.ktrail().syscall() << "\n";
    }
    return s.str();
}

void drop_to_nobody() {
    if (setresgid(kNobody, kNobody, kNobody) != 0 || setresuid(kNobody, kNobody, kNobody) != 0) _exit(99);
}

}  // namespace ktrail::test
