/* SPDX-License-Identifier: Apache-2.0
 *
 * ktrail wire format: the records the BPF programs write to the ring buffer
 * and the maps the agent fills. Compiled both as BPF C (after vmlinux.h) and
 * as C++ (agent, tests); the static_asserts at the bottom keep the two views
 * byte-identical.
 *
 * Every record starts with kt_hdr. Variable-length strings follow the fixed
 * part; each is described by a kt_str {offset from record start, length
 * without the trailing NUL}. Strings are NUL-terminated in the record too.
 */
#ifndef KTRAIL_WIRE_H
#define KTRAIL_WIRE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KT_WIRE_VERSION 1

/* Record kinds (kt_hdr.kind). */
enum kt_kind {
    KT_KIND_EXEC = 1,    /* sched_process_exec: a new program image */
    KT_KIND_FORK = 2,    /* sched_process_fork: a new process (not thread) */
    KT_KIND_EXIT = 3,    /* sched_process_exit: the last thread left */
    KT_KIND_SYSCALL = 4, /* a traced syscall returned (file, cred, module) */
    KT_KIND__MAX = 5,
};

/* What a traced syscall does; the agent's syscall table maps each syscall
 * number to one of these, and decoding interprets arg[] by op. */
enum kt_op {
    KT_OP_NONE = 0,
    /* file family */
    KT_OP_OPEN = 1,       /* arg0 flags, arg1 create mode */
    KT_OP_UNLINK = 2,     /* unlink, unlinkat (arg0 flags: AT_REMOVEDIR) */
    KT_OP_RMDIR = 3,
    KT_OP_RENAME = 4,     /* path -> path2, arg0 flags */
    KT_OP_LINK = 5,       /* path (existing) -> path2 (new name) */
    KT_OP_SYMLINK = 6,    /* path = target string, path2 = new link */
    KT_OP_MKDIR = 7,      /* arg0 mode */
    KT_OP_MKNOD = 8,      /* arg0 mode, arg1 dev */
    KT_OP_CHMOD = 9,      /* arg0 mode, arg1 flags */
    KT_OP_CHOWN = 10,     /* arg0 uid, arg1 gid, arg2 flags */
    KT_OP_TRUNCATE = 11,  /* arg0 length */
    KT_OP_SETXATTR = 12,  /* path2 = attribute name, arg0 flags */
    KT_OP_REMOVEXATTR = 13, /* path2 = attribute name */
    KT_OP_MOUNT = 14,     /* path = source, path2 = target, arg0 flags; fstype in aux */
    KT_OP_UMOUNT = 15,    /* path = target, arg0 flags */
    /* identity and permission family: the new credentials are in kt_task */
    KT_OP_SETUID = 16,    /* arg0..2 = requested ids (setuid/setreuid/setresuid/setfsuid) */
    KT_OP_SETGID = 17,    /* arg0..2 = requested ids */
    KT_OP_SETGROUPS = 18, /* arg0 = count */
    KT_OP_CAPSET = 19,    /* arg0 effective, arg1 permitted, arg2 inheritable (after the call) */
    /* kernel module family */
    KT_OP_MODULE_LOAD = 20,   /* finit_module: path = module file; init_module: none; aux = params */
    KT_OP_MODULE_UNLOAD = 21, /* path = module name (plain string), arg0 flags */
    /* process family: a refused exec (successful ones are KT_KIND_EXEC) */
    KT_OP_EXEC = 22,
    KT_OP__MAX = 23,
};

/* How the BPF side reads a path argument (kt_syscall_desc.path_mode). */
enum kt_path_mode {
    KT_PATH_NONE = 0,
    KT_PATH_AT = 1,   /* name in arg name_arg, relative to dirfd in dirfd_arg (-1: cwd) */
    KT_PATH_FD = 2,   /* an open fd in name_arg, resolved from its struct file */
    KT_PATH_USTR = 3, /* a plain user string that is not a path (module name, symlink target) */
};

