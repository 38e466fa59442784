/* SPDX-License-Identifier: GPL-2.0 */
/* Who is acting: fills struct kt_task from the current task. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "ktrail/wire.h"

static __always_inline void kt_fill_task(struct kt_task *t)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    t->pid = pid_tgid >> 32;
    t->tid = (__u32)pid_tgid;

    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    t->ppid = BPF_CORE_READ(parent, tgid);
    t->parent_start_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
    t->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);

    const struct cred *cred = BPF_CORE_READ(task, cred);
    t->uid = BPF_CORE_READ(cred, uid.val);
    t->euid = BPF_CORE_READ(cred, euid.val);
    t->gid = BPF_CORE_READ(cred, gid.val);
    t->egid = BPF_CORE_READ(cred, egid.val);
    t->auid = BPF_CORE_READ(task, loginuid.val);
    t->sessionid = BPF_CORE_READ(task, sessionid);
    t->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
    t->cgroup_id = bpf_get_current_cgroup_id();
    bpf_get_current_comm(t->comm, sizeof(t->comm));
}
