#include "util/capabilities.h"

#include <dirent.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ktrail::caps {
namespace {

// Raw capget/capset: they act on the calling thread only, which is what the
// callers here mean (glibc has no wrapper; libcap is not needed for this).
bool get(__user_cap_data_struct (&data)[2]) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    return syscall(SYS_capget, &header, data) == 0;
}

bool set(Set effective, Set permitted, Set inheritable) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; ++i) {
        data[i].effective = static_cast<uint32_t>(effective >> (32 * i));
        data[i].permitted = static_cast<uint32_t>(permitted >> (32 * i));
        data[i].inheritable = static_cast<uint32_t>(inheritable >> (32 * i));
    }
    return syscall(SYS_capset, &header, data) == 0;
}

int last_cap() {
    int last = CAP_LAST_CAP;
    // A newer kernel may know more than these headers: ask it.
    while (prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0) ++last;
    return last;
}

constexpr const char* kNames[] = {
    "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill",
    "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service",
    "cap_net_broadcast", "cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module",
    "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace", "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot",
    "cap_sys_nice", "cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod", "cap_lease",
    "cap_audit_write", "cap_audit_control", "cap_setfcap", "cap_mac_override", "cap_mac_admin", "cap_syslog",
    "cap_wake_alarm", "cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
};

}  // namespace

State current() {
    State s;
    __user_cap_data_struct data[2]{};
    if (get(data)) {
        for (int i = 0; i < 2; ++i) {
            s.effective |= Set{data[i].effective} << (32 * i);
            s.permitted |= Set{data[i].permitted} << (32 * i);
            s.inheritable |= Set{data[i].inheritable} << (32 * i);
        }
    }
    for (int c = 0; c <= last_cap() && c < 64; ++c)
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1) s.bounding |= bit(c);
    return s;
}

int thread_count() {
    int n = 0;
    if (DIR* d = opendir("/proc/self/task")) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
    }
    return n;
}

Result<Set> keep_only(Set keep) {
    if (int n = thread_count(); n != 1)
        return fail(fmt::format("cannot drop capabilities: the process already has {} threads, which would keep "
                                "theirs (drop before any thread starts)",
                                n));
    State now = current();
    keep &= now.permitted;
    // Securebits and the bounding set need CAP_SETPCAP: both before capset.
    if (now.effective & bit(CAP_SETPCAP)) {
        int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
        if (bits >= 0 && prctl(PR_SET_SECUREBITS, bits | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0) != 0)
            return fail(fmt::format("cannot set SECBIT_NOROOT: {}", strerror(errno)));
        for (int c = 0; c <= last_cap() && c < 64; ++c) {
            if ((keep & bit(c)) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1) continue;
            if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0)
                return fail(fmt::format("cannot drop {} from the bounding set: {}", names(bit(c)), strerror(errno)));
        }
    } else {
        // no_new_privs (below) still keeps an exec from regaining anything.
        spdlog::warn("capabilities: the bounding set stays as it is (no cap_setpcap to shrink it; a unit gives it "
                     "in CapabilityBoundingSet=)");
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);  // fails only on kernels without ambient caps
    if (!set(keep, keep, 0)) return fail(fmt::format("capset: {}", strerror(errno)));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail(fmt::format("cannot set no_new_privs: {}", strerror(errno)));
    return keep;
}

void empty_bounding_set_in_this_thread() {
    if (!(current().effective & bit(CAP_SETPCAP))) return;
    for (int c = 0; c <= last_cap() && c < 64; ++c)
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1) prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
}

Result<void> drop_all_in_this_thread() {
    empty_bounding_set_in_this_thread();
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (!set(0, 0, 0)) return fail(fmt::format("capset (drop all in this thread): {}", strerror(errno)));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail(fmt::format("cannot set no_new_privs: {}", strerror(errno)));
    return {};
}

Result<void> drop_in_this_thread(Set drop) {
    State now = current();
    if (now.effective & bit(CAP_SETPCAP)) {
        for (int c = 0; c <= last_cap() && c < 64; ++c)
            if (c != CAP_SETPCAP && (drop & bit(c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0)
                return fail(fmt::format("cannot drop {} from the bounding set: {}", names(bit(c)), strerror(errno)));
        if ((drop & bit(CAP_SETPCAP)) && prctl(PR_CAPBSET_DROP, CAP_SETPCAP, 0, 0, 0) != 0)
            return fail(fmt::format("cannot drop cap_setpcap from the bounding set: {}", strerror(errno)));
    }
    if (!set(now.effective & ~drop, now.permitted & ~drop, now.inheritable & ~drop))
        return fail(fmt::format("capset (drop {}): {}", names(drop), strerror(errno)));
    return {};
}

std::string names(Set set) {
    std::string out;
    for (int c = 0; c < 64; ++c) {
        if (!(set & bit(c))) continue;
        if (!out.empty()) out += ',';
        out += c < static_cast<int>(std::size(kNames)) ? std::string(kNames[c]) : fmt::format("cap_{}", c);
    }
    return out.empty() ? "none" : out;
}

}  // namespace ktrail::caps
