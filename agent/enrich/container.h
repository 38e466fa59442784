// Which container a process runs in, from its cgroup path: docker, podman,
// containerd and CRI-O name their cgroups after the 64-hex container id,
// under cgroupfs ("/docker/ID") and systemd ("docker-ID.scope") drivers alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ktrail {

// The innermost container id in a cgroup path; "" for none.
std::string container_id_from_cgroup_path(std::string_view path);
// The same from /proc/PID/cgroup (every hierarchy, v1 and v2); "" for none.
std::string container_id_from_proc(uint32_t pid);

// cgroup v2 id (what BPF reports) -> container id, resolved through the
// cgroup2 mount with open_by_handle_at and cached (ids are never reused).
class CgroupContainers {
public:
    CgroupContainers();
    ~CgroupContainers();
    CgroupContainers(const CgroupContainers&) = delete;
    CgroupContainers& operator=(const CgroupContainers&) = delete;
    const std::string& container_for(uint64_t cgroup_id);
    // The cgroup's path below the cgroup2 root; "" if unknown.
    std::string path_of(uint64_t cgroup_id) const;
    bool available() const { return mount_fd_ >= 0; }
    // cgroup v1 hierarchies are mounted too (hybrid hosts): containers may
    // show only there, so /proc/PID/cgroup must be read as well.
    bool v1_present() const { return v1_present_; }

private:
    int mount_fd_ = -1;
    std::string mount_point_;
    std::string mount_root_;  // the mount's root inside the hierarchy (cgroup namespaces)
    bool v1_present_ = false;
    std::unordered_map<uint64_t, std::string> cache_;
    static constexpr size_t kMaxEntries = 16384;
};

}  // namespace ktrail
