#include "enrich/enricher.h"

#include <chrono>

#include "enrich/proc_reader.h"

namespace ktrail {
namespace {

bool names_account_file(const std::string& path) { return path == "/etc/passwd" || path == "/etc/group"; }

// A file event that rewrote the account files: names may have changed.
bool changes_accounts(const v1::Event& ev) {
    if (!ev.has_file() || ev.outcome() != "success") return false;
    bool write = false;
    for (const auto& t : ev.type()) write |= t == "change" || t == "creation" || t == "deletion";
    return write && (names_account_file(ev.file().path()) || names_account_file(ev.file().target_path()));
}

void name_id(v1::Id* id, const std::string& name) {
    if (id->name().empty() && !name.empty()) id->set_name(name);
}

}  // namespace

Enricher::Enricher(std::string_view boot_id, const BootClock* clock, ProcessTableLimits limits)
    : clock_(clock), processes_(EntityIds(boot_id), limits) {
    tick(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

void Enricher::seed() { processes_.seed_from_proc(); }

void Enricher::fill_process(v1::Process& out, const ProcessInfo& p) {
    out.set_entity_id(p.entity_id);
    const ProcessImage& img = *p.image;
    if (out.executable().empty() && !img.executable.empty()) out.set_executable(img.executable);
    if (out.args().empty() && !img.args.empty()) {
        out.mutable_args()->Reserve(static_cast<int>(img.args.size()));
        for (const auto& a : img.args) out.add_args(a);
        out.set_args_truncated(img.args_truncated);
    }
    if (out.working_directory().empty() && !img.cwd.empty()) out.set_working_directory(img.cwd);
    if (!out.start_ns() && clock_) out.set_start_ns(clock_->to_unix_ns(p.start_boot_ns));
    if (!p.parent_key) return;
    // The parent that started it: after a reparenting the kernel names the
    // reaper, but the lineage is what a responder follows.
    auto* parent = out.mutable_parent();
    parent->set_pid(p.ppid);
    if (const ProcessInfo* pp = processes_.find(p.parent_key)) {
        parent->set_entity_id(pp->entity_id);
        if (parent->executable().empty()) parent->set_executable(pp->image->executable);
        if (parent->args().empty())
            for (const auto& a : pp->image->args) parent->add_args(a);
    } else {
        EntityIds::format_to(p.parent_key, *parent->mutable_entity_id());
    }
    auto* ancestry = out.mutable_ancestry();
    ancestry->Reserve(static_cast<int>(p.ancestry.size()));
    // Formatted, not looked up: no memory touched per ancestor.
    for (uint64_t k : p.ancestry) EntityIds::format_to(k, *ancestry->Add());
}

void Enricher::fill_container(v1::Event& ev, const ProcessInfo& p, uint64_t cgroup_id) {
    // The event's own cgroup first (a process can be moved), then what
    // /proc said (v1 hierarchies on hybrid hosts).
    const std::string* id = cgroup_id ? &cgroups_.container_for(cgroup_id) : &p.container_id;
    if (id->empty()) id = &p.container_id;
    if (!id->empty()) ev.set_container_id(*id);
}

void Enricher::fill_names(v1::Event& ev) {
    if (ev.has_user()) {
        auto* u = ev.mutable_user();
        if (u->has_id() && u->name().empty()) u->set_name(names_.user(u->id()));
        if (u->has_effective() && u->effective().has_id()) name_id(u->mutable_effective(), names_.user(u->effective().id()));
        if (u->has_group() && u->group().has_id()) name_id(u->mutable_group(), names_.group(u->group().id()));
        if (u->has_audit() && u->audit().has_id()) name_id(u->mutable_audit(), names_.user(u->audit().id()));
        if (u->has_target() && u->target().has_id()) name_id(u->mutable_target(), names_.user(u->target().id()));
    }
    if (ev.has_file()) {
        auto* f = ev.mutable_file();
        if (f->has_uid() && f->owner().empty()) f->set_owner(names_.user(f->uid()));
        if (f->has_gid() && f->group().empty()) f->set_group(names_.group(f->gid()));
    }
}

void Enricher::fill_session(v1::Event& ev) {
    if (!ev.has_session() || !ev.session().has_id()) return;
    auto* s = ev.mutable_session();
    if (const SessionInfo* known = sessions_.find(s->id())) {
        if (s->login_user().empty()) s->set_login_user(known->login_user);
        if (s->remote_ip().empty()) s->set_remote_ip(known->remote_ip);
        if (s->tty().empty()) s->set_tty(known->tty);
        if (!s->start_ns()) s->set_start_ns(known->start_ns);
        if (s->login_user().empty() && known->auid) s->set_login_user(names_.user(*known->auid));
    }
    // The login uid is the account that logged in, whatever opened the session.
    if (s->login_user().empty() && ev.user().audit().has_id()) s->set_login_user(names_.user(ev.user().audit().id()));
}

void Enricher::enrich_bpf(v1::Event& ev, const TaskRef& t, Lifecycle lifecycle) {
    const ProcessInfo* p = nullptr;
    switch (lifecycle) {
    case Lifecycle::kFork: p = &processes_.on_fork(t.pid, t.start_ns, t.ppid, t.parent_start_ns); break;
    case Lifecycle::kExec: {
        auto img = std::make_shared<ProcessImage>();
        const auto& ep = ev.process();
        img->executable = ep.executable();
        img->args.assign(ep.args().begin(), ep.args().end());
        img->args_truncated = ep.args_truncated();
        img->cwd = ep.working_directory();
        p = &processes_.on_exec(t.pid, t.start_ns, t.ppid, t.parent_start_ns, std::move(img));
        // The exec may have entered a container (runc joins the cgroups, then execs).
        if (cgroups_.v1_present()) processes_.set_container(p->key, container_id_from_proc(t.pid));
        break;
    }
    default: p = &processes_.resolve(t.pid, t.start_ns, t.ppid, t.parent_start_ns); break;
    }
    if (p->cgroup_id != t.cgroup_id) processes_.set_cgroup(p->key, t.cgroup_id);
    fill_process(*ev.mutable_process(), *p);
    fill_container(ev, *p, t.cgroup_id);
    if (changes_accounts(ev)) names_.invalidate();
    fill_names(ev);
    fill_session(ev);
    if (lifecycle == Lifecycle::kExit) processes_.on_exit(t.pid, t.start_ns, now_s_);
}

void Enricher::enrich_audit(v1::Event& ev) {
    sessions_.observe(ev);
    // An account change names the account as it is now.
    for (const auto& c : ev.category())
        if (c == "iam") names_.invalidate();
    if (ev.process().has_pid()) {
        uint64_t at = clock_ ? clock_->to_boot_ns(ev.time_ns()) : 0;
        if (const ProcessInfo* p = processes_.resolve_pid(ev.process().pid(), at)) {
            fill_process(*ev.mutable_process(), *p);
            fill_container(ev, *p, p->cgroup_id);
        }
    }
    fill_names(ev);
    fill_session(ev);
}

void Enricher::tick(int64_t now_s) {
    now_s_ = now_s;
    processes_.expire(now_s);
    names_.tick(now_s);
    if (now_s - last_reconcile_s_ >= kReconcileEveryS) {
        processes_.reconcile(now_s);
        last_reconcile_s_ = now_s;
    }
}

EnricherStats Enricher::stats() const {
    return {processes_.stats(), sessions_.size(), names_.invalidations()};
}

}  // namespace ktrail
