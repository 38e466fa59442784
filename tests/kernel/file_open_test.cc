// File family, opens: writes, creations and truncations everywhere; reads
// only under watched paths; refused opens; canonical absolute paths however
// the caller named the file.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "capture.h"

using namespace ktrail::test;

namespace {
bool has_flag(const ktrail::v1::Event& e, const char* flag) {
    const auto& f = e.ktrail().flags();
    return std::find(f.begin(), f.end(), flag) != f.end();
}
}  // namespace

TEST_CASE("a file created through a dirfd and a relative name has its absolute path", "[file-open]") {
    TempDir dir;
    std::filesystem::create_directory(dir / "sub");
    Capture cap;
    pid_t pid = cap.spawn([&] {
        int dfd = open(dir.path.c_str(), O_DIRECTORY | O_RDONLY);
        int fd = openat(dfd, "sub/../sub/new.txt", O_CREAT | O_WRONLY | O_EXCL, 0640);
        return fd >= 0 ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    std::string path = dir / "sub/new.txt";
    const auto& e = one(events, "created-file", path);
    struct stat st{};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK(e.file().inode() == st.st_ino);
    CHECK(e.file().device() == st.st_dev);
    CHECK(e.file().mode() == 0640);
    CHECK(e.outcome() == "success");
    CHECK(e.category(0) == "file");
    CHECK(e.type(0) == "creation");
    CHECK(e.ktrail().syscall() == "openat");
    CHECK(has_flag(e, "O_CREAT"));
    CHECK(has_flag(e, "O_EXCL"));
}

TEST_CASE("opening for write through .. and a symlinked directory names the real file", "[file-open]") {
    TempDir dir;
    std::filesystem::create_directory(dir / "real");
    std::filesystem::create_directory(dir / "other");
    std::filesystem::create_directory_symlink(dir / "real", dir / "link");
    std::ofstream(dir / "real/data") << "x";
    Capture cap;
    pid_t pid = cap.spawn([&] {
        if (chdir((dir / "other").c_str()) != 0) return 98;
        int a = open("../link/data", O_WRONLY | O_APPEND);  // cwd-relative, .., symlink
        int b = open((dir / "link/data").c_str(), O_RDWR | O_TRUNC);
        return a >= 0 && b >= 0 ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    auto opened = with_action(events, "opened-file", dir / "real/data");
    INFO(describe(events));
    REQUIRE(opened.size() == 2);
    CHECK(opened[0]->type(0) == "change");
    CHECK(has_flag(*opened[0], "O_APPEND"));
    CHECK(has_flag(*opened[1], "O_TRUNC"));
    CHECK(has_flag(*opened[1], "O_RDWR"));
}

TEST_CASE("reads are captured only under watched paths", "[file-open]") {
    TempDir dir;
    std::filesystem::create_directory(dir / "watched");
    std::ofstream(dir / "watched/secret") << "s";
    std::ofstream(dir / "plain") << "p";
    ktrail::bpf::BpfOptions opts;
    opts.watch = {dir / "watched"};
    Capture cap(opts);
    pid_t pid = cap.spawn([&] {
        int a = open((dir / "watched/secret").c_str(), O_RDONLY);
        int b = open((dir / "plain").c_str(), O_RDONLY);
        return a >= 0 && b >= 0 ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    const auto& e = one(events, "opened-file", dir / "watched/secret");
    CHECK(e.type(0) == "access");
    CHECK(has_flag(e, "O_RDONLY"));
    CHECK(with_action(events, "opened-file", dir / "plain").empty());
}

TEST_CASE("an open refused to an unprivileged user is denied-access-to with EACCES", "[file-open]") {
    TempDir dir;
    chmod(dir.path.c_str(), 0755);
    std::string secret = dir / "secret";
    std::ofstream(secret) << "s";
    chmod(secret.c_str(), 0600);
    Capture cap;
    pid_t pid = cap.spawn([&] {
        int dfd = open(dir.path.c_str(), O_DIRECTORY | O_RDONLY);
        drop_to_nobody();
        int fd = openat(dfd, "secret", O_RDONLY);
        return fd < 0 && errno == EACCES ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    const auto& e = one(events, "denied-access-to", secret);
    CHECK(e.outcome() == "failure");
    CHECK(e.reason() == "EACCES");
    CHECK(e.type(0) == "denied");
    CHECK(e.user().id() == kNobody);
    CHECK(e.user().effective().id() == kNobody);
}

TEST_CASE("creat and openat2 are captured like open", "[file-open]") {
    TempDir dir;
    Capture cap;
    pid_t pid = cap.spawn([&] {
        int a = creat((dir / "by-creat").c_str(), 0600);
        open_how how{};
        how.flags = O_CREAT | O_WRONLY;
        how.mode = 0604;
        int b = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, (dir / "by-openat2").c_str(), &how, sizeof(how)));
        return a >= 0 && b >= 0 ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    const auto& c = one(events, "created-file", dir / "by-creat");
    CHECK(c.ktrail().syscall() == "creat");
    CHECK(c.file().mode() == 0600);
    const auto& o = one(events, "created-file", dir / "by-openat2");
    CHECK(o.ktrail().syscall() == "openat2");
    CHECK(o.file().mode() == 0604);
}
