/* SPDX-License-Identifier: GPL-2.0 */
/* Syscall-exit records. Every traced syscall is seen once, at its exit, by
 * the raw sys_exit tracepoint: the result is known and the arguments are
 * still in the saved user registers, so no enter/exit join map is needed.
 * What each syscall's arguments mean comes from the agent's descriptor table
 * (map `kt_syscalls`), so one generic handler serves most syscalls. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "ktrail/wire.h"
#include "emit.h"
#include "maps.h"
#include "path.h"
#include "task.h"

#define KT_EACCES 13
#define KT_EPERM 1

/* Syscall argument `i` from the saved user registers. */
static __always_inline __u64 kt_arg32(const struct pt_regs *r, int i)
{
    switch (i) {
    case 0: return (__u32)r->bx;
    case 1: return (__u32)r->cx;
    case 2: return (__u32)r->dx;
    case 3: return (__u32)r->si;
    case 4: return (__u32)r->di;
    case 5: return (__u32)r->bp;
    default: return 0;
    }
}

static __always_inline __u64 kt_arg64(const struct pt_regs *r, int i)
{
    switch (i) {
    case 0: return r->di;
    case 1: return r->si;
    case 2: return r->dx;
    case 3: return r->r10;
    case 4: return r->r8;
    case 5: return r->r9;
    default: return 0;
    }
}

#define kt_arg(x, i) ((x)->compat ? kt_arg32((x)->regs, (i)) : kt_arg64((x)->regs, (i)))

static __always_inline bool kt_outcome_wanted(__u8 report, long ret)
{
    if (ret >= 0)
        return report & KT_REPORT_SUCCESS;
    if (ret == -KT_EACCES || ret == -KT_EPERM)
        return report & KT_REPORT_DENIED;
    return report & KT_REPORT_ERROR;
}

/* Everything a syscall handler needs, looked up once. */
struct kt_sys_ctx {
    struct pt_regs *regs; /* the task's saved user registers (BTF: direct loads) */
    struct task_struct *task;
    bool compat;          /* an ia32 syscall */
    __u32 nr;             /* index in kt_syscalls */
    long ret;
    const struct kt_syscall_desc *desc;
    struct kt_config *cfg;
    struct kt_scratch *s;
    struct kt_syscall_record *r;
    __u32 cursor;
};

/* True when the acting task's syscalls are excluded by the agent: its real
 * uid or its executable (mm->exe_file; kernel threads have none) is in the
 * excluded maps. Each lookup runs only when its map has entries. Process
 * records do not ask: the agent's process table needs every exec, fork, exit. */
static __always_inline bool kt_actor_excluded(const struct kt_config *cfg, struct task_struct *task)
{
    if (cfg->has_excluded_uids) {
        __u32 uid = task->cred->uid.val;
        if (bpf_map_lookup_elem(&kt_excluded_uids, &uid))
            return true;
    }
    if (cfg->has_excluded_exes) {
        struct mm_struct *mm = task->mm;
        if (!mm)
            return false;
        struct file *exe = mm->exe_file;
        if (!exe)
            return false;
        struct inode *ino = exe->f_inode;
        struct kt_exe_key key = {.ino = ino->i_ino, .dev = ino->i_sb->s_dev, .pad = 0};
        if (bpf_map_lookup_elem(&kt_excluded_exes, &key))
            return true;
    }
    return false;
}

/* Reads the registers and tables and applies the outcome, pid, uid and
 * executable filters. Returns false when nothing is to be recorded. */
static __always_inline bool kt_sys_prepare(struct kt_sys_ctx *x, struct bpf_raw_tracepoint_args *ctx)
{
    x->ret = (long)ctx->args[1];
    x->s = kt_scratch();
    x->cfg = kt_config();
    if (!x->cfg || !x->s)
        return false;
    x->nr = x->s->sys_index; /* the dispatcher worked out number and arch */
    x->compat = x->s->sys_compat;
    x->desc = bpf_map_lookup_elem(&kt_syscalls, &x->nr);
    if (!x->desc || !kt_outcome_wanted(x->desc->report, x->ret))
        return false;
    x->regs = kt_regs(ctx);
    x->task = bpf_get_current_task_btf();
    if (kt_pid_excluded(x->cfg, x->task->tgid) || kt_actor_excluded(x->cfg, x->task)) {
        kt_count(KT_KIND_SYSCALL, KT_CNT_FILTERED);
        return false;
    }
    return true;
}

/* Starts the record: header, actor, result. */
static __always_inline void kt_sys_record(struct kt_sys_ctx *x)
{
    struct kt_syscall_record *r = (void *)x->s->rec;
    __builtin_memset(r, 0, sizeof(*r));
    kt_fill_hdr(&r->hdr, KT_KIND_SYSCALL);
    kt_fill_task(&r->task);
    r->result = x->ret;
    r->syscall_nr = x->nr;
    r->op = x->desc->op;
    x->r = r;
    x->cursor = sizeof(*r);
}

static __always_inline bool kt_sys_begin(struct kt_sys_ctx *x, struct bpf_raw_tracepoint_args *ctx)
{
    if (!kt_sys_prepare(x, ctx))
        return false;
    kt_sys_record(x);
    return true;
}

