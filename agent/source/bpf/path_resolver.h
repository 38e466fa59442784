// Turns the (base, name) pairs of BPF records into absolute, canonical paths.
//
// The kernel side resolves what it can from kernel objects: the file behind
// an fd, and the directory (dirfd or cwd) a relative name is relative to.
// The name itself is a string the caller passed; its `.`, `..` and symlinks
// are resolved here, against the file system as it is now, which is what the
// kernel saw unless the tree changed in between. The lookup starts at the
// host's root (util/host_root.h), not ktraild's own, so ktraild may run in a
// mount namespace of its own. Where that is impossible (the directory is
// gone, another mount namespace), the path is normalized lexically.
#pragma once

#include <string>
#include <string_view>

namespace ktrail::bpf {

// `a/./b//../c` -> `a/c`, keeping a leading '/' and never climbing above it.
std::string lexically_normal(std::string_view path);

// No file system lookups: lexical normalization only.
inline constexpr int kLexicalOnly = -1;

// base: absolute directory resolved by the kernel (may be empty when the name
// is absolute); name: as passed to the syscall (may be empty: the base itself).
// follow: the syscall followed a final symlink. root_fd: the directory that
// is "/" for the process (the host's root, when it is in the host's mount
// namespace), or kLexicalOnly. The result is the path as the kernel names
// the object from the root of its mount namespace: for the host's root, the
// host's path, whatever namespace ktraild runs in.
std::string resolve_path(std::string_view base, std::string_view name, bool follow, int root_fd);
// (The last argument was a bool once: refuse one.)
std::string resolve_path(std::string_view, std::string_view, bool, bool) = delete;

}  // namespace ktrail::bpf
