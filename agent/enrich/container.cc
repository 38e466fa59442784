#include "enrich/container.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace ktrail {
namespace {

bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// "docker-ID.scope", "libpod-ID.scope", "cri-containerd-ID.scope",
// "crio-ID.scope", "ID": the id is what follows the last '-' or ':'.
// Runtime helpers (conmon) are named after their container but are not in it.
std::string_view id_in_component(std::string_view c) {
    if (c.ends_with(".scope")) c.remove_suffix(6);
    if (c.find("conmon") != std::string_view::npos) return {};
    size_t cut = c.find_last_of("-:");
    std::string_view id = cut == std::string_view::npos ? c : c.substr(cut + 1);
    return is_hex64(id) ? id : std::string_view();
}

}  // namespace

std::string container_id_from_cgroup_path(std::string_view path) {
    while (!path.empty()) {
        size_t slash = path.rfind('/');
        std::string_view component = slash == std::string_view::npos ? path : path.substr(slash + 1);
        if (auto id = id_in_component(component); !id.empty()) return std::string(id);
        if (slash == std::string_view::npos) break;
        path = path.substr(0, slash);
    }
    return {};
}

std::string container_id_from_proc(uint32_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    std::string line;
    // "hierarchy-id:controllers:path"; the path may itself hold ':'.
    while (std::getline(in, line)) {
        size_t a = line.find(':');
        size_t b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        if (auto id = container_id_from_cgroup_path(std::string_view(line).substr(b + 1)); !id.empty()) return id;
    }
    return {};
}

CgroupContainers::CgroupContainers() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
    while (std::getline(in, line)) {
        size_t dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream post(line.substr(dash + 3));
        std::string fstype;
        post >> fstype;
        if (fstype == "cgroup") v1_present_ = true;
        if (fstype != "cgroup2" || mount_fd_ >= 0) continue;
        std::istringstream pre(line.substr(0, dash));
        std::string id, parent, dev, root, point;
        pre >> id >> parent >> dev >> root >> point;
        int fd = open(point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) continue;
        mount_fd_ = fd;
        mount_point_ = point;
        mount_root_ = root == "/" ? "" : root;
    }
}

CgroupContainers::~CgroupContainers() {
    if (mount_fd_ >= 0) close(mount_fd_);
}

std::string CgroupContainers::path_of(uint64_t cgroup_id) const {
    if (mount_fd_ < 0 || cgroup_id == 0) return {};
    // kernfs file handles are the node id: cgroup ids are exactly that.
    struct {
        file_handle fh;
        uint64_t id;
    } h{};
    h.fh.handle_bytes = sizeof(uint64_t);
    h.fh.handle_type = 0xfe;  // FILEID_KERNFS
    h.id = cgroup_id;
    int fd = open_by_handle_at(mount_fd_, &h.fh, O_PATH | O_CLOEXEC);
    if (fd < 0) return {};  // removed since (ESTALE), or not under this mount
    char link[40], buf[4096];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, sizeof(buf));
    close(fd);
    if (n <= 0) return {};
    std::string_view p(buf, static_cast<size_t>(n));
    if (!p.starts_with(mount_point_)) return {};
    p.remove_prefix(mount_point_.size());
    return mount_root_ + (p.empty() ? "/" : std::string(p));
}

const std::string& CgroupContainers::container_for(uint64_t cgroup_id) {
    auto it = cache_.find(cgroup_id);
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxEntries) cache_.clear();
    return cache_[cgroup_id] = container_id_from_cgroup_path(path_of(cgroup_id));
}

}  // namespace ktrail
