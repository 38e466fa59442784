#include "source/bpf/path_resolver.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <vector>

#include "util/host_root.h"

namespace ktrail::bpf {
namespace {

// `p` (absolute) resolved under root_fd, every symlink followed: the path the
// kernel gives the object it reaches (/proc/self/fd/N); empty if none.
std::string real_path(int root_fd, const std::string& p) {
    int fd = open_in_root(root_fd, p, true);
    if (fd < 0) return {};
    char link[32];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    char buf[PATH_MAX];
    ssize_t n = readlink(link, buf, sizeof(buf));
    std::string out;
    if (n > 0 && n < static_cast<ssize_t>(sizeof(buf)) && buf[0] == '/') {
        out.assign(buf, static_cast<size_t>(n));
        // Removed since it was looked up (realpath would have failed): the
        // kernel appends " (deleted)" to the name it had.
        struct stat st{};
        if (out.ends_with(" (deleted)") && fstat(fd, &st) == 0 && st.st_nlink == 0) out.clear();
    }
    close(fd);
    return out;
}

std::string join(std::string_view dir, std::string_view leaf) {
    std::string out(dir);
    if (out.empty() || out.back() != '/') out += '/';
    out += leaf;
    return out;
}

}  // namespace

std::string lexically_normal(std::string_view path) {
    bool absolute = !path.empty() && path[0] == '/';
    std::vector<std::string_view> parts;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        std::string_view part = path.substr(i, j - i);
        if (part.empty() || part == ".") {
        } else if (part == "..") {
            if (!parts.empty() && parts.back() != "..") parts.pop_back();
            else if (!absolute) parts.push_back(part);
        } else {
            parts.push_back(part);
        }
        i = j + 1;
    }
    std::string out = absolute ? "/" : "";
    for (size_t k = 0; k < parts.size(); ++k) {
        if (k) out += '/';
        out += parts[k];
    }
    if (out.empty()) out = ".";
    return out;
}

std::string resolve_path(std::string_view base, std::string_view name, bool follow, int root_fd) {
    std::string joined;
    if (!name.empty() && name[0] == '/') joined = name;
    else if (name.empty()) joined = base;
    else if (base.empty()) joined = name;  // the kernel could not resolve the base
    else joined = join(base, name);

    if (root_fd >= 0 && !joined.empty() && joined[0] == '/') {
        if (follow) {
            if (auto r = real_path(root_fd, joined); !r.empty()) return r;
        }
        // Resolve the directory; keep the last component as it was named
        // (it may be gone, or be a symlink the call did not follow).
        std::string trimmed = joined;
        while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
        size_t slash = trimmed.rfind('/');
        std::string_view leaf = std::string_view(trimmed).substr(slash + 1);
        if (leaf != "." && leaf != ".." && !leaf.empty()) {
            std::string dir = slash == 0 ? "/" : trimmed.substr(0, slash);
            if (auto r = real_path(root_fd, dir); !r.empty()) return join(r, leaf);
        }
    }
    return lexically_normal(joined);
}

}  // namespace ktrail::bpf
