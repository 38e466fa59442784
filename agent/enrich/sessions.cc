#include "enrich/sessions.h"

namespace ktrail {
namespace {

bool is_terminal(const std::string& t) {
    return t.starts_with("/dev/") || t.starts_with("tty") || t.starts_with("pts");
}

}  // namespace

void Sessions::observe(const v1::Event& ev) {
    if (ev.module() != "audit" || !ev.session().has_id()) return;
    const std::string& action = ev.action();
    bool login = action == "changed-login-id-to";
    bool about_session = login || action == "started-session" || action == "logged-in" || action == "ended-session" ||
                         action == "logged-out" || action == "acquired-credentials";
    if (!about_session) return;
    uint32_t id = ev.session().id();
    // Full, and older than every session kept: it was dropped already (and
    // inserting it would evict the new entry itself, leaving `s` dangling).
    if (sessions_.size() >= kMaxSessions && id < sessions_.begin()->first) return;
    auto [it, fresh] = sessions_.try_emplace(id);
    SessionInfo& s = it->second;
    if (fresh) {
        s.id = id;
        s.start_ns = ev.time_ns();
        while (sessions_.size() > kMaxSessions) sessions_.erase(sessions_.begin());
    }
    const auto& p = ev.process();
    if (login) {
        // pam_loginuid in the login's process: it leads the session.
        if (p.has_pid()) s.leader_pid = p.pid();
        if (ev.user().audit().has_id()) s.auid = ev.user().audit().id();
        s.start_ns = ev.time_ns();
        return;
    }
    // A later su or sudo inside the session reports the same id with its own
    // account: only the session's leader says who logged in and from where.
    bool from_leader = !s.leader_pid || (p.has_pid() && p.pid() == *s.leader_pid);
    const auto& in = ev.session();
    if (from_leader) {
        if (s.login_user.empty() && !in.login_user().empty()) s.login_user = in.login_user();
        if (s.remote_ip.empty() && !in.remote_ip().empty()) s.remote_ip = in.remote_ip();
        // "ssh" names the service; a later record names the terminal itself.
        if (!in.tty().empty() && (s.tty.empty() || (!is_terminal(s.tty) && is_terminal(in.tty())))) s.tty = in.tty();
    }
    if (!s.auid && ev.user().audit().has_id()) s.auid = ev.user().audit().id();
    if ((action == "ended-session" || action == "logged-out") && from_leader) s.ended = true;
}

const SessionInfo* Sessions::find(uint32_t id) const {
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : &it->second;
}

}  // namespace ktrail
