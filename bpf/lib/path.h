/* SPDX-License-Identifier: GPL-2.0 */
/* Paths: absolute, canonical paths built in the kernel from a struct path
 * (walking d_parent and crossing mount points), strings appended to the
 * record under construction, and the path filter verdict. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "ktrail/wire.h"
#include "maps.h"

#define KT_PATH_COMPONENTS 64
#define KT_NAME_MASK 0xff /* NAME_MAX is 255 */
#define KT_AT_FDCWD -100

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((void *)(ptr) - __builtin_offsetof(type, member)))
#endif

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* The tracepoint's pt_regs argument as a typed pointer (the cast is inlined). */
static __always_inline struct pt_regs *kt_regs(struct bpf_raw_tracepoint_args *ctx)
{
    return bpf_rdonly_cast((void *)ctx->args[0], bpf_core_type_id_kernel(struct pt_regs));
}

/* The struct mount around a vfsmount (container_of, as a typed pointer). */
static __always_inline struct mount *kt_real_mount(struct vfsmount *vfsmnt)
{
    return bpf_rdonly_cast((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt),
                           bpf_core_type_id_kernel(struct mount));
}

struct kt_walk {
    struct kt_scratch *s;
    struct dentry *dentry;
    struct mount *mnt;
    struct dentry *mnt_root;
    int off;
    int complete;
};

/* One step of the walk (a bpf_loop callback, so the verifier checks it once
 * rather than once per component): crosses a mount point or prepends one
 * component. Kernel objects are read with direct loads; only the name bytes
 * need a helper. Returns 1 to stop. */
static long kt_walk_step(__u64 i, void *ctx)
{
    struct kt_walk *w = ctx;
    struct dentry *dentry = w->dentry;
    struct mount *mnt = w->mnt;
    if (dentry == w->mnt_root) {
        struct mount *parent_mnt = mnt->mnt_parent;
        if (mnt == parent_mnt) {
            w->complete = 1; /* root of the namespace */
            return 1;
        }
        w->dentry = mnt->mnt_mountpoint;
        w->mnt = parent_mnt;
        w->mnt_root = parent_mnt->mnt.mnt_root;
        return 0;
    }
    struct dentry *parent = dentry->d_parent;
    if (!dentry || dentry == parent) {
        w->complete = 1; /* root of a detached or pseudo file system */
        return 1;
    }
    __u32 len = dentry->d_name.len & KT_NAME_MASK;
    const unsigned char *name = dentry->d_name.name;
    int off = w->off;
    if (off < (int)len + 2 || off >= KT_STR_MAX)
        return 1; /* longer than KT_STR_MAX */
    off -= len + 1;
    struct kt_scratch *s = w->s;
    bpf_probe_read_kernel(&s->path[(off + 1) & (KT_STR_MAX - 1)], len, name);
    s->path[off & (KT_STR_MAX - 1)] = '/';
    w->off = off;
    w->dentry = parent;
    return 0;
}

/* Walks from `dentry` up to the root of the mount namespace, writing the
 * components backwards so the path ends at s->path[KT_STR_MAX - 1].
 * Returns the start offset, negated when the walk did not reach the root. */
static __always_inline int kt_build_path(struct kt_scratch *s, struct dentry *dentry,
                                         struct vfsmount *vfsmnt)
{
    struct kt_walk w = {
        .s = s,
        .dentry = dentry,
        .mnt = kt_real_mount(vfsmnt),
        .mnt_root = vfsmnt->mnt_root,
        .off = KT_STR_MAX - 1,
        .complete = 0,
    };
    s->path[KT_STR_MAX - 1] = 0;
    bpf_loop(KT_PATH_COMPONENTS, kt_walk_step, &w, 0);
    int off = w.off;
    if (off == KT_STR_MAX - 1) {
        off--;
        s->path[KT_STR_MAX - 2] = '/';
    }
    return w.complete ? off : -off;
}

static __always_inline int kt_build_fpath(struct kt_scratch *s, const struct path *p)
{
    return kt_build_path(s, p->dentry, p->mnt);
}

/* The struct file behind `fd` in `task` (the current task), or NULL. */
static __always_inline struct file *kt_fd_file(struct task_struct *task, long fd)
{
    struct fdtable *fdt = task->files->fdt;
    if (fd < 0 || fd >= fdt->max_fds)
        return NULL;
    struct file *f = NULL;
    bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]);
    if (!f)
        return NULL;
    return bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file));
}

