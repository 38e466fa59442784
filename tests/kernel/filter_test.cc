// In-kernel filtering and loss accounting: excluded paths and the agent's
// own process are stopped before any copy; with a ring buffer too small for
// a burst, every record is either delivered or counted as dropped; the
// rules' drops (executables, users, syscalls, paths) are stopped in the
// kernel too, and re-applied at run time without losing anything else.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "capture.h"

using namespace ktrail::test;

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

    cap.stop_and_drain();
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
    cap.stop_and_drain();
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
    cap.stop_and_drain();
    auto k = cap.source().counters();
    CHECK(k.by_kind[KT_KIND_FORK][KT_CNT_PRODUCED] == 0);
    for (const auto& e : cap.all()) CHECK(e.action() != "forked");
}

// Runtime drops (BpfSource::apply_drops): what the agent's rules drop is
// stopped in the kernel, re-applied while capture runs.
namespace {
// A copy of an executable: another inode, so another identity.
std::string copy_executable(const TempDir& dir, const char* from, const char* name) {
    std::string to = dir / name;
    std::filesystem::copy_file(from, to);
    REQUIRE(chmod(to.c_str(), 0755) == 0);
    return to;
}

pid_t run(Capture& cap, const std::string& exe, std::vector<std::string> args) {
    return cap.spawn([&] {
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(exe.c_str(), argv.data());
        return 127;
    });
}

uint64_t syscall_counter(Capture& cap, kt_counter c) { return cap.source().counters().by_kind[KT_KIND_SYSCALL][c]; }

}  // namespace

TEST_CASE("a dropped executable makes no syscall records; its process records still arrive", "[filter]") {
    TempDir bin;
    TempDir dir;
    std::string ktouch = copy_executable(bin, "/usr/bin/touch", "ktouch");
    std::string ksh = copy_executable(bin, "/bin/sh", "ksh");
    Capture cap;
    REQUIRE(cap.source().apply_drops({.executables = {ktouch, ksh, bin / "missing"}}));
    CHECK(cap.source().drops().executables.size() == 3);

    uint64_t filtered_before = syscall_counter(cap, KT_CNT_FILTERED);
    pid_t dropped = run(cap, ktouch, {"ktouch", dir / "by-copy"});
    auto events = cap.events_of(dropped);
    REQUIRE(cap.exit_status(dropped) == 0);
    REQUIRE(std::filesystem::exists(dir / "by-copy"));
    one(events, "executed");
    one(events, "exited");
    INFO(describe(events));
    for (const auto& e : events) CHECK(is_process_record(e));
    CHECK(syscall_counter(cap, KT_CNT_FILTERED) > filtered_before);

    // The original binary is another file: not dropped.
    pid_t original = run(cap, "/usr/bin/touch", {"touch", dir / "by-original"});
    one(cap.events_of(original), "created-file", dir / "by-original");

    // A dropped shell: its own file creation is dropped, its fork is not, and
    // the child it runs /usr/bin/touch in is no longer the dropped executable.
    pid_t shell = run(cap, ksh, {"ksh", "-c", "echo > " + dir / "by-shell" + "; /usr/bin/touch " + dir / "by-child" +
                                                 "; echo > " + dir / "by-shell2"});
    auto shell_events = cap.events_of(shell);
    REQUIRE(cap.exit_status(shell) == 0);
    for (const auto& e : shell_events) CHECK(is_process_record(e));
    pid_t child = 0;
    for (const auto& e : cap.all())
        if (e.action() == "forked" && e.process().parent().pid() == static_cast<uint32_t>(shell)) child = e.process().pid();
    REQUIRE(child != 0);
    std::vector<ktrail::v1::Event> child_events;
    for (const auto& e : cap.all())
        if (e.process().pid() == static_cast<uint32_t>(child)) child_events.push_back(e);
    one(child_events, "created-file", dir / "by-child");

    // Lifted: the copy is reported again.
    REQUIRE(cap.source().apply_drops({}));
    CHECK(cap.source().drops().empty());
    pid_t again = run(cap, ktouch, {"ktouch", dir / "by-copy-again"});
    one(cap.events_of(again), "created-file", dir / "by-copy-again");

    cap.stop_and_drain();
    check_all_delivered(cap);
    for (const auto& e : cap.all()) {
        if (e.process().pid() == static_cast<uint32_t>(dropped) || e.process().pid() == static_cast<uint32_t>(shell))
            CHECK(is_process_record(e));
    }
}

