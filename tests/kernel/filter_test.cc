// In-kernel filtering and loss accounting: excluded paths and the agent's
// own process are stopped before any copy; with a ring buffer too small for
// a burst, every record is either delivered or counted as dropped.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "capture.h"

using namespace ktrail::test;

namespace {
void settle_and_drain(Capture& cap) {
    cap.source().detach();
    // Programs already running on another CPU finish within an RCU grace period.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cap.drain();
}
}  // namespace

TEST_CASE("excluded paths are stopped in the kernel, before any copy", "[filter]") {
    TempDir excluded;
    TempDir kept;
    constexpr int kFiles = 300;
    ktrail::bpf::BpfOptions opts;
    opts.exclude = {excluded.path};
    Capture cap(opts);
    uint64_t filtered_before = cap.source().counters().total(KT_CNT_FILTERED);
    pid_t pid = cap.spawn([&] {
        for (int i = 0; i < kFiles; ++i) close(open((excluded / std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0600));
        close(open((kept / "control").c_str(), O_CREAT | O_WRONLY, 0600));
        return 0;
    });
    auto events = cap.events_of(pid);
    one(events, "created-file", kept / "control");
    for (const auto& e : events) CHECK_FALSE(e.file().path().starts_with(excluded.path));

    settle_and_drain(cap);
    auto k = cap.source().counters();
    CHECK(k.total(KT_CNT_FILTERED) - filtered_before >= kFiles);
    // Everything produced was delivered: the excluded opens were never produced.
    CHECK(k.total(KT_CNT_DROPPED) == 0);
    CHECK(k.total(KT_CNT_PRODUCED) == cap.delivered());
    CHECK(cap.malformed() == 0);
}

TEST_CASE("the agent never reports its own actions", "[filter]") {
    TempDir dir;
    Capture cap;
    close(open((dir / "by-agent").c_str(), O_CREAT | O_WRONLY, 0600));  // this process is the agent
    pid_t pid = cap.spawn([&] {
        close(open((dir / "by-child").c_str(), O_CREAT | O_WRONLY, 0600));
        return 0;
    });
    auto events = cap.events_of(pid);
    one(events, "created-file", dir / "by-child");
    for (const auto& e : cap.all()) CHECK(e.process().pid() != static_cast<uint32_t>(getpid()));
}

TEST_CASE("a burst into a tiny ring buffer: delivered + dropped == produced", "[filter]") {
    TempDir dir;
    ktrail::bpf::BpfOptions opts;
    opts.ringbuf_bytes = 16 * 1024;
    Capture cap(opts);
    pid_t pid = cap.spawn([&] {
        for (int i = 0; i < 5000; ++i) close(open((dir / std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0600));
        return 0;
    });
    // Do not read while the child runs: the buffer must overflow.
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    settle_and_drain(cap);
    auto k = cap.source().counters();
    uint64_t produced = k.total(KT_CNT_PRODUCED);
    uint64_t dropped = k.total(KT_CNT_DROPPED);
    INFO("produced " << produced << " dropped " << dropped << " delivered " << cap.delivered());
    CHECK(dropped > 0);
    CHECK(produced >= 5000);
    CHECK(cap.delivered() + dropped == produced);
    CHECK(cap.malformed() == 0);
}

TEST_CASE("cached directory verdicts follow renames and bind mounts", "[filter]") {
    TempDir dir;
    for (const char* d : {"watched", "plain", "plain2", "watched/bind"}) std::filesystem::create_directory(dir / d);
    ktrail::bpf::BpfOptions opts;
    opts.watch = {dir / "watched"};
    opts.watched_only = true;
    Capture cap(opts);
    pid_t pid = cap.spawn([&] {
        auto touch = [](const std::string& p) { close(open(p.c_str(), O_CREAT | O_WRONLY, 0600)); };
        // plain/ is decided (not watched) and cached; then it moves under watched/.
        touch(dir / "plain/a");
        if (rename((dir / "plain").c_str(), (dir / "watched/moved").c_str()) != 0) return 97;
        touch(dir / "watched/moved/b");
        // plain2/ is cached as not watched; the same directory seen through a
        // bind mount under watched/ is another path.
        if (mount((dir / "plain2").c_str(), (dir / "watched/bind").c_str(), nullptr, MS_BIND, nullptr) != 0) return 96;
        touch(dir / "plain2/c");
        touch(dir / "plain2/d");
        touch(dir / "watched/bind/e");
        umount2((dir / "watched/bind").c_str(), 0);
        return 0;
    });
    auto events = cap.events_of(pid);
    umount2((dir / "watched/bind").c_str(), MNT_DETACH);
    REQUIRE(cap.exit_status(pid) == 0);
    one(events, "created-file", dir / "watched/moved/b");
    one(events, "created-file", dir / "watched/bind/e");
    CHECK(with_action(events, "created-file", dir / "plain/a").empty());
    CHECK(with_action(events, "created-file", dir / "plain2/c").empty());
    CHECK(with_action(events, "created-file", dir / "plain2/d").empty());
}

TEST_CASE("a disabled kind is not produced in the kernel", "[filter]") {
    TempDir dir;
    ktrail::bpf::BpfOptions opts;
    opts.disable = {"fork", "file"};
    Capture cap(opts);
    pid_t pid = cap.spawn([&] {
        close(open((dir / "f").c_str(), O_CREAT | O_WRONLY, 0600));
        if (fork() == 0) _exit(0);
        setuid(0);  // cred stays on
        return 0;
    });
    auto events = cap.events_of(pid);
    one(events, "changed-identity-of");
    CHECK(with_action(events, "created-file").empty());
    settle_and_drain(cap);
    auto k = cap.source().counters();
    CHECK(k.by_kind[KT_KIND_FORK][KT_CNT_PRODUCED] == 0);
    for (const auto& e : cap.all()) CHECK(e.action() != "forked");
}