/* kt_syscall_desc.moves_paths: always, or when arg[num_arg[0]] has AT_REMOVEDIR. */
#define KT_MOVES_PATHS 1
#define KT_MOVES_PATHS_IF_REMOVEDIR 2
#define KT_AT_REMOVEDIR 0x200

/* Which outcomes of a syscall are reported (kt_syscall_desc.report). */
#define KT_REPORT_SUCCESS 0x1
#define KT_REPORT_DENIED 0x2 /* -EACCES, -EPERM */
#define KT_REPORT_ERROR 0x4  /* any other error */

/* Tail-call targets of the sys_exit dispatcher (index into kt_family_progs). */
enum kt_family {
    KT_FAM_OPEN = 0,
    KT_FAM_FILE = 1,
    KT_FAM_CRED = 2,
    KT_FAM_MODULE = 3,
    KT_FAM_EXEC_FAIL = 4,
    KT_FAM__MAX = 5,
};

#define KT_SYSCALL_MAX 512 /* syscall numbers per architecture */
/* 32-bit (ia32) syscalls, made by 32-bit programs or with `int 0x80`, have
 * their own numbers and registers: their descriptors follow the x86_64 ones. */
#define KT_IA32_BASE KT_SYSCALL_MAX
#define KT_SYSCALL_SLOTS (2 * KT_SYSCALL_MAX)
#define KT_TS_COMPAT 0x0002 /* thread_info.status: an ia32 syscall is running */

/* One entry of the syscall table (array map `kt_syscalls`, indexed by the
 * x86_64 syscall number, or KT_IA32_BASE + the ia32 number).
 * op == KT_OP_NONE: not traced. kt_syscall_record.syscall_nr is that index. */
struct kt_syscall_desc {
    __u16 op;
    __u8 family;
    __u8 report;       /* KT_REPORT_* */
    __u8 path_mode[2]; /* for path[0], path[1] of the record */
    __s8 dirfd_arg[2]; /* -1: relative to cwd */
    __s8 name_arg[2];
    __s8 num_arg[4];   /* syscall argument index copied to arg[i], -1 none */
    __s8 aux_arg;      /* a plain user string copied to the record's aux, -1 none */
    __u8 open_how;     /* openat2: flags/mode come from struct open_how at name_arg+1 */
    __u8 moves_paths;  /* KT_MOVES_PATHS*: on success paths of existing files may change */
    __u8 dropped;      /* 1: the agent drops this syscall: no record, though moves_paths still acts */
    __u8 pad[2];
};

/* Common record header. */
struct kt_hdr {
    __u16 kind;  /* enum kt_kind */
    __u16 size;  /* whole record, bytes */
    __u32 cpu;
    __u64 ktime_ns; /* bpf_ktime_get_boot_ns() */
};

/* Who did it: the current task when the record was made. */
struct kt_task {
    __u32 pid; /* tgid */
    __u32 tid;
    __u32 ppid;
    __u32 uid;
    __u32 euid;
    __u32 gid;
    __u32 egid;
    __u32 auid; /* loginuid, (u32)-1 when unset */
    __u32 sessionid;
    __u32 mnt_ns; /* mount namespace inode */
    __u64 cgroup_id;
    __u64 start_ns;        /* group leader's start, boot-time ns */
    __u64 parent_start_ns; /* parent's group leader's start */
    char comm[16];
};

struct kt_str {
    __u16 off; /* from the start of the record; 0 = absent */
    __u16 len; /* without the trailing NUL */
};

/* A path: base (a directory the kernel resolved, absolute and canonical)
 * joined with name (the string the caller passed). For fd-resolved paths
 * name is absent and base is the whole path. */
struct kt_path {
    struct kt_str base;
    struct kt_str name;
};

/* Record flags (kt_*_record.flags). */
#define KT_F_TRUNCATED 0x1   /* a string or argv was cut at its bound */
#define KT_F_CREATED 0x2     /* open created the file (FMODE_CREATED) */
#define KT_F_HAS_INODE 0x4   /* ino/dev are valid */
#define KT_F_PATH_LOST 0x8   /* a path could not be read */

