/* SPDX-License-Identifier: GPL-2.0 */
/* Counting and handing records to the ring buffer. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ktrail/wire.h"
#include "maps.h"

static __always_inline void kt_count(__u32 kind, __u32 counter)
{
    __u32 idx = kind * KT_CNT__MAX + counter;
    __u64 *v = bpf_map_lookup_elem(&kt_counters, &idx);
    if (v)
        *v += 1;
}

static __always_inline struct kt_config *kt_config(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&kt_config_map, &zero);
}

static __always_inline struct kt_scratch *kt_scratch(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&kt_scratch_map, &zero);
}

/* True when this process's events must never be produced: the agent
 * itself, and any pid the agent excluded. */
static __always_inline bool kt_pid_excluded(const struct kt_config *cfg, __u32 tgid)
{
    return tgid == cfg->agent_pid || (cfg->has_excluded_pids && bpf_map_lookup_elem(&kt_excluded_pids, &tgid));
}

/* Copies a finished record of `size` bytes to the ring buffer. Readers are
 * woken only once wakeup_bytes are waiting: a wake-up per record triples the
 * cost of capture; the agent polls on a short timer for the rest. */
static __always_inline void kt_emit(const struct kt_config *cfg, void *rec, __u32 size, __u32 kind)
{
    if (size > KT_REC_MAX)
        return;
    ((struct kt_hdr *)rec)->size = size;
    kt_count(kind, KT_CNT_PRODUCED);
    __u64 flags = BPF_RB_NO_WAKEUP;
    if (bpf_ringbuf_query(&kt_events, BPF_RB_AVAIL_DATA) + size >= cfg->wakeup_bytes)
        flags = BPF_RB_FORCE_WAKEUP;
    if (bpf_ringbuf_output(&kt_events, rec, size, flags))
        kt_count(kind, KT_CNT_DROPPED);
}

static __always_inline void kt_fill_hdr(struct kt_hdr *h, __u16 kind)
{
    h->kind = kind;
    h->cpu = bpf_get_smp_processor_id();
    h->ktime_ns = bpf_ktime_get_boot_ns();
}
