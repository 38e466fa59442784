// SPDX-License-Identifier: GPL-2.0
/* Process family: exec (the new image, its arguments and cwd), fork of a new
 * process, exit of its last thread, and execs refused with EACCES/EPERM. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "lib/emit.h"
#include "lib/path.h"
#include "lib/syscall.h"
#include "lib/task.h"

/* Returns the config when this kind is on and the current process's events
 * are to be produced. */
static __always_inline struct kt_config *kt_process_begin(__u32 kind, __u8 disable_bit)
{
    struct kt_config *cfg = kt_config();
    if (!cfg || (cfg->disabled & disable_bit))
        return NULL;
    if (kt_pid_excluded(cfg, bpf_get_current_pid_tgid() >> 32)) {
        kt_count(kind, KT_CNT_FILTERED);
        return NULL;
    }
    return cfg;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(kt_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    struct kt_config *cfg = kt_process_begin(KT_KIND_EXEC, KT_DISABLE_EXEC);
    struct kt_scratch *s = kt_scratch();
    if (!cfg || !s)
        return 0;
    struct kt_exec_record *r = (void *)s->rec;
    __builtin_memset(r, 0, sizeof(*r));
    kt_fill_hdr(&r->hdr, KT_KIND_EXEC);
    kt_fill_task(&r->task);
    r->old_pid = old_pid;
    r->argc = bprm->argc;
    __u32 cursor = sizeof(*r);
    __u16 flags = 0;

    struct file *exe = bprm->file;
    kt_put_kpath(s, &cursor, &r->exe, kt_build_fpath(s, &exe->f_path), &flags);
    r->ino = exe->f_inode->i_ino;
    r->dev = exe->f_inode->i_sb->s_dev;

    /* Arguments live in the new image's stack: [arg_start, arg_end). */
    struct mm_struct *mm = p->mm;
    unsigned long start = mm->arg_start;
    unsigned long end = mm->arg_end;
    __u32 len = end > start ? end - start : 0;
    if (len > KT_ARGV_MAX) {
        len = KT_ARGV_MAX;
        flags |= KT_F_TRUNCATED;
    }
    if (cursor <= KT_DATA_LIMIT && len > 0 &&
        !bpf_probe_read_user(&s->rec[cursor & KT_REC_CURSOR_MASK], len, (void *)start)) {
        r->argv.off = cursor;
        r->argv.len = len;
        cursor += len;
    }

    kt_put_kpath(s, &cursor, &r->cwd, kt_build_fpath(s, &p->fs->pwd), &flags);

    const char *filename = bprm->filename;
    if (cursor <= KT_DATA_LIMIT) {
        long n = bpf_probe_read_kernel_str(&s->rec[cursor & KT_REC_CURSOR_MASK], KT_STR_MAX, filename);
        if (n > 0) {
            r->filename.off = cursor;
            r->filename.len = n - 1;
            cursor += n;
        }
    }
    r->flags = flags;
    kt_emit(cfg, r, cursor, KT_KIND_EXEC);
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(kt_fork, struct task_struct *parent, struct task_struct *child)
{
    __u32 child_pid = child->tgid;
    if (child_pid != child->pid)
        return 0; /* a new thread, not a new process */
    struct kt_config *cfg = kt_process_begin(KT_KIND_FORK, KT_DISABLE_FORK);
    struct kt_scratch *s = kt_scratch();
    if (!cfg || !s)
        return 0;
    struct kt_fork_record *r = (void *)s->rec;
    __builtin_memset(r, 0, sizeof(*r));
    kt_fill_hdr(&r->hdr, KT_KIND_FORK);
    kt_fill_task(&r->task);
    r->child_pid = child_pid;
    r->child_tid = child_pid;
    r->child_start_ns = child->start_boottime;
    kt_emit(cfg, r, sizeof(*r), KT_KIND_FORK);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(kt_exit, struct task_struct *p)
{
    if (p->signal->live.counter != 0)
        return 0; /* other threads of the process still run */
    struct kt_config *cfg = kt_process_begin(KT_KIND_EXIT, KT_DISABLE_EXIT);
    struct kt_scratch *s = kt_scratch();
    if (!cfg || !s)
        return 0;
    struct kt_exit_record *r = (void *)s->rec;
    __builtin_memset(r, 0, sizeof(*r));
    kt_fill_hdr(&r->hdr, KT_KIND_EXIT);
    kt_fill_task(&r->task);
    r->exit_code = p->exit_code;
    kt_emit(cfg, r, sizeof(*r), KT_KIND_EXIT);
    return 0;
}

/* execve/execveat that the kernel refused (EACCES, EPERM): the program that
 * was not allowed to run. Successful execs are reported by kt_exec. */
SEC("raw_tp")
int kt_exec_refused(struct bpf_raw_tracepoint_args *ctx)
{
    return kt_handle_syscall(ctx);
}
