#include "source/bpf/syscall_table.h"

#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <vector>

namespace ktrail::bpf {
namespace {

constexpr int8_t N = -1;  // no such argument
constexpr uint8_t kFileReport = KT_REPORT_SUCCESS | KT_REPORT_DENIED;
constexpr uint8_t kAllReport = KT_REPORT_SUCCESS | KT_REPORT_DENIED | KT_REPORT_ERROR;
constexpr uint64_t kAtSymlinkNofollow = 0x100;
constexpr uint64_t kAtSymlinkFollow = 0x400;
constexpr uint64_t kUmountNofollow = 0x8;
constexpr uint64_t kONofollow = 0400000;

struct PathSpec {
    uint8_t mode = KT_PATH_NONE;
    int8_t dirfd = N;
    int8_t name = N;
};
constexpr PathSpec at(int8_t dirfd, int8_t name) { return {KT_PATH_AT, dirfd, name}; }
constexpr PathSpec cwd(int8_t name) { return {KT_PATH_AT, N, name}; }
constexpr PathSpec fd(int8_t arg) { return {KT_PATH_FD, N, arg}; }
constexpr PathSpec ustr(int8_t arg) { return {KT_PATH_USTR, N, arg}; }
constexpr PathSpec none() { return {}; }

struct Args {
    int8_t a0 = N, a1 = N, a2 = N, a3 = N;
};

constexpr kt_syscall_desc desc(kt_op op, kt_family family, uint8_t report, PathSpec p0,
                               PathSpec p1 = {}, Args args = {}, int8_t aux = N,
                               uint8_t open_how = 0) {
    kt_syscall_desc d{};
    d.op = op;
    d.family = family;
    d.report = report;
    d.path_mode[0] = p0.mode;
    d.path_mode[1] = p1.mode;
    d.dirfd_arg[0] = p0.dirfd;
    d.dirfd_arg[1] = p1.dirfd;
    d.name_arg[0] = p0.name;
    d.name_arg[1] = p1.name;
    d.num_arg[0] = args.a0;
    d.num_arg[1] = args.a1;
    d.num_arg[2] = args.a2;
    d.num_arg[3] = args.a3;
    d.aux_arg = aux;
    d.open_how = open_how;
    return d;
}

constexpr kt_syscall_desc file(kt_op op, PathSpec p0, PathSpec p1 = {}, Args args = {},
                               int8_t aux = N) {
    return desc(op, KT_FAM_FILE, kFileReport, p0, p1, args, aux);
}
constexpr kt_syscall_desc open(PathSpec p0, Args args, uint8_t open_how = 0) {
    return desc(KT_OP_OPEN, KT_FAM_OPEN, kFileReport, p0, {}, args, N, open_how);
}
constexpr kt_syscall_desc cred(kt_op op, Args args) {
    return desc(op, KT_FAM_CRED, kAllReport, none(), none(), args);
}
constexpr kt_syscall_desc module(kt_op op, PathSpec p0, Args args, int8_t aux = N) {
    return desc(op, KT_FAM_MODULE, kAllReport, p0, none(), args, aux);
}
constexpr kt_syscall_desc exec_refused(PathSpec p0, Args args = {}) {
    return desc(KT_OP_EXEC, KT_FAM_EXEC_FAIL, KT_REPORT_DENIED, p0, none(), args);
}

// On success this call changes the paths of existing files: cached
// directory verdicts in the kernel are dropped.
constexpr kt_syscall_desc moves(kt_syscall_desc d, uint8_t how = KT_MOVES_PATHS) {
    d.moves_paths = how;
    return d;
}

// Follow rules: `follow` is the default; flip_slot/flip_mask invert it.
constexpr SyscallInfo info(uint32_t nr, std::string_view name, kt_syscall_desc d, bool follow = false,
                           int8_t flip_slot = -1, uint64_t flip_mask = 0) {
    return SyscallInfo{nr, name, d, follow, flip_slot, flip_mask};
}

// clang-format off
const auto kTable = std::to_array<SyscallInfo>({
    info(SYS_open,       "open",       open(cwd(0), {1, 2}), true, 0, kONofollow),
    info(SYS_creat,      "creat",      open(cwd(0), {N, 1}, 2), true),
    info(SYS_openat,     "openat",     open(at(0, 1), {2, 3}), true, 0, kONofollow),
    info(SYS_openat2,    "openat2",    open(at(0, 1), {2, N}, 1), true, 0, kONofollow),
    info(SYS_unlink,     "unlink",     file(KT_OP_UNLINK, cwd(0))),
    info(SYS_unlinkat,   "unlinkat",   moves(file(KT_OP_UNLINK, at(0, 1), none(), {2}), KT_MOVES_PATHS_IF_REMOVEDIR)),
    info(SYS_rmdir,      "rmdir",      moves(file(KT_OP_RMDIR, cwd(0)))),
    info(SYS_rename,     "rename",     moves(file(KT_OP_RENAME, cwd(0), cwd(1)))),
    info(SYS_renameat,   "renameat",   moves(file(KT_OP_RENAME, at(0, 1), at(2, 3)))),
    info(SYS_renameat2,  "renameat2",  moves(file(KT_OP_RENAME, at(0, 1), at(2, 3), {4}))),
    info(SYS_link,       "link",       file(KT_OP_LINK, cwd(0), cwd(1))),
    info(SYS_linkat,     "linkat",     file(KT_OP_LINK, at(0, 1), at(2, 3), {4}), false, 0, kAtSymlinkFollow),
    info(SYS_symlink,    "symlink",    file(KT_OP_SYMLINK, ustr(0), cwd(1))),
    info(SYS_symlinkat,  "symlinkat",  file(KT_OP_SYMLINK, ustr(0), at(1, 2))),
    info(SYS_mkdir,      "mkdir",      file(KT_OP_MKDIR, cwd(0), none(), {1})),
    info(SYS_mkdirat,    "mkdirat",    file(KT_OP_MKDIR, at(0, 1), none(), {2})),
    info(SYS_mknod,      "mknod",      file(KT_OP_MKNOD, cwd(0), none(), {1, 2})),
    info(SYS_mknodat,    "mknodat",    file(KT_OP_MKNOD, at(0, 1), none(), {2, 3})),
    info(SYS_chmod,      "chmod",      file(KT_OP_CHMOD, cwd(0), none(), {1}), true),
    info(SYS_fchmod,     "fchmod",     file(KT_OP_CHMOD, fd(0), none(), {1}), true),
    info(SYS_fchmodat,   "fchmodat",   file(KT_OP_CHMOD, at(0, 1), none(), {2}), true),
    info(452,            "fchmodat2",  file(KT_OP_CHMOD, at(0, 1), none(), {2, 3}), true, 1, kAtSymlinkNofollow),
    info(SYS_chown,      "chown",      file(KT_OP_CHOWN, cwd(0), none(), {1, 2}), true),
    info(SYS_lchown,     "lchown",     file(KT_OP_CHOWN, cwd(0), none(), {1, 2})),
    info(SYS_fchown,     "fchown",     file(KT_OP_CHOWN, fd(0), none(), {1, 2}), true),
    info(SYS_fchownat,   "fchownat",   file(KT_OP_CHOWN, at(0, 1), none(), {2, 3, 4}), true, 2, kAtSymlinkNofollow),
    info(SYS_truncate,   "truncate",   file(KT_OP_TRUNCATE, cwd(0), none(), {1}), true),
    info(SYS_ftruncate,  "ftruncate",  file(KT_OP_TRUNCATE, fd(0), none(), {1}), true),
    info(SYS_setxattr,   "setxattr",   file(KT_OP_SETXATTR, cwd(0), ustr(1), {4}), true),
    info(SYS_lsetxattr,  "lsetxattr",  file(KT_OP_SETXATTR, cwd(0), ustr(1), {4})),
    info(SYS_fsetxattr,  "fsetxattr",  file(KT_OP_SETXATTR, fd(0), ustr(1), {4}), true),
    info(463,            "setxattrat", file(KT_OP_SETXATTR, at(0, 1), ustr(3), {2}), true, 0, kAtSymlinkNofollow),
    info(SYS_removexattr,  "removexattr",  file(KT_OP_REMOVEXATTR, cwd(0), ustr(1)), true),
    info(SYS_lremovexattr, "lremovexattr", file(KT_OP_REMOVEXATTR, cwd(0), ustr(1))),
    info(SYS_fremovexattr, "fremovexattr", file(KT_OP_REMOVEXATTR, fd(0), ustr(1)), true),
    info(466,            "removexattrat", file(KT_OP_REMOVEXATTR, at(0, 1), ustr(3), {2}), true, 0, kAtSymlinkNofollow),
    info(SYS_mount,      "mount",      moves(file(KT_OP_MOUNT, ustr(0), cwd(1), {3}, 2))),
    info(SYS_umount2,    "umount2",    moves(file(KT_OP_UMOUNT, cwd(0), none(), {1})), true, 0, kUmountNofollow),
    info(429,            "move_mount", moves(file(KT_OP_MOUNT, at(0, 1), at(2, 3), {4}))),
    info(SYS_setuid,     "setuid",     cred(KT_OP_SETUID, {0})),
    info(SYS_setreuid,   "setreuid",   cred(KT_OP_SETUID, {0, 1})),
    info(SYS_setresuid,  "setresuid",  cred(KT_OP_SETUID, {0, 1, 2})),
    info(SYS_setfsuid,   "setfsuid",   cred(KT_OP_SETUID, {0})),
    info(SYS_setgid,     "setgid",     cred(KT_OP_SETGID, {0})),
    info(SYS_setregid,   "setregid",   cred(KT_OP_SETGID, {0, 1})),
    info(SYS_setresgid,  "setresgid",  cred(KT_OP_SETGID, {0, 1, 2})),
    info(SYS_setfsgid,   "setfsgid",   cred(KT_OP_SETGID, {0})),
    info(SYS_setgroups,  "setgroups",  cred(KT_OP_SETGROUPS, {0})),
    info(SYS_capset,     "capset",     cred(KT_OP_CAPSET, {})),
    info(SYS_init_module,   "init_module",   module(KT_OP_MODULE_LOAD, none(), {}, 2)),
    info(SYS_finit_module,  "finit_module",  module(KT_OP_MODULE_LOAD, fd(0), {2}, 1)),
    info(SYS_delete_module, "delete_module", module(KT_OP_MODULE_UNLOAD, ustr(0), {1})),
    info(SYS_execve,     "execve",     exec_refused(cwd(0)), true),
    info(SYS_execveat,   "execveat",   exec_refused(at(0, 1), {4}), true, 0, kAtSymlinkNofollow),
});
// clang-format on

const std::vector<SyscallInfo>& all_syscalls() {
    static const std::vector<SyscallInfo> all = [] {
        std::vector<SyscallInfo> v(kTable.begin(), kTable.end());
        for (const auto& s : ia32_syscalls()) {
            auto t = std::find_if(kTable.begin(), kTable.end(),
                                  [&](const SyscallInfo& i) { return i.name == s.x86_64_template; });
            if (t == kTable.end()) throw std::logic_error("ia32 syscall without an x86_64 template");
            SyscallInfo info = *t;
            info.nr = KT_IA32_BASE + s.nr;
            info.name = s.name;
            info.ia32 = true;
            v.push_back(info);
        }
        // The old one-argument umount has no flags argument.
        for (auto& i : v) {
            if (i.ia32 && i.name == "umount") {
                i.desc.num_arg[0] = -1;
                i.flip_slot = -1;
            }
        }
        return v;
    }();
    return all;
}

}  // namespace

std::span<const SyscallInfo> syscall_table() { return all_syscalls(); }

const SyscallInfo* find_syscall(uint32_t index) {
    static const auto by_index = [] {
        std::array<const SyscallInfo*, KT_SYSCALL_SLOTS> a{};
        for (const auto& i : all_syscalls()) a.at(i.nr) = &i;
        return a;
    }();
    return index < by_index.size() ? by_index[index] : nullptr;
}

bool follows_final_symlink(const SyscallInfo& info, const __u64 (&arg)[4]) {
    bool follow = info.follow;
    if (info.flip_slot >= 0 && (arg[info.flip_slot] & info.flip_mask)) follow = !follow;
    return follow;
}

}  // namespace ktrail::bpf
