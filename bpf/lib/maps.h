/* SPDX-License-Identifier: GPL-2.0 */
/* Maps shared by every program. Each family is compiled on its own and the
 * objects are linked with `bpftool gen object`; __weak lets the linker merge
 * the identical definitions into one map. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ktrail/wire.h"

/* Records to the agent. The agent sizes it before load. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 * 1024 * 1024);
} kt_events SEC(".maps") __weak;

struct kt_scratch {
    /* Set by the sys_exit dispatcher for the program it tail-calls (BPF
     * syscall-tracepoint probes run with preemption disabled). */
    __u32 sys_index; /* index in kt_syscalls */
    __u32 sys_compat; /* an ia32 syscall */
    /* This CPU's last directory verdict: bursts stay in one directory, and
     * this is cheaper than the shared LRU hash. */
    struct kt_dir_key last_dir;
    struct kt_dir_verdict last_verdict;
    __u8 rec[KT_REC_MAX + KT_STR_MAX]; /* the record being built */
    __u8 path[2 * KT_STR_MAX];         /* a path built backwards from its leaf */
    struct kt_prefix_key key;          /* LPM lookup key */
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct kt_scratch);
} kt_scratch_map SEC(".maps") __weak;

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, KT_COUNTERS_LEN);
    __type(key, __u32);
    __type(value, __u64);
} kt_counters SEC(".maps") __weak;

/* mmap-able: the agent changes single fields at run time (flags, and
 * generation with an atomic add the programs' own bumps cannot undo). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct kt_config);
} kt_config_map SEC(".maps") __weak;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, KT_SYSCALL_SLOTS);
    __type(key, __u32);
    __type(value, struct kt_syscall_desc);
} kt_syscalls SEC(".maps") __weak;

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 16384);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct kt_prefix_key);
    __type(value, struct kt_prefix_value);
} kt_path_filter SEC(".maps") __weak;

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct kt_dir_key);
    __type(value, struct kt_dir_verdict);
} kt_dir_cache SEC(".maps") __weak;

/* Processes whose events are never produced (tgid -> 1). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u8);
} kt_excluded_pids SEC(".maps") __weak;

/* Executables whose tasks make no syscall records (kt_exe_key -> 1). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, KT_EXCLUDED_MAX);
    __type(key, struct kt_exe_key);
    __type(value, __u8);
} kt_excluded_exes SEC(".maps") __weak;

/* Real uids whose tasks make no syscall records (uid -> 1). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, KT_EXCLUDED_MAX);
    __type(key, __u32);
    __type(value, __u8);
} kt_excluded_uids SEC(".maps") __weak;

/* The sys_exit dispatcher tail-calls into these, indexed by enum kt_family. */
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, KT_FAM__MAX);
    __type(key, __u32);
    __type(value, __u32);
} kt_family_progs SEC(".maps") __weak;
