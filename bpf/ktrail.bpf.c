// SPDX-License-Identifier: GPL-2.0
/* ktrail's BPF programs: one source file per event family, compiled as one
 * unit. (Separate objects linked with `bpftool gen object` would be the
 * natural build, but libbpf 1.1's static linker cannot merge a kfunc extern
 * such as bpf_rdonly_cast that several objects use.) */
#include "syscall.bpf.c"
#include "file.bpf.c"
#include "cred.bpf.c"
#include "module.bpf.c"
#include "process.bpf.c"

char LICENSE[] SEC("license") = "GPL";
