// SPDX-License-Identifier: GPL-2.0
/* File family: opens that write, create or truncate (reads only under
 * watched paths), and every name- or fd-based change to the file system. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "lib/syscall.h"

#define KT_O_ACCMODE 03
#define KT_O_CREAT 0100
#define KT_O_TRUNC 01000
#define KT_FMODE_CREATED 0x100000
#define KT_OPEN_HOW 1 /* openat2: flags and mode in struct open_how */
#define KT_CREAT 2    /* creat(2): implied flags */

SEC("raw_tp")
int kt_file_open(struct bpf_raw_tracepoint_args *ctx)
{
    struct kt_sys_ctx x;
    if (!kt_sys_prepare(&x, ctx))
        return 0;
    const struct kt_syscall_desc *d = x.desc;
    __u64 flags, mode;
    if (d->open_how == KT_OPEN_HOW) {
        struct open_how how = {};
        bpf_probe_read_user(&how, sizeof(how), (void *)kt_arg(&x, d->num_arg[0]));
        flags = how.flags;
        mode = how.mode;
    } else if (d->open_how == KT_CREAT) {
        flags = 01 | KT_O_CREAT | KT_O_TRUNC;
        mode = kt_arg(&x, d->num_arg[1]);
    } else {
        flags = kt_arg(&x, d->num_arg[0]);
        mode = kt_arg(&x, d->num_arg[1]);
    }
    bool is_read = (flags & KT_O_ACCMODE) == 0 && !(flags & (KT_O_CREAT | KT_O_TRUNC));

    if (x.ret < 0) {
        /* Refused: there is no file; record the name as the caller gave it. */
        kt_sys_record(&x);
        x.r->arg[0] = flags;
        x.r->arg[1] = mode;
        kt_sys_at_path(&x, &x.r->path[0], d->dirfd_arg[0], d->name_arg[0]);
        kt_sys_finish(&x);
        return 0;
    }
    struct file *f = kt_fd_file(x.task, x.ret);
    if (!f)
        return 0;
    /* Decide before building the record: most opens are not captured, and
     * most are decided without walking their path. */
    int built;
    if (!x.cfg->has_path_filter) {
        if (!kt_verdict_allows(&x, 0, is_read))
            return 0;
        built = kt_build_fpath(x.s, &f->f_path);
    } else {
        /* Files directly in a directory usually share its verdict: cached. */
        struct kt_dir_key dk = {};
        __u64 dir_inode = 0;
        __u32 generation = x.cfg->generation; /* before the walk: a bump during it wins */
        long cached = kt_dir_cached(x.s, f, generation, &dk, &dir_inode);
        if (cached >= 0 && !kt_verdict_allows(&x, cached, is_read))
            return 0;
        built = kt_build_fpath(x.s, &f->f_path);
        if (cached < 0) {
            __u32 len = kt_prefix_key_fill(x.s, built);
            __u32 verdict = kt_prefix_verdict(x.s, len);
            __u32 leaf = f->f_path.dentry->d_name.len;
            if (cached == -1 && built > 0 && len > leaf) {
                long shared = kt_dir_shared_verdict(x.s, len - leaf);
                if (shared >= 0) {
                    struct kt_dir_verdict v = {.inode = dir_inode, .generation = generation, .verdict = shared};
                    kt_dir_remember(x.s, &dk, &v);
                }
            }
            if (!kt_verdict_allows(&x, verdict, is_read))
                return 0;
        }
    }
    kt_sys_record(&x);
    x.r->arg[0] = flags;
    x.r->arg[1] = mode;
    kt_put_kpath(x.s, &x.cursor, &x.r->path[0].base, built, &x.r->flags);
    kt_sys_inode(x.r, f);
    if (f->f_mode & KT_FMODE_CREATED)
        x.r->flags |= KT_F_CREATED;
    kt_sys_finish(&x);
    return 0;
}

SEC("raw_tp")
int kt_file_change(struct bpf_raw_tracepoint_args *ctx)
{
    return kt_handle_syscall(ctx);
}
