// Turns the (base, name) pairs of BPF records into absolute, canonical paths.
//
// The kernel side resolves what it can from kernel objects: the file behind
// an fd, and the directory (dirfd or cwd) a relative name is relative to.
// The name itself is a string the caller passed; its `.`, `..` and symlinks
// are resolved here, against the file system as it is now, which is what the
// kernel saw unless the tree changed in between. Where that is impossible
// (the directory is gone, another mount namespace), the path is normalized
// lexically.
#pragma once

#include <string>
#include <string_view>

namespace ktrail::bpf {

// `a/./b//../c` -> `a/c`, keeping a leading '/' and never climbing above it.
std::string lexically_normal(std::string_view path);

// base: absolute directory resolved by the kernel (may be empty when the name
// is absolute); name: as passed to the syscall (may be empty: the base itself).
// follow: the syscall followed a final symlink. resolve_fs: this process sees
// the same mount namespace as the agent, so the file system may be consulted.
std::string resolve_path(std::string_view base, std::string_view name, bool follow, bool resolve_fs);

}  // namespace ktrail::bpf
