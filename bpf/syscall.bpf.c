// SPDX-License-Identifier: GPL-2.0
/* The one program on the raw sys_exit tracepoint. Untraced syscalls cost two
 * array lookups; traced ones tail-call into their family's program; dropped
 * ones (kt_syscall_desc.dropped) stop here. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "lib/emit.h"
#include "lib/maps.h"
#include "lib/syscall.h"

SEC("raw_tp/sys_exit")
int kt_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
    struct kt_sys_ctx x = {};
    x.regs = kt_regs(ctx);
    __u32 nr = (__u32)x.regs->orig_ax;
    if (nr >= KT_SYSCALL_MAX)
        return 0;
    /* The same number means different calls on x86_64 and ia32: find out
     * which only when either could be traced (one helper call saved on the
     * untraced majority). */
    __u32 nr32 = nr + KT_IA32_BASE;
    struct kt_syscall_desc *d = bpf_map_lookup_elem(&kt_syscalls, &nr);
    struct kt_syscall_desc *d32 = bpf_map_lookup_elem(&kt_syscalls, &nr32);
    if ((!d || !d->op) && (!d32 || !d32->op))
        return 0;
    x.compat = bpf_get_current_task_btf()->thread_info.status & KT_TS_COMPAT;
    if (x.compat) {
        d = d32;
        nr = nr32;
    }
    struct kt_scratch *s = kt_scratch();
    if (!d || !d->op || !s)
        return 0;
    s->sys_index = nr;
    s->sys_compat = x.compat;
    /* Renames, rmdirs and mounts change what path a directory has: cached
     * directory verdicts must go, whoever made the call. */
    if (d->moves_paths && (long)ctx->args[1] >= 0) {
        if (d->moves_paths == KT_MOVES_PATHS || (kt_arg(&x, d->num_arg[0]) & KT_AT_REMOVEDIR)) {
            struct kt_config *cfg = kt_config();
            if (cfg)
                __sync_fetch_and_add(&cfg->generation, 1);
        }
    }
    /* Dropped by the agent's rules: nothing to record (the bump above
     * still had to happen). */
    if (d->dropped)
        return 0;
    bpf_tail_call(ctx, &kt_family_progs, d->family);
    return 0;
}