/* Appends the path built by kt_build_path (returned `built`) to the record. */
static __always_inline void kt_put_kpath(struct kt_scratch *s, __u32 *cursor, struct kt_str *str,
                                         int built, __u16 *flags)
{
    __u32 c = *cursor;
    if (built < 0) {
        *flags |= KT_F_TRUNCATED;
        built = -built;
    }
    if (c > KT_DATA_LIMIT || built <= 0 || built >= KT_STR_MAX) {
        *flags |= KT_F_PATH_LOST;
        return;
    }
    __u32 len = KT_STR_MAX - built; /* NUL included */
    if (len > KT_STR_MAX || len < 2)
        return;
    bpf_probe_read_kernel(&s->rec[c & KT_REC_CURSOR_MASK], len, &s->path[built & (KT_STR_MAX - 1)]);
    str->off = c;
    str->len = len - 1;
    *cursor = c + len;
}

/* Appends a NUL-terminated user string to the record. Returns its length. */
static __always_inline long kt_put_ustr(struct kt_scratch *s, __u32 *cursor, struct kt_str *str,
                                        const void *uptr, __u16 *flags)
{
    __u32 c = *cursor;
    if (c > KT_DATA_LIMIT) {
        *flags |= KT_F_TRUNCATED;
        return -1;
    }
    long n = bpf_probe_read_user_str(&s->rec[c & KT_REC_CURSOR_MASK], KT_STR_MAX, uptr);
    if (n <= 0) {
        *flags |= KT_F_PATH_LOST;
        return -1;
    }
    if (n == KT_STR_MAX)
        *flags |= KT_F_TRUNCATED;
    str->off = c;
    str->len = n - 1;
    *cursor = c + n;
    return n - 1;
}

/* Copies the path kt_build_path produced into the filter key. Returns its
 * length without the NUL (the key holds at most KT_PREFIX_MAX bytes of it). */
static __always_inline __u32 kt_prefix_key_fill(struct kt_scratch *s, int built)
{
    if (built < 0)
        built = -built;
    if (built <= 0 || built >= KT_STR_MAX)
        return 0;
    __u32 len = KT_STR_MAX - 1 - built;
    __u32 copy = len > KT_PREFIX_MAX ? KT_PREFIX_MAX : len;
    bpf_probe_read_kernel(s->key.path, copy & 0x1ff, &s->path[built & (KT_STR_MAX - 1)]);
    return len;
}

/* The filter's verdict (KT_PF_*) for the first `len` bytes of the key. */
static __always_inline __u32 kt_prefix_verdict(struct kt_scratch *s, __u32 len)
{
    s->key.prefixlen = (len > KT_PREFIX_MAX ? KT_PREFIX_MAX : len) * 8;
    struct kt_prefix_value *v = bpf_map_lookup_elem(&kt_path_filter, &s->key);
    return v ? v->verdict : 0;
}

/* The verdict every file directly in a directory shares, the directory being
 * the first `dirlen` bytes of the key (its trailing '/' included); -1 when a
 * longer prefix lies below it, so its files do not share one. */
static __always_inline long kt_dir_shared_verdict(struct kt_scratch *s, __u32 dirlen)
{
    if (dirlen == 0 || dirlen > KT_PREFIX_MAX)
        return -1;
    s->key.prefixlen = dirlen * 8;
    struct kt_prefix_value *v = bpf_map_lookup_elem(&kt_path_filter, &s->key);
    if (!v)
        return 0;
    if ((v->flags & KT_PFV_ANCESTOR) && v->len == dirlen)
        return -1;
    return v->verdict;
}

static __always_inline bool kt_dir_fresh(const struct kt_dir_verdict *v, __u32 generation, __u64 inode)
{
    return v->generation == generation && v->inode == inode;
}

/* The cached verdict of the directory an open file is in: >= 0 the verdict,
 * -1 not cached, -2 not cacheable (the file is itself a mount root). */
static __always_inline long kt_dir_cached(struct kt_scratch *s, struct file *f, __u32 generation,
                                          struct kt_dir_key *k, __u64 *dir_inode)
{
    struct dentry *d = f->f_path.dentry;
    struct vfsmount *mnt = f->f_path.mnt;
    if (d == mnt->mnt_root)
        return -2;
    struct dentry *dir = d->d_parent;
    k->dentry = (__u64)dir;
    k->mnt = (__u64)mnt;
    *dir_inode = (__u64)dir->d_inode;
    if (s->last_dir.dentry == k->dentry && s->last_dir.mnt == k->mnt &&
        kt_dir_fresh(&s->last_verdict, generation, *dir_inode))
        return s->last_verdict.verdict;
    struct kt_dir_verdict *v = bpf_map_lookup_elem(&kt_dir_cache, k);
    if (v && kt_dir_fresh(v, generation, *dir_inode)) {
        s->last_dir = *k;
        s->last_verdict = *v;
        return v->verdict;
    }
    return -1;
}

static __always_inline void kt_dir_remember(struct kt_scratch *s, const struct kt_dir_key *k,
                                            const struct kt_dir_verdict *v)
{
    bpf_map_update_elem(&kt_dir_cache, k, v, BPF_ANY);
    s->last_dir = *k;
    s->last_verdict = *v;
}