TEST_CASE("a dropped user makes no syscall records", "[filter]") {
    TempDir dir;
    REQUIRE(chmod(dir.path.c_str(), 0777) == 0);
    Capture cap;
    REQUIRE(cap.source().apply_drops({.uids = {kNobody}}));
    uint64_t filtered_before = syscall_counter(cap, KT_CNT_FILTERED);
    pid_t nobody = cap.spawn([&] {
        drop_to_nobody();
        return create_file(dir / "by-nobody") ? 0 : 98;
    });
    auto events = cap.events_of(nobody);
    REQUIRE(cap.exit_status(nobody) == 0);
    CHECK(with_action(events, "created-file").empty());
    one(events, "exited");
    CHECK(syscall_counter(cap, KT_CNT_FILTERED) > filtered_before);

    pid_t root = cap.spawn([&] { return create_file(dir / "by-root") ? 0 : 98; });
    one(cap.events_of(root), "created-file", dir / "by-root");

    REQUIRE(cap.source().apply_drops({}));
    pid_t lifted = cap.spawn([&] {
        drop_to_nobody();
        return create_file(dir / "by-nobody-again") ? 0 : 98;
    });
    auto lifted_events = cap.events_of(lifted);
    CHECK(one(lifted_events, "created-file", dir / "by-nobody-again").user().id() == kNobody);

    cap.stop_and_drain();
    check_all_delivered(cap);
    for (const auto& e : cap.all()) CHECK(e.file().path() != dir / "by-nobody");
}

TEST_CASE("dropped syscalls are not traced, in either architecture", "[filter]") {
    TempDir dir;
    std::string f = dir / "f";
    REQUIRE(create_file(f));
    Capture cap;
    REQUIRE(cap.source().apply_drops({.syscalls = {"fchmodat", "chmod", "fchmod", "fchmodat2", "no-such-call"}}));
    auto change = [&] {
        return cap.spawn([&] {
            char* rel = low_string("f");
            if (!rel || chdir(dir.path.c_str()) != 0) return 96;
            if (chmod(f.c_str(), 0640) != 0 || chown(f.c_str(), 0, 0) != 0) return 97;
            int fd = open(f.c_str(), O_RDONLY);
            if (fd < 0 || fchmod(fd, 0600) != 0) return 98;
            close(fd);
            return int80(15 /* ia32 chmod */, reinterpret_cast<long>(rel), 0644) == 0 ? 0 : 99;
        });
    };
    pid_t pid = change();
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    CHECK(with_action(events, "changed-file-permissions-of").empty());
    one(events, "changed-file-ownership-of", f);

    REQUIRE(cap.source().apply_drops({}));
    pid = change();
    events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    auto chmods = with_action(events, "changed-file-permissions-of", f);
    CHECK(chmods.size() == 3);
    bool ia32 = false;
    for (const auto* e : chmods) ia32 |= e->ktrail().arch() == "i386";
    CHECK(ia32);
}

