/* SPDX-License-Identifier: GPL-2.0 */
/* Who is acting: fills struct kt_task from the current task. Fields are read
 * with direct (BTF, fault-safe) loads, not one probe-read helper call each:
 * this runs for every record. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "ktrail/wire.h"

static __always_inline void kt_fill_task(struct kt_task *t)
{
    struct task_struct *task = bpf_get_current_task_btf();
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    t->pid = pid_tgid >> 32;
    t->tid = (__u32)pid_tgid;

    struct task_struct *parent = task->real_parent;
    t->ppid = parent->tgid;
    t->parent_start_ns = parent->group_leader->start_boottime;
    t->start_ns = task->group_leader->start_boottime;

    const struct cred *cred = task->cred;
    t->uid = cred->uid.val;
    t->euid = cred->euid.val;
    t->gid = cred->gid.val;
    t->egid = cred->egid.val;
    t->auid = task->loginuid.val;
    t->sessionid = task->sessionid;
    t->mnt_ns = task->nsproxy->mnt_ns->ns.inum;
    t->cgroup_id = bpf_get_current_cgroup_id();
    bpf_get_current_comm(t->comm, sizeof(t->comm));
}