static __always_inline void kt_sys_num_args(struct kt_sys_ctx *x)
{
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int a = x->desc->num_arg[i];
        if (a >= 0)
            x->r->arg[i] = kt_arg(x, a);
    }
}

static __always_inline void kt_sys_inode(struct kt_syscall_record *r, struct file *f)
{
    struct inode *ino = f->f_inode;
    r->ino = ino->i_ino;
    r->dev = ino->i_sb->s_dev;
    r->mode = ino->i_mode;
    r->flags |= KT_F_HAS_INODE;
}

/* Appends the path of the open file `fd`. Returns kt_build_path's value, or 0. */
static __always_inline int kt_sys_fd_path(struct kt_sys_ctx *x, struct kt_path *p, long fd)
{
    struct file *f = kt_fd_file(x->task, fd);
    if (!f) {
        x->r->flags |= KT_F_PATH_LOST;
        return 0;
    }
    int built = kt_build_fpath(x->s, &f->f_path);
    kt_put_kpath(x->s, &x->cursor, &p->base, built, &x->r->flags);
    if (!(x->r->flags & KT_F_HAS_INODE))
        kt_sys_inode(x->r, f);
    return built;
}

/* Appends a path given as (dirfd, name): the name as passed and, when it is
 * relative, the directory it is relative to, resolved by the kernel. */
static __always_inline void kt_sys_at_path(struct kt_sys_ctx *x, struct kt_path *p, int dirfd_arg,
                                           int name_arg)
{
    const char *name = (const char *)kt_arg(x, name_arg);
    __u32 c = x->cursor;
    if (kt_put_ustr(x->s, &x->cursor, &p->name, name, &x->r->flags) < 0)
        return;
    if (x->s->rec[c & KT_REC_CURSOR_MASK] == '/')
        return; /* absolute */
    long dirfd = dirfd_arg >= 0 ? (int)kt_arg(x, dirfd_arg) : KT_AT_FDCWD;
    int built;
    if (dirfd == KT_AT_FDCWD) {
        built = kt_build_fpath(x->s, &x->task->fs->pwd);
    } else {
        struct file *f = kt_fd_file(x->task, dirfd);
        if (!f) {
            x->r->flags |= KT_F_PATH_LOST;
            return;
        }
        built = kt_build_fpath(x->s, &f->f_path);
    }
    kt_put_kpath(x->s, &x->cursor, &p->base, built, &x->r->flags);
}

/* Appends path slot `i` as the descriptor says. Returns kt_build_path's
 * value for fd paths (canonical, usable for the path filter), else 0. */
static __always_inline int kt_sys_path(struct kt_sys_ctx *x, int i)
{
    const struct kt_syscall_desc *d = x->desc;
    switch (d->path_mode[i]) {
    case KT_PATH_AT:
        kt_sys_at_path(x, &x->r->path[i], d->dirfd_arg[i], d->name_arg[i]);
        return 0;
    case KT_PATH_FD:
        return kt_sys_fd_path(x, &x->r->path[i], (int)kt_arg(x, d->name_arg[i]));
    case KT_PATH_USTR:
        kt_put_ustr(x->s, &x->cursor, &x->r->path[i].name,
                    (const void *)kt_arg(x, d->name_arg[i]), &x->r->flags);
        return 0;
    default:
        return 0;
    }
}

/* Whether a path with this filter verdict is captured; counts when not. */
static __always_inline bool kt_verdict_allows(struct kt_sys_ctx *x, __u32 verdict, bool is_read)
{
    bool watched = verdict & KT_PF_WATCH;
    if ((verdict & KT_PF_EXCLUDE) || ((is_read || x->cfg->watched_only) && !watched)) {
        kt_count(KT_KIND_SYSCALL, KT_CNT_FILTERED);
        return false;
    }
    return true;
}

/* Applies the path filter to a canonical path kt_build_path produced. */
static __always_inline bool kt_sys_path_allowed(struct kt_sys_ctx *x, int built, bool is_read)
{
    __u32 verdict = 0;
    if (x->cfg->has_path_filter)
        verdict = kt_prefix_verdict(x->s, kt_prefix_key_fill(x->s, built));
    return kt_verdict_allows(x, verdict, is_read);
}

static __always_inline void kt_sys_finish(struct kt_sys_ctx *x)
{
    kt_emit(x->cfg, x->r, x->cursor, KT_KIND_SYSCALL);
}

/* The generic handler: paths and numeric arguments as the descriptor says. */
static __always_inline int kt_handle_syscall(struct bpf_raw_tracepoint_args *ctx)
{
    struct kt_sys_ctx x;
    if (!kt_sys_begin(&x, ctx))
        return 0;
    kt_sys_num_args(&x);
    int built = kt_sys_path(&x, 0);
    if (built && x.ret >= 0 && !kt_sys_path_allowed(&x, built, false))
        return 0;
    kt_sys_path(&x, 1);
    if (x.desc->aux_arg >= 0)
        kt_put_ustr(x.s, &x.cursor, &x.r->aux, (const void *)kt_arg(&x, x.desc->aux_arg),
                    &x.r->flags);
    kt_sys_finish(&x);
    return 0;
}
