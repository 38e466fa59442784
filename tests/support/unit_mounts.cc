#include "unit_mounts.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ktrail::test {
namespace {

bool yes(const std::string& v) { return v == "yes" || v == "true" || v == "on" || v == "1"; }

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::string err(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + strerror(errno);
}

bool exists(const std::string& p) {
    struct stat st{};
    return lstat(p.c_str(), &st) == 0;
}

bool under(const std::string& path, const std::string& top) {
    return path == top || path.starts_with(top + "/");
}

// mountinfo's octal escapes (\040 for a space, ...).
std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::vector<std::string> mount_points() {
    std::ifstream in("/proc/self/mountinfo");
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
        auto f = words(line);
        if (f.size() > 4) out.push_back(unescape(f[4]));
    }
    return out;
}

// Sets or clears read-only on the mount at `path` (and those below it).
std::string set_ro(const std::string& path, bool ro, bool recursive) {
    mount_attr attr{};
    (ro ? attr.attr_set : attr.attr_clr) = MOUNT_ATTR_RDONLY;
    if (mount_setattr(AT_FDCWD, path.c_str(), recursive ? AT_RECURSIVE : 0, &attr, sizeof(attr)) != 0)
        return err("mount_setattr", path);
    return "";
}

// `path` and everything mounted below it, read-only (made a mount first).
std::string ro_subtree(const std::string& path) {
    if (!exists(path)) return "";
    if (mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return err("bind", path);
    return set_ro(path, true, true);
}

// `path` read-write again, whatever is above it.
std::string rw_subtree(const std::string& path) {
    if (mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return err("bind", path);
    return set_ro(path, false, true);
}

// What systemd's inaccessible nodes do: nothing to read, nothing to list.
std::string inaccessible(const std::string& path, const std::string& stage) {
    struct stat st{};
    if (stat(path.c_str(), &st) != 0) return "";
    std::string node = stage + (S_ISDIR(st.st_mode) ? "/dir" : "/reg");
    if (mount(node.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) return err("bind over", path);
    return set_ro(path, true, false);
}

}  // namespace

bool UnitMounts::any() const {
    return (!protect_system.empty() && protect_system != "no") || !read_write_paths.empty() ||
           !runtime_directories.empty() || (!protect_home.empty() && protect_home != "no") || private_tmp ||
           protect_kernel_tunables || protect_control_groups || protect_kernel_modules || protect_kernel_logs;
}

UnitMounts unit_mounts(const std::string& unit_file, std::string* error) {
    UnitMounts m;
    std::ifstream in(unit_file);
    if (!in) {
        *error = "cannot read " + unit_file;
        return m;
    }
    auto bad = [&](const std::string& key, const std::string& v) {
        if (error->empty()) *error = key + "=" + v + " is not applied by tests/support/unit_mounts.cc: teach it";
    };
    for (std::string line; std::getline(in, line);) {
        size_t eq = line.find('=');
        if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
        std::string key = line.substr(0, eq), v = line.substr(eq + 1);
        if (key == "ProtectSystem") {
            m.protect_system = yes(v) ? "yes" : v;
            if (v != "strict" && v != "full" && !yes(v) && v != "no" && v != "false") bad(key, v);
        } else if (key == "ReadWritePaths") {
            for (auto& p : words(v)) m.read_write_paths.push_back(p);
        } else if (key == "RuntimeDirectory") {
            for (auto& p : words(v)) m.runtime_directories.push_back(p);
        } else if (key == "ProtectHome") {
            m.protect_home = yes(v) ? "yes" : v;
            if (v != "read-only" && v != "tmpfs" && !yes(v) && v != "no" && v != "false") bad(key, v);
        } else if (key == "PrivateTmp") {
            m.private_tmp = yes(v);
        } else if (key == "ProtectKernelTunables") {
            m.protect_kernel_tunables = yes(v);
        } else if (key == "ProtectControlGroups") {
            m.protect_control_groups = yes(v);
        } else if (key == "ProtectKernelModules") {
            m.protect_kernel_modules = yes(v);
        } else if (key == "ProtectKernelLogs") {
            m.protect_kernel_logs = yes(v);
        }
    }
    return m;
}

std::string apply_unit_mounts(const UnitMounts& m) {
    if (!m.any()) return "";
    if (unshare(CLONE_NEWNS) != 0) return err("unshare", "CLONE_NEWNS");
    // Nothing done here reaches the host; the host's later mounts still come in.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) return err("make slave", "/");
    std::string e;
    std::vector<std::string> writable;
    for (const auto& d : m.runtime_directories) {
        std::string p = "/run/" + d;
        if (mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) return err("mkdir", p);
        writable.push_back(p);
    }
    for (const auto& p : m.read_write_paths) {
        if (p.starts_with("-")) {
            if (exists(p.substr(1))) writable.push_back(p.substr(1));
        } else {
            if (!exists(p)) return err("ReadWritePaths=", p);  // systemd fails the unit too
            writable.push_back(p);
        }
    }
    if (m.protect_system == "strict") {
        for (const auto& p : mount_points()) {
            if (under(p, "/dev") || under(p, "/proc") || under(p, "/sys")) continue;
            mount_attr attr{};
            attr.attr_set = MOUNT_ATTR_RDONLY;
            // A mount hidden under a later one cannot be named: it is out of view anyway.
            if (mount_setattr(AT_FDCWD, p.c_str(), 0, &attr, sizeof(attr)) != 0 && errno != ENOENT && errno != EINVAL)
                return err("mount_setattr", p);
        }
    } else if (m.protect_system == "yes" || m.protect_system == "full") {
        for (const char* p : {"/usr", "/boot", "/efi"})
            if (!(e = ro_subtree(p)).empty()) return e;
        if (m.protect_system == "full" && !(e = ro_subtree("/etc")).empty()) return e;
    }
    for (const auto& p : writable)
        if (!(e = rw_subtree(p)).empty()) return e;
    // Inaccessible nodes, made on a tmpfs over /tmp for now (mounting over a
    // read-only directory is allowed).
    const std::string stage = "/tmp";
    if (mount("tmpfs", stage.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") != 0)
        return err("mount tmpfs on", stage);
    if (mkdir((stage + "/dir").c_str(), 0) != 0) return err("mkdir", stage + "/dir");
    int fd = open((stage + "/reg").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0) return err("create", stage + "/reg");
    close(fd);
    for (const char* p : {"/home", "/root", "/run/user"}) {
        if (m.protect_home == "read-only") {
            if (!(e = ro_subtree(p)).empty()) return e;
        } else if ((m.protect_home == "yes" || m.protect_home == "tmpfs") && exists(p)) {
            const char* opts = m.protect_home == "yes" ? "mode=0000,size=4k" : "mode=0755,size=4k";
            if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, opts) != 0) return err("mount tmpfs on", p);
        }
    }
    if (m.protect_kernel_tunables) {
        for (const char* p : {"/sys", "/proc/sys", "/proc/sysrq-trigger"})
            if (!(e = ro_subtree(p)).empty()) return e;
        for (const char* p : {"/proc/kallsyms", "/proc/kcore"})
            if (!(e = inaccessible(p, stage)).empty()) return e;
    }
    if (m.protect_control_groups && !(e = ro_subtree("/sys/fs/cgroup")).empty()) return e;
    if (m.protect_kernel_modules && !(e = inaccessible("/usr/lib/modules", stage)).empty()) return e;
    if (m.protect_kernel_logs)
        for (const char* p : {"/proc/kmsg", "/dev/kmsg"})
            if (!(e = inaccessible(p, stage)).empty()) return e;
    if (umount2(stage.c_str(), MNT_DETACH) != 0) return err("umount", stage);
    if (m.private_tmp)
        for (const char* p : {"/tmp", "/var/tmp"})
            if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) return err("mount tmpfs on", p);
    return "";
}

}  // namespace ktrail::test
