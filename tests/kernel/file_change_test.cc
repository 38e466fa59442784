// File family, changes: delete, rename, link, symlink, mkdir, mknod, chmod,
// chown, truncate, xattrs, mount. Every path absolute and canonical, with
// the modes, owners and targets the call set.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "capture.h"

using namespace ktrail::test;

namespace {
void touch(const std::string& p) { std::ofstream(p) << "x"; }
}  // namespace

TEST_CASE("deletes: unlink, unlinkat, unlinkat(AT_REMOVEDIR), rmdir", "[file-change]") {
    TempDir dir;
    for (const char* f : {"a", "b"}) touch(dir / f);
    for (const char* d : {"d1", "d2"}) std::filesystem::create_directory(dir / d);
    Capture cap;
    pid_t pid = cap.spawn([&] {
        if (chdir(dir.path.c_str()) != 0) return 98;
        int dfd = open(dir.path.c_str(), O_DIRECTORY | O_RDONLY);
        bool ok = unlink("a") == 0 && unlinkat(dfd, "b", 0) == 0 && unlinkat(dfd, "d1", AT_REMOVEDIR) == 0 &&
                  rmdir("./d2") == 0;
        return ok ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    CHECK(one(events, "deleted", dir / "a").ktrail().syscall() == "unlink");
    CHECK(one(events, "deleted", dir / "b").ktrail().syscall() == "unlinkat");
    CHECK(one(events, "deleted", dir / "d1").ktrail().flags(0) == "AT_REMOVEDIR");
    const auto& r = one(events, "deleted", dir / "d2");
    CHECK(r.ktrail().syscall() == "rmdir");
    CHECK(r.type(0) == "deletion");
}

TEST_CASE("rename and link name both paths; symlink names its target", "[file-change]") {
    TempDir dir;
    touch(dir / "src");
    touch(dir / "src2");
    std::filesystem::create_directory(dir / "sub");
    Capture cap;
    pid_t pid = cap.spawn([&] {
        if (chdir((dir / "sub").c_str()) != 0) return 98;
        int dfd = open(dir.path.c_str(), O_DIRECTORY | O_RDONLY);
        bool ok = rename("../src", "../dst") == 0 &&
                  syscall(SYS_renameat2, dfd, "src2", AT_FDCWD, "moved", RENAME_NOREPLACE) == 0 &&
                  link("../dst", "hard") == 0 && linkat(dfd, "dst", dfd, "hard2", 0) == 0 &&
                  symlink("../dst", "soft") == 0 && symlinkat("/etc/hostname", dfd, "soft2") == 0;
        return ok ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    const auto& mv = one(events, "renamed", dir / "src");
    CHECK(mv.file().target_path() == dir / "dst");
    CHECK(mv.ktrail().syscall() == "rename");
    CHECK(one(events, "renamed", dir / "src2").file().target_path() == dir / "sub/moved");
    CHECK(one(events, "linked", dir / "sub/hard").file().target_path() == dir / "dst");
    CHECK(one(events, "linked", dir / "hard2").file().target_path() == dir / "dst");
    const auto& soft = one(events, "symlinked", dir / "sub/soft");
    CHECK(soft.file().target_path() == "../dst");  // the link's content, as written
    CHECK(one(events, "symlinked", dir / "soft2").file().target_path() == "/etc/hostname");
}

TEST_CASE("mkdir and mknod report the mode; chmod reports the new mode", "[file-change]") {
    TempDir dir;
    touch(dir / "f");
    Capture cap;
    pid_t pid = cap.spawn([&] {
        umask(0);
        int dfd = open(dir.path.c_str(), O_DIRECTORY | O_RDONLY);
        int fd = open((dir / "f").c_str(), O_RDONLY);
        bool ok = mkdir((dir / "m1").c_str(), 0750) == 0 && mkdirat(dfd, "m2", 0700) == 0 &&
                  mknod((dir / "fifo").c_str(), S_IFIFO | 0620, 0) == 0 &&
                  chmod((dir / "f").c_str(), 0604) == 0 && fchmod(fd, 0640) == 0 &&
                  fchmodat(dfd, "f", 04755, 0) == 0;
        return ok ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    CHECK(one(events, "created-directory", dir / "m1").file().mode() == 0750);
    CHECK(one(events, "created-directory", dir / "m2").file().mode() == 0700);
    CHECK(one(events, "make-device", dir / "fifo").file().mode() == (S_IFIFO | 0620));
    auto chmods = with_action(events, "changed-file-permissions-of", dir / "f");
    INFO(describe(events));
    REQUIRE(chmods.size() == 3);
    CHECK(chmods[0]->file().mode() == 0604);
    CHECK(chmods[0]->ktrail().syscall() == "chmod");
    CHECK(chmods[1]->file().mode() == 0640);
    CHECK(chmods[1]->ktrail().syscall() == "fchmod");
    CHECK(chmods[1]->file().inode() > 0);
    CHECK(chmods[2]->file().mode() == 04755);
    CHECK(chmods[2]->ktrail().syscall() == "fchmodat");
}

TEST_CASE("chown family reports the new owner and group; lchown names the link", "[file-change]") {
    TempDir dir;
    touch(dir / "f");
    std::filesystem::create_symlink(dir / "f", dir / "l");
    Capture cap;
    pid_t pid = cap.spawn([&] {
        int dfd = open(dir.path.c_str(), O_DIRECTORY | O_RDONLY);
        int fd = open((dir / "f").c_str(), O_RDONLY);
        bool ok = chown((dir / "l").c_str(), 1, 2) == 0 &&  // follows the link
                  lchown((dir / "l").c_str(), 3, 4) == 0 &&  // the link itself
                  fchown(fd, 5, static_cast<gid_t>(-1)) == 0 &&
                  fchownat(dfd, "l", 7, 8, AT_SYMLINK_NOFOLLOW) == 0;
        return ok ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    auto on_file = with_action(events, "changed-file-ownership-of", dir / "f");
    auto on_link = with_action(events, "changed-file-ownership-of", dir / "l");
    INFO(describe(events));
    REQUIRE(on_file.size() == 2);
    REQUIRE(on_link.size() == 2);
    CHECK(on_file[0]->file().uid() == 1);
    CHECK(on_file[0]->file().gid() == 2);
    CHECK(on_file[1]->file().uid() == 5);
    CHECK_FALSE(on_file[1]->file().has_gid());  // -1: unchanged
    CHECK(on_link[0]->file().uid() == 3);
    CHECK(on_link[0]->ktrail().syscall() == "lchown");
    CHECK(on_link[1]->file().uid() == 7);
    CHECK(on_link[1]->file().gid() == 8);
}

TEST_CASE("truncate, ftruncate and extended attributes", "[file-change]") {
    TempDir dir;
    touch(dir / "f");
    Capture cap;
    pid_t pid = cap.spawn([&] {
        int fd = open((dir / "f").c_str(), O_RDWR);
        bool ok = truncate((dir / "f").c_str(), 0) == 0 && ftruncate(fd, 10) == 0 &&
                  setxattr((dir / "f").c_str(), "user.k1", "v", 1, 0) == 0 &&
                  fsetxattr(fd, "user.k2", "v", 1, 0) == 0 && removexattr((dir / "f").c_str(), "user.k1") == 0 &&
                  fremovexattr(fd, "user.k2") == 0;
        return ok ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    auto truncs = with_action(events, "truncated-file", dir / "f");
    REQUIRE(truncs.size() == 2);
    CHECK(truncs[0]->ktrail().syscall() == "truncate");
    CHECK(truncs[1]->ktrail().syscall() == "ftruncate");
    CHECK(truncs[1]->ktrail().args(0) == 10);
    auto attrs = with_action(events, "changed-file-attributes-of", dir / "f");
    INFO(describe(events));
    REQUIRE(attrs.size() == 4);
    CHECK(attrs[0]->ktrail().xattr_name() == "user.k1");
    CHECK(attrs[0]->ktrail().syscall() == "setxattr");
    CHECK(attrs[1]->ktrail().xattr_name() == "user.k2");
    CHECK(attrs[2]->ktrail().syscall() == "removexattr");
    CHECK(attrs[3]->ktrail().syscall() == "fremovexattr");
}

TEST_CASE("mount and umount name the mount point, source and type", "[file-change]") {
    TempDir dir;
    std::filesystem::create_directory(dir / "mnt");
    Capture cap;
    pid_t pid = cap.spawn([&] {
        if (chdir(dir.path.c_str()) != 0) return 98;
        bool ok = mount("ktrail-test", "mnt", "tmpfs", MS_NOSUID, "size=1m") == 0 && umount2("mnt", 0) == 0;
        return ok ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    umount2((dir / "mnt").c_str(), MNT_DETACH);  // in case the child failed half-way
    REQUIRE(cap.exit_status(pid) == 0);
    const auto& m = one(events, "mounted", dir / "mnt");
    CHECK(m.ktrail().mount_source() == "ktrail-test");
    CHECK(m.ktrail().mount_fstype() == "tmpfs");
    CHECK(m.type(0) == "creation");
    const auto& u = one(events, "unmounted", dir / "mnt");
    CHECK(u.ktrail().syscall() == "umount2");
}

TEST_CASE("changes refused to an unprivileged user are denied-access-to with the errno", "[file-change]") {
    TempDir dir;
    chmod(dir.path.c_str(), 0755);
    touch(dir / "rootfile");
    Capture cap;
    pid_t pid = cap.spawn([&] {
        drop_to_nobody();
        bool ok = chmod((dir / "rootfile").c_str(), 0777) != 0 && errno == EPERM &&
                  unlink((dir / "rootfile").c_str()) != 0 && errno == EACCES;
        return ok ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    auto denied = with_action(events, "denied-access-to", dir / "rootfile");
    INFO(describe(events));
    REQUIRE(denied.size() == 2);
    CHECK(denied[0]->reason() == "EPERM");
    CHECK(denied[0]->ktrail().syscall() == "chmod");
    CHECK(denied[0]->file().mode() == 0777);
    CHECK(denied[1]->reason() == "EACCES");
    CHECK(denied[1]->ktrail().syscall() == "unlink");
    CHECK(denied[1]->outcome() == "failure");
    CHECK(denied[1]->user().id() == kNobody);
}

TEST_CASE("32-bit syscalls cannot slip past: int 0x80 is traced too", "[file-change]") {
    TempDir dir;
    Capture cap;
    pid_t pid = cap.spawn([&] {
        char* d = low_string(dir / "d32");
        char* f = low_string(dir / "d32/f32");
        char* rel = low_string("f32");
        if (!d || !f || !rel) return 96;
        bool ok = int80(39 /* mkdir */, reinterpret_cast<long>(d), 0700) == 0 &&
                  int80(8 /* creat */, reinterpret_cast<long>(f), 0600) >= 0 &&
                  chdir(d) == 0 &&
                  int80(15 /* chmod */, reinterpret_cast<long>(rel), 0640) == 0 &&
                  int80(10 /* unlink */, reinterpret_cast<long>(rel)) == 0;
        return ok ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    const auto& mk = one(events, "created-directory", dir / "d32");
    CHECK(mk.ktrail().arch() == "i386");
    CHECK(mk.ktrail().syscall() == "mkdir");
    CHECK(mk.file().mode() == 0700);
    CHECK(one(events, "created-file", dir / "d32/f32").ktrail().syscall() == "creat");
    CHECK(one(events, "changed-file-permissions-of", dir / "d32/f32").file().mode() == 0640);
    CHECK(one(events, "deleted", dir / "d32/f32").ktrail().arch() == "i386");
}
