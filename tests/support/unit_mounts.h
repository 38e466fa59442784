// A systemd unit's mount namespace settings, applied by a test in the child
// it is about to exec (systemd is not PID 1 on the test machines): the
// daemon sees the file system as its unit would show it. The settings a
// unit of ours uses, and what systemd makes of them:
//   ProtectSystem=strict     every mount read-only but /dev, /proc, /sys
//                (full, yes: /usr, /boot, /efi (and /etc for full) read-only)
//   ReadWritePaths=          bound back read-write ("-" prefix: skipped when missing)
//   RuntimeDirectory=NAME    /run/NAME made on the host (root, 0755), read-write
//   ProtectHome=read-only    /home, /root, /run/user read-only (yes: inaccessible, tmpfs: empty)
//   PrivateTmp=yes           a fresh tmpfs on /tmp and /var/tmp
//   ProtectKernelTunables=   /sys, /proc/sys, /proc/sysrq-trigger read-only; /proc/kallsyms, kcore inaccessible
//   ProtectControlGroups=    /sys/fs/cgroup read-only
//   ProtectKernelModules=    /usr/lib/modules inaccessible
//   ProtectKernelLogs=       /proc/kmsg, /dev/kmsg inaccessible
// Other settings (PrivateDevices=, ProtectProc=, TemporaryFileSystem=, ...)
// and the system call filters and capability changes these options imply
// are not applied.
#pragma once

#include <string>
#include <vector>

namespace ktrail::test {

struct UnitMounts {
    std::string protect_system;  // "", "no", "yes", "full", "strict"
    std::vector<std::string> read_write_paths;
    std::vector<std::string> runtime_directories;
    std::string protect_home;  // "", "no", "read-only", "yes", "tmpfs"
    bool private_tmp = false;
    bool protect_kernel_tunables = false;
    bool protect_control_groups = false;
    bool protect_kernel_modules = false;
    bool protect_kernel_logs = false;

    bool any() const;
};

// From a unit file's [Service] section (the settings above; everything else
// ignored). A value of theirs this file does not implement: `error` says which.
UnitMounts unit_mounts(const std::string& unit_file, std::string* error);

// In the child, after fork, before exec (as root, before capabilities are
// dropped): a mount namespace of its own with these settings. "" or what failed.
std::string apply_unit_mounts(const UnitMounts& m);

}  // namespace ktrail::test
