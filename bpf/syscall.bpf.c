// SPDX-License-Identifier: GPL-2.0
/* The one program on the raw sys_exit tracepoint. Untraced syscalls cost an
 * array lookup; traced ones tail-call into their family's program. */
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
    x.regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
    __u32 nr = kt_syscall_index(x.regs, &x.compat);
    struct kt_syscall_desc *d = bpf_map_lookup_elem(&kt_syscalls, &nr);
    if (!d || !d->op)
        return 0;
    /* Renames, rmdirs and mounts change what path a directory has: cached
     * directory verdicts must go, whoever made the call. */
    if (d->moves_paths && (long)ctx->args[1] >= 0) {
        if (d->moves_paths == KT_MOVES_PATHS || (kt_arg(&x, d->num_arg[0]) & KT_AT_REMOVEDIR)) {
            struct kt_config *cfg = kt_config();
            if (cfg)
                __sync_fetch_and_add(&cfg->generation, 1);
        }
    }
    bpf_tail_call(ctx, &kt_family_progs, d->family);
    return 0;
}
