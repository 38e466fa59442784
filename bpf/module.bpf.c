// SPDX-License-Identifier: GPL-2.0
/* Kernel module family: init_module, finit_module (the module file),
 * delete_module (the module name). Attempts are recorded whatever the
 * outcome: a refused load is as interesting as a successful one. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/syscall.h"

SEC("raw_tp")
int kt_module_change(struct bpf_raw_tracepoint_args *ctx)
{
    return kt_handle_syscall(ctx);
}