struct kt_syscall_record {
    struct kt_hdr hdr;
    struct kt_task task;
    __s64 result;
    __u32 syscall_nr;
    __u16 op;
    __u16 flags;
    __u64 arg[4];
    __u64 ino;
    __u32 dev;
    __u32 mode; /* i_mode of the object when known */
    struct kt_path path[2];
    struct kt_str aux;
};

struct kt_exec_record {
    struct kt_hdr hdr;
    struct kt_task task;
    __u32 flags;
    __u32 argc;
    __u64 ino;
    __u32 dev;
    __u32 old_pid; /* a non-leader thread that exec'd takes over the leader */
    struct kt_str exe;  /* canonical path of the executable */
    struct kt_str argv; /* NUL-separated arguments */
    struct kt_str cwd;
    struct kt_str filename; /* as passed to execve */
};

struct kt_fork_record {
    struct kt_hdr hdr;
    struct kt_task task; /* the parent */
    __u32 child_pid;
    __u32 child_tid;
    __u64 child_start_ns;
};

struct kt_exit_record {
    struct kt_hdr hdr;
    struct kt_task task;
    __s32 exit_code; /* wait status: (code << 8) | signal */
    __u32 pad;
};

/* Bounds shared by both sides. */
#define KT_STR_MAX 4096       /* one string, NUL included */
#define KT_ARGV_MAX 4096      /* exec arguments, NUL separated */
#define KT_REC_CURSOR_MASK 0x3fff
#define KT_REC_MAX 16384      /* largest record */
#define KT_DATA_LIMIT (KT_REC_MAX - KT_STR_MAX) /* last start of a string */

/* Per-CPU counters (array map `kt_counters`, index = kind * KT_CNT__MAX + cnt). */
enum kt_counter {
    KT_CNT_PRODUCED = 0, /* passed every filter; handed to the ring buffer */
    KT_CNT_DROPPED = 1,  /* the ring buffer was full */
    KT_CNT_FILTERED = 2, /* stopped in the kernel by the path, pid, executable or uid maps */
    KT_CNT__MAX = 3,
};
#define KT_COUNTERS_LEN (KT_KIND__MAX * KT_CNT__MAX)

/* Agent configuration read by every program (array map `kt_config_map`, one entry). */
struct kt_config {
    __u32 agent_pid;         /* never report this process */
    __u8 watched_only;       /* 1: capture only paths under a KT_PF_WATCH prefix */
    __u8 has_path_filter;    /* kt_path_filter has entries (else skip the lookup) */
    __u8 has_excluded_pids;  /* kt_excluded_pids has entries */
    __u8 disabled;           /* KT_DISABLE_*: record kinds not produced at all */
    __u32 generation;        /* bumped when cached directory verdicts may be stale */
    __u8 has_excluded_exes;  /* kt_excluded_exes has entries */
    __u8 has_excluded_uids;  /* kt_excluded_uids has entries */
    __u8 pad2[2];
    __u64 wakeup_bytes;      /* wake the reader once this much data is waiting */
};

/* kt_config.disabled: the process records have a bit each; the syscall
 * families are switched off by leaving them out of kt_syscalls. */
#define KT_DISABLE_EXEC 0x1
#define KT_DISABLE_FORK 0x2
#define KT_DISABLE_EXIT 0x4

/* Syscall records of tasks running an excluded executable (hash map
 * kt_excluded_exes, kt_exe_key -> 1) or with an excluded real uid (hash map
 * kt_excluded_uids, uid -> 1) are not produced. Process records (exec, fork,
 * exit) are: the agent's process table needs them. The executable is
 * mm->exe_file's inode; dev is the kernel's encoding (major << 20 | minor). */
#define KT_EXCLUDED_MAX 4096 /* entries in each of the two maps */
struct kt_exe_key {
    __u64 ino;
    __u32 dev;
    __u32 pad; /* zero */
};

/* In-kernel path filter: LPM trie over the canonical path bytes. The longest
 * matching prefix decides. */