TEST_CASE("a dropped rename still invalidates cached directory verdicts", "[filter]") {
    TempDir dir;
    for (const char* d : {"watched", "plain"}) std::filesystem::create_directory(dir / d);
    ktrail::bpf::BpfOptions opts;
    opts.watch = {dir / "watched"};
    opts.watched_only = true;
    Capture cap(opts);
    REQUIRE(cap.source().apply_drops({.syscalls = {"rename", "renameat", "renameat2"}}));
    pid_t pid = cap.spawn([&] {
        if (!create_file(dir / "plain/a")) return 98;  // plain/ is cached as not watched
        if (rename((dir / "plain").c_str(), (dir / "watched/moved").c_str()) != 0) return 97;
        return create_file(dir / "watched/moved/b") ? 0 : 96;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    CHECK(with_action(events, "renamed").empty());
    one(events, "created-file", dir / "watched/moved/b");
}

TEST_CASE("a dropped path prefix is stopped in the kernel until the drop is lifted", "[filter]") {
    TempDir dir;
    for (const char* d : {"quiet", "loud", "elsewhere"}) std::filesystem::create_directory(dir / d);
    ktrail::bpf::BpfOptions opts;
    // A base exclusion keeps the kernel's path filter, and its directory
    // cache, in use once the drop is lifted.
    opts.exclude = {dir / "elsewhere"};
    Capture cap(opts);
    REQUIRE(cap.source().apply_drops({.paths = {dir.path + "/quiet/"}}));
    uint64_t filtered_before = syscall_counter(cap, KT_CNT_FILTERED);
    pid_t pid = cap.spawn([&] {
        bool ok = create_file(dir / "quiet/a") && create_file(dir / "quiet/b") && create_file(dir / "loud/c") &&
                  create_file(dir / "elsewhere/d");
        return ok ? 0 : 98;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    one(events, "created-file", dir / "loud/c");
    CHECK(with_action(events, "created-file").size() == 1);
    CHECK(syscall_counter(cap, KT_CNT_FILTERED) - filtered_before >= 3);

    // Lifted: quiet/'s cached verdict must not outlive the drop; the base
    // exclusion stays.
    REQUIRE(cap.source().apply_drops({}));
    pid = cap.spawn([&] { return create_file(dir / "quiet/e") && create_file(dir / "elsewhere/f") ? 0 : 98; });
    events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    one(events, "created-file", dir / "quiet/e");
    CHECK(with_action(events, "created-file").size() == 1);

    cap.stop_and_drain();
    check_all_delivered(cap);
    for (const auto& e : cap.all()) {
        CHECK(e.file().path() != dir / "quiet/a");
        CHECK(e.file().path() != dir / "quiet/b");
    }
}

TEST_CASE("re-applying drops while capture runs loses nothing that is not dropped", "[filter]") {
    TempDir bin;
    TempDir dir;
    for (const char* d : {"quiet", "loud", "elsewhere"}) std::filesystem::create_directory(dir / d);
    std::string ktouch = copy_executable(bin, "/usr/bin/touch", "ktouch");
    ktrail::bpf::BpfOptions opts;
    opts.watch = {dir / "loud"};
    opts.exclude = {dir / "elsewhere"};
    Capture cap(opts);
    const ktrail::bpf::KernelDrops drops{.paths = {dir / "quiet", dir.path},  // dir/ is excluded, loud/ still watched
                                         .syscalls = {"chmod", "fchmodat", "fchmodat2"},
                                         .executables = {ktouch},
                                         .uids = {kNobody}};
    constexpr int kFiles = 3000;
    int go[2];
    REQUIRE(pipe(go) == 0);
    pid_t pid = cap.spawn([&] {
        char c;
        if (read(go[0], &c, 1) != 1) return 95;
        for (int i = 0; i < kFiles; ++i) {
            std::string p = dir / ("loud/" + std::to_string(i));
            if (!create_file(p) || chown(p.c_str(), 0, 0) != 0) return 98;
        }
        return 0;
    });
    close(go[0]);
    REQUIRE(write(go[1], "x", 1) == 1);
    close(go[1]);
    int applies = 0;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        auto ok = cap.source().apply_drops(applies % 2 ? ktrail::bpf::KernelDrops{} : drops);
        REQUIRE(ok);
        ++applies;
    }
    INFO("applies " << applies);
    CHECK(applies > 2);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cap.drain();
    cap.stop_and_drain();
    check_all_delivered(cap);
    std::vector<ktrail::v1::Event> events;
    for (const auto& e : cap.all())
        if (e.process().pid() == static_cast<uint32_t>(pid)) events.push_back(e);
    CHECK(with_action(events, "created-file").size() == kFiles);
    CHECK(with_action(events, "changed-file-ownership-of").size() == kFiles);
}
