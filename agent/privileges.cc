// ktraild's least privilege. Start-up needs root's powers (BPF programs,
// audit daemon registration, audit rules); the running agent needs few:
//   cap_audit_control    the audit status (lost counter) every second, and at
//                        stop: removing its audit rules, handing the daemon
//                        pid, enabled flag and backlog limit back
//   cap_sys_ptrace       /proc/PID/exe and cwd of other users' processes (the
//                        process table learns processes it has not seen exec)
//   cap_dac_read_search  finishing names passed to syscalls (.., symlinks)
//                        under directories only their owners may search, and
//                        finding rule-dropped executables on a SIGHUP reload
// Not kept: cap_bpf, cap_perfmon, cap_sys_admin (programs loaded and attached;
// reloads update maps through fds already open, which needs none),
// cap_audit_read (the multicast group is joined at start), cap_net_admin (the
// audit socket's buffer is sized at start), cap_setpcap (used here to shrink
// the bounding set), and everything else root has (cap_dac_override: the
// state, spool and outputs are root's own files).
#include <spdlog/spdlog.h>

#include <linux/capability.h>

#include <thread>

#include "agent.h"
#include "util/capabilities.h"

namespace ktrail {

Result<void> Agent::drop_capabilities() {
    caps::Set keep = caps::bit(CAP_SYS_PTRACE) | caps::bit(CAP_DAC_READ_SEARCH);
    if (audit_) keep |= caps::bit(CAP_AUDIT_CONTROL);
    auto kept = caps::keep_only(keep);
    if (!kept) return std::unexpected(kept.error());
    drop_caps_ = true;
    spdlog::info("capabilities: kept {}; every other one given up (bounding set included), no_new_privs set; "
                 "outputs and forwarders run with none",
                 caps::names(*kept));
    return {};
}

Result<void> Agent::build_outputs_unprivileged(const AgentOptions& options) {
    if (!drop_caps_) return build_outputs(options);
    // gRPC and librdkafka start threads of their own, which copy the
    // capabilities of the thread that creates them: let it have none.
    Result<void> built;
    std::thread([&] {
        if (auto ok = caps::drop_all_in_this_thread(); !ok) {
            built = std::unexpected(ok.error());
            return;
        }
        built = build_outputs(options);
    }).join();
    return built;
}

}  // namespace ktrail
