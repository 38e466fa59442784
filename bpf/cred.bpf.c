// SPDX-License-Identifier: GPL-2.0
/* Identity and permission family: set*uid, set*gid, setgroups, capset. The
 * record's task part holds the credentials after the call. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "lib/syscall.h"

SEC("raw_tp")
int kt_cred_change(struct bpf_raw_tracepoint_args *ctx)
{
    struct kt_sys_ctx x;
    if (!kt_sys_begin(&x, ctx))
        return 0;
    if (x.desc->op == KT_OP_CAPSET) {
        const struct cred *cred = bpf_get_current_task_btf()->cred;
        x.r->arg[0] = cred->cap_effective.val;
        x.r->arg[1] = cred->cap_permitted.val;
        x.r->arg[2] = cred->cap_inheritable.val;
    } else {
        kt_sys_num_args(&x);
    }
    kt_sys_finish(&x);
    return 0;
}