#define KT_PF_WATCH 0x1   /* capture here, reads included */
#define KT_PF_EXCLUDE 0x2 /* capture nothing here */
#define KT_PREFIX_MAX 256
struct kt_prefix_key {
    __u32 prefixlen; /* in bits */
    char path[KT_PREFIX_MAX];
};
struct kt_prefix_value {
    __u32 verdict; /* KT_PF_* that applies here */
    __u16 len;     /* bytes in this prefix */
    __u16 flags;   /* KT_PFV_* */
};
#define KT_PFV_ANCESTOR 0x1 /* a longer prefix lies below this directory */

/* Cache of per-directory verdicts (LRU hash kt_dir_cache): files directly in
 * a directory share its verdict unless a prefix lies below it. Keyed by the
 * directory's dentry and mount (the same dentry has another path through a
 * bind mount); checked against the directory's inode and the generation. */
struct kt_dir_key {
    __u64 dentry;
    __u64 mnt;
};
struct kt_dir_verdict {
    __u64 inode;
    __u32 generation;
    __u32 verdict;
};

#ifdef __cplusplus
#define KT_STATIC_ASSERT static_assert
#else
#define KT_STATIC_ASSERT _Static_assert
#endif
#define KT_OFFSETOF(t, f) __builtin_offsetof(t, f)

KT_STATIC_ASSERT(sizeof(struct kt_hdr) == 16, "kt_hdr layout");
KT_STATIC_ASSERT(sizeof(struct kt_task) == 80, "kt_task layout");
KT_STATIC_ASSERT(KT_OFFSETOF(struct kt_task, comm) == 64, "kt_task layout");
KT_STATIC_ASSERT(sizeof(struct kt_syscall_desc) == 20, "kt_syscall_desc layout");
KT_STATIC_ASSERT(sizeof(struct kt_syscall_record) == 184, "kt_syscall_record layout");
KT_STATIC_ASSERT(KT_OFFSETOF(struct kt_syscall_record, result) == 96, "kt_syscall_record layout");
KT_STATIC_ASSERT(KT_OFFSETOF(struct kt_syscall_record, path) == 160, "kt_syscall_record layout");
KT_STATIC_ASSERT(sizeof(struct kt_exec_record) == 136, "kt_exec_record layout");
KT_STATIC_ASSERT(sizeof(struct kt_fork_record) == 112, "kt_fork_record layout");
KT_STATIC_ASSERT(sizeof(struct kt_exit_record) == 104, "kt_exit_record layout");
KT_STATIC_ASSERT(KT_OFFSETOF(struct kt_syscall_desc, dropped) == 17, "kt_syscall_desc layout");
KT_STATIC_ASSERT(sizeof(struct kt_config) == 24, "kt_config layout");
KT_STATIC_ASSERT(KT_OFFSETOF(struct kt_config, generation) == 8, "kt_config layout");
KT_STATIC_ASSERT(KT_OFFSETOF(struct kt_config, has_excluded_exes) == 12, "kt_config layout");
KT_STATIC_ASSERT(KT_OFFSETOF(struct kt_config, has_excluded_uids) == 13, "kt_config layout");
KT_STATIC_ASSERT(KT_OFFSETOF(struct kt_config, wakeup_bytes) == 16, "kt_config layout");
KT_STATIC_ASSERT(sizeof(struct kt_exe_key) == 16, "kt_exe_key layout");
KT_STATIC_ASSERT(KT_OFFSETOF(struct kt_exe_key, dev) == 8, "kt_exe_key layout");
KT_STATIC_ASSERT(sizeof(struct kt_prefix_value) == 8, "kt_prefix_value layout");
KT_STATIC_ASSERT(sizeof(struct kt_dir_verdict) == 16, "kt_dir_verdict layout");
KT_STATIC_ASSERT(sizeof(struct kt_prefix_key) == 4 + KT_PREFIX_MAX, "kt_prefix_key layout");

#endif /* KTRAIL_WIRE_H */
