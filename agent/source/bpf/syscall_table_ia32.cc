// The ia32 numbers of the traced syscalls. A separate file because
// <asm/unistd_32.h> and the x86_64 <sys/syscall.h> define the same names.
#include <asm/unistd_32.h>

#include "source/bpf/syscall_table.h"

namespace ktrail::bpf {

std::span<const Ia32Syscall> ia32_syscalls() {
    // The argument order of these calls is the same on ia32 and x86_64, so
    // each reuses the x86_64 entry named as its template. The *32 calls and
    // the old 16-bit id calls differ only in the width of their ids.
    static const Ia32Syscall table[] = {
        {__NR_open, "open", "open"},
        {__NR_creat, "creat", "creat"},
        {__NR_openat, "openat", "openat"},
        {__NR_openat2, "openat2", "openat2"},
        {__NR_link, "link", "link"},
        {__NR_linkat, "linkat", "linkat"},
        {__NR_unlink, "unlink", "unlink"},
        {__NR_unlinkat, "unlinkat", "unlinkat"},
        {__NR_rmdir, "rmdir", "rmdir"},
        {__NR_rename, "rename", "rename"},
        {__NR_renameat, "renameat", "renameat"},
        {__NR_renameat2, "renameat2", "renameat2"},
        {__NR_symlink, "symlink", "symlink"},
        {__NR_symlinkat, "symlinkat", "symlinkat"},
        {__NR_mkdir, "mkdir", "mkdir"},
        {__NR_mkdirat, "mkdirat", "mkdirat"},
        {__NR_mknod, "mknod", "mknod"},
        {__NR_mknodat, "mknodat", "mknodat"},
        {__NR_chmod, "chmod", "chmod"},
        {__NR_fchmod, "fchmod", "fchmod"},
        {__NR_fchmodat, "fchmodat", "fchmodat"},
        {452, "fchmodat2", "fchmodat2"},
        {__NR_chown, "chown", "chown"},
        {__NR_chown32, "chown32", "chown"},
        {__NR_lchown, "lchown", "lchown"},
        {__NR_lchown32, "lchown32", "lchown"},
        {__NR_fchown, "fchown", "fchown"},
        {__NR_fchown32, "fchown32", "fchown"},
        {__NR_fchownat, "fchownat", "fchownat"},
        {__NR_truncate, "truncate", "truncate"},
        {__NR_truncate64, "truncate64", "truncate"},
        {__NR_ftruncate, "ftruncate", "ftruncate"},
        {__NR_ftruncate64, "ftruncate64", "ftruncate"},
        {__NR_setxattr, "setxattr", "setxattr"},
        {__NR_lsetxattr, "lsetxattr", "lsetxattr"},
        {__NR_fsetxattr, "fsetxattr", "fsetxattr"},
        {463, "setxattrat", "setxattrat"},
        {__NR_removexattr, "removexattr", "removexattr"},
        {__NR_lremovexattr, "lremovexattr", "lremovexattr"},
        {__NR_fremovexattr, "fremovexattr", "fremovexattr"},
        {466, "removexattrat", "removexattrat"},
        {__NR_mount, "mount", "mount"},
        {__NR_umount2, "umount2", "umount2"},
        {__NR_umount, "umount", "umount2"},
        {__NR_move_mount, "move_mount", "move_mount"},
        {__NR_setuid, "setuid", "setuid"},
        {__NR_setuid32, "setuid32", "setuid"},
        {__NR_setreuid, "setreuid", "setreuid"},
        {__NR_setreuid32, "setreuid32", "setreuid"},
        {__NR_setresuid, "setresuid", "setresuid"},
        {__NR_setresuid32, "setresuid32", "setresuid"},
        {__NR_setfsuid, "setfsuid", "setfsuid"},
        {__NR_setfsuid32, "setfsuid32", "setfsuid"},
        {__NR_setgid, "setgid", "setgid"},
        {__NR_setgid32, "setgid32", "setgid"},
        {__NR_setregid, "setregid", "setregid"},
        {__NR_setregid32, "setregid32", "setregid"},
        {__NR_setresgid, "setresgid", "setresgid"},
        {__NR_setresgid32, "setresgid32", "setresgid"},
        {__NR_setfsgid, "setfsgid", "setfsgid"},
        {__NR_setfsgid32, "setfsgid32", "setfsgid"},
        {__NR_setgroups, "setgroups", "setgroups"},
        {__NR_setgroups32, "setgroups32", "setgroups"},
        {__NR_capset, "capset", "capset"},
        {__NR_init_module, "init_module", "init_module"},
        {__NR_finit_module, "finit_module", "finit_module"},
        {__NR_delete_module, "delete_module", "delete_module"},
        {__NR_execve, "execve", "execve"},
        {__NR_execveat, "execveat", "execveat"},
    };
    return table;
}

}  // namespace ktrail::bpf
