#!/usr/bin/env bash
# Regenerates bpf/vmlinux/x86/vmlinux.h from the running kernel's BTF.
# CO-RE relocations make the committed header work on other kernels too;
# regenerate only to use kernel types the header lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux/x86/vmlinux.h
echo "wrote bpf/vmlinux/x86/vmlinux.h from $(uname -r)"
