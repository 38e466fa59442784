// The syscall table is the one place that says what each traced syscall's
// arguments are; check it is consistent with itself and with libc's numbers.
#include <catch2/catch.hpp>
#include <sys/syscall.h>

#include <set>

#include "source/bpf/syscall_table.h"

using ktrail::bpf::find_syscall;
using ktrail::bpf::syscall_table;

TEST_CASE("every entry is well formed and findable", "[syscalls]") {
    std::set<uint32_t> seen;
    for (const auto& s : syscall_table()) {
        INFO(s.name);
        CHECK(seen.insert(s.nr).second);
        CHECK(s.nr < KT_SYSCALL_SLOTS);
        CHECK(s.ia32 == (s.nr >= KT_IA32_BASE));
        CHECK(find_syscall(s.nr) == &s);
        CHECK(s.desc.op != KT_OP_NONE);
        CHECK(s.desc.op < KT_OP__MAX);
        CHECK(s.desc.family < KT_FAM__MAX);
        CHECK(s.desc.report != 0);
        for (int i = 0; i < 2; ++i) {
            if (s.desc.path_mode[i] != KT_PATH_NONE) {
                CHECK(s.desc.name_arg[i] >= 0);
                CHECK(s.desc.name_arg[i] < 6);
            }
            CHECK(s.desc.dirfd_arg[i] < 6);
        }
        for (int8_t a : s.desc.num_arg) CHECK(a < 6);
        if (s.flip_slot >= 0) CHECK(s.desc.num_arg[s.flip_slot] >= 0);
    }
    CHECK(find_syscall(SYS_read) == nullptr);
    CHECK(find_syscall(KT_IA32_BASE + 3) == nullptr);  // ia32 read
    CHECK(find_syscall(100000) == nullptr);
}

TEST_CASE("the issue's syscall families are all traced", "[syscalls]") {
    for (long nr : {SYS_open, SYS_openat, SYS_openat2, SYS_creat, SYS_unlink, SYS_unlinkat, SYS_rmdir, SYS_rename,
                    SYS_renameat, SYS_renameat2, SYS_link, SYS_linkat, SYS_symlink, SYS_symlinkat, SYS_mkdir,
                    SYS_mkdirat, SYS_chmod, SYS_fchmod, SYS_fchmodat, SYS_chown, SYS_fchown, SYS_lchown,
                    SYS_fchownat, SYS_truncate, SYS_ftruncate, SYS_setxattr, SYS_lsetxattr, SYS_fsetxattr,
                    SYS_removexattr, SYS_lremovexattr, SYS_fremovexattr, SYS_mount, SYS_umount2, SYS_setuid,
                    SYS_setreuid, SYS_setresuid, SYS_setfsuid, SYS_setgid, SYS_setregid, SYS_setresgid,
                    SYS_setfsgid, SYS_setgroups, SYS_capset, SYS_init_module, SYS_finit_module,
                    SYS_delete_module}) {
        INFO(nr);
        CHECK(find_syscall(static_cast<uint32_t>(nr)) != nullptr);
    }
}

TEST_CASE("32-bit syscalls are traced with their own numbers", "[syscalls]") {
    const auto* open32 = find_syscall(KT_IA32_BASE + 5);  // ia32 open
    REQUIRE(open32);
    CHECK(open32->name == "open");
    CHECK(open32->ia32);
    CHECK(open32->desc.op == KT_OP_OPEN);
    const auto* chown32 = find_syscall(KT_IA32_BASE + 212);
    REQUIRE(chown32);
    CHECK(chown32->name == "chown32");
    CHECK(chown32->desc.op == KT_OP_CHOWN);
    const auto* umount = find_syscall(KT_IA32_BASE + 22);  // the old one-argument umount
    REQUIRE(umount);
    CHECK(umount->desc.num_arg[0] == -1);
}

TEST_CASE("symlink-following follows the call's flags", "[syscalls]") {
    __u64 none[4] = {0, 0, 0, 0};
    __u64 nofollow[4] = {0, 0, 0x100, 0};
    const auto* fchownat = find_syscall(SYS_fchownat);
    REQUIRE(fchownat);
    CHECK(follows_final_symlink(*fchownat, none));
    CHECK_FALSE(follows_final_symlink(*fchownat, nofollow));
    CHECK_FALSE(follows_final_symlink(*find_syscall(SYS_lchown), none));
    CHECK_FALSE(follows_final_symlink(*find_syscall(SYS_unlink), none));
    __u64 follow[4] = {0x400, 0, 0, 0};
    CHECK(follows_final_symlink(*find_syscall(SYS_linkat), follow));
}
