#include "format/event_names.h"

#include <algorithm>
#include <utility>

namespace ktrail {
namespace {

// Every action the sources and the agent emit (DESIGN.md, decoder.cc,
// mapper.cc, agent.cc), with a title a SIEM analyst reads at a glance.
constexpr std::pair<std::string_view, std::string_view> kTitles[] = {
    {"executed", "Process executed"},
    {"forked", "Process forked"},
    {"exited", "Process exited"},
    {"created-file", "File created"},
    {"opened-file", "File opened"},
    {"read-file", "File read"},
    {"wrote-to-file", "File written"},
    {"truncated-file", "File truncated"},
    {"deleted", "File deleted"},
    {"renamed", "File renamed"},
    {"linked", "Hard link created"},
    {"symlinked", "Symbolic link created"},
    {"created-directory", "Directory created"},
    {"make-device", "Device node created"},
    {"changed-file-permissions-of", "File permissions changed"},
    {"changed-file-ownership-of", "File ownership changed"},
    {"changed-file-attributes-of", "File attributes changed"},
    {"mounted", "File system mounted"},
    {"unmounted", "File system unmounted"},
    {"denied-access-to", "Access denied"},
    {"changed-identity-of", "Process identity changed"},
    {"changed-capabilities-of", "Process capabilities changed"},
    {"loaded-kernel-module", "Kernel module loaded"},
    {"unloaded-kernel-module", "Kernel module unloaded"},
    {"killed-pid", "Signal sent to process"},
    {"traced-process", "Process traced"},
    {"crashed-program", "Program crashed"},
    {"violated-seccomp-policy", "Seccomp policy action"},
    {"typed", "Terminal input"},
    {"ran-command", "Command run with sudo"},
    {"started-service", "Service started"},
    {"stopped-service", "Service stopped"},
    {"started-audit", "Audit daemon started"},
    {"shutdown-audit", "Audit daemon stopped"},
    {"authenticated", "User authenticated"},
    {"was-authorized", "Account authorized"},
    {"logged-in", "User logged in"},
    {"logged-out", "User logged out"},
    {"started-session", "Session started"},
    {"ended-session", "Session ended"},
    {"error", "Authentication error"},
    {"acquired-credentials", "Credentials acquired"},
    {"disposed-credentials", "Credentials disposed"},
    {"refreshed-credentials", "Credentials refreshed"},
    {"authenticated-to-group", "Group authentication"},
    {"changed-login-id-to", "Login id set"},
    {"added-user-account", "User account added"},
    {"deleted-user-account", "User account deleted"},
    {"modified-user-account", "User account modified"},
    {"changed-password", "Password changed"},
    {"locked-account", "Account locked"},
    {"unlocked-account", "Account unlocked"},
    {"added-group-account-to", "Group added"},
    {"deleted-group-account-from", "Group deleted"},
    {"modified-group-account", "Group modified"},
    {"changed-group-password", "Group password changed"},
    {"assigned-user-role-to", "Role assigned"},
    {"removed-user-role-from", "Role removed"},
    {"modified-role", "Role modified"},
    {"changed-role-to", "Role changed"},
    {"violated-selinux-policy", "SELinux denial"},
    {"violated-apparmor-policy", "AppArmor denial"},
    {"access-permission", "SELinux access decision"},
    {"changed-audit-configuration", "Audit configuration changed"},
    {"changed-auditd-configuration", "Audit daemon configuration changed"},
    {"loaded-firewall-rule-to", "Firewall rules changed"},
    {"changed-configuration", "Configuration changed"},
    {"package-updated", "Package updated"},
    {"changed-promiscuous-mode-on-device", "Promiscuous mode changed"},
    {"booted-system", "System booted"},
    {"shutdown-system", "System shut down"},
    {"changed-to-runlevel", "Runlevel changed"},
    {"changed-system-time", "System time changed"},
    {"changed-system-name", "Host name changed"},
    {"connected-to", "Socket connected"},
    {"bound-socket", "Socket bound"},
    {"listen-for-connections", "Socket listening"},
    {"accepted-connection-from", "Connection accepted"},
    {"agent-started", "ktrail agent started"},
    {"agent-stopped", "ktrail agent stopped"},
    {"events-lost", "Events lost"},
    {"rules-loaded", "Rules loaded"},
};

}  // namespace

std::string_view event_title(const v1::Event& ev) {
    if (ev.kind() == "alert" && ev.has_rule()) {
        if (!ev.rule().name().empty()) return ev.rule().name();
        if (!ev.rule().id().empty()) return ev.rule().id();
    }
    auto it = std::find_if(std::begin(kTitles), std::end(kTitles), [&](const auto& t) { return t.first == ev.action(); });
    return it != std::end(kTitles) ? it->second : std::string_view(ev.action());
}

uint32_t severity_score(const v1::Event& ev) {
    if (ev.has_severity()) return std::min<uint32_t>(ev.severity(), 100);
    if (ev.kind() == "alert") return 73;
    if (ev.action() == "events-lost") return 47;
    if (ev.outcome() == "failure") return 21;
    return 0;
}

std::string_view base_name(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace ktrail
