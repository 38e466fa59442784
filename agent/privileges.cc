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
// With --user, cap_setuid, cap_setgid and cap_setpcap are held a little
// longer: the threads that need nothing (outputs, forwarders, the metrics and
// status servers) switch to that user as they start, and the main thread
// gives the three up once they have (finish_dropping_privileges()).
// Not kept: cap_bpf, cap_perfmon, cap_sys_admin (programs loaded and attached;
// reloads update maps through fds already open, which needs none),
// cap_audit_read (the multicast group is joined at start), cap_net_admin (the
// audit socket's buffer is sized at start), cap_setpcap (used here to shrink
// the bounding set), and everything else root has (cap_dac_override: the
// state and spool are root's own files; forwarders read the spool through
// fds the main thread opened, so they need no access to its directory).
#include <spdlog/spdlog.h>

#include <linux/capability.h>

#include <thread>

#include "agent.h"
#include "util/capabilities.h"

namespace ktrail {
namespace {

constexpr caps::Set kSwitchUser = caps::bit(CAP_SETUID) | caps::bit(CAP_SETGID) | caps::bit(CAP_SETPCAP);

}  // namespace

Result<void> Agent::settle_thread_privileges(const AgentOptions& options) {
    if (!options.user.empty()) {
        auto user = lookup_user(options.user);
        if (!user) return std::unexpected(user.error());
        thread_privileges_.user = std::move(*user);
    }
    if (!options.drop_capabilities) return {};
    caps::Set keep = caps::bit(CAP_SYS_PTRACE) | caps::bit(CAP_DAC_READ_SEARCH);
    if (audit_) keep |= caps::bit(CAP_AUDIT_CONTROL);
    caps::Set held = thread_privileges_.user ? kSwitchUser : 0;
    auto kept = caps::keep_only(keep | held);
    if (!kept) return std::unexpected(kept.error());
    if (thread_privileges_.user && (*kept & (caps::bit(CAP_SETUID) | caps::bit(CAP_SETGID))) !=
                                       (caps::bit(CAP_SETUID) | caps::bit(CAP_SETGID)))
        return fail(fmt::format("--user {}: switching to it needs cap_setuid and cap_setgid at start (give them in "
                                "the unit's CapabilityBoundingSet=)",
                                thread_privileges_.user->name));
    thread_privileges_.drop_capabilities = true;
    held_for_threads_ = *kept & held;
    spdlog::info("capabilities: kept {}; every other one given up (bounding set included), no_new_privs set; "
                 "outputs, forwarders and the metrics/status servers run as {}",
                 caps::names(*kept & keep), thread_privileges_.describe());
    return {};
}

Result<void> Agent::finish_dropping_privileges() {
    if (!held_for_threads_) return {};
    if (auto ok = caps::drop_in_this_thread(held_for_threads_); !ok) return ok;
    spdlog::info("capabilities: {} given up too, now that the unprivileged threads run as {}",
                 caps::names(held_for_threads_), thread_privileges_.user->name);
    held_for_threads_ = 0;
    return {};
}

Result<void> Agent::build_outputs_unprivileged(const AgentOptions& options) {
    if (!thread_privileges_.drop_capabilities && !thread_privileges_.user) return build_outputs(options);
    // gRPC and librdkafka start threads of their own, which copy the
    // credentials of the thread that creates them: let it have none.
    Result<void> built;
    std::thread([&] {
        if (auto ok = thread_privileges_.apply_to_this_thread(); !ok) {
            built = std::unexpected(ok.error());
            return;
        }
        built = build_outputs(options);
    }).join();
    if (!built && thread_privileges_.user)
        return fail(fmt::format("{} (outputs run as user {}: its files and directories must be that user's to use)",
                                built.error().message, thread_privileges_.user->name));
    return built;
}

}  // namespace ktrail
