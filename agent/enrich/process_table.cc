#include "enrich/process_table.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>

#include "enrich/container.h"
#include "enrich/proc_reader.h"

namespace ktrail {
namespace {
// An audit record's time has ms precision and /proc's start ticks: a process
// counts as started by `at` unless it started clearly after.
constexpr uint64_t kStartSlackNs = 20'000'000;

std::shared_ptr<const ProcessImage> image_of(ProcSnapshot& s) {
    auto img = std::make_shared<ProcessImage>();
    img->executable = std::move(s.executable);
    img->args = std::move(s.args);
    img->args_truncated = s.args_truncated;
    img->cwd = std::move(s.cwd);
    return img;
}
}  // namespace

ProcessTable::ProcessTable(EntityIds ids, ProcessTableLimits limits)
    : ids_(ids), limits_(limits), empty_image_(std::make_shared<ProcessImage>()) {}

void ProcessTable::link_parent(ProcessInfo& p) {
    p.ancestry.clear();
    if (!p.parent_key) return;
    p.ancestry.push_back(p.parent_key);
    if (const ProcessInfo* parent = find(p.parent_key)) {
        size_t n = std::min(parent->ancestry.size(), limits_.max_ancestry - 1);
        p.ancestry.insert(p.ancestry.end(), parent->ancestry.begin(), parent->ancestry.begin() + n);
    }
    p.ancestry.shrink_to_fit();
}

ProcessInfo& ProcessTable::insert(uint32_t pid, uint64_t start_ns, uint32_t ppid, uint64_t parent_start_ns) {
    uint64_t key = ids_.key(pid, start_ns);
    auto [it, fresh] = by_key_.try_emplace(key);
    ProcessInfo& p = it->second;
    if (!fresh) return p;
    p.key = key;
    p.pid = pid;
    p.ppid = ppid;
    p.start_boot_ns = start_ns;
    p.entity_id = EntityIds::format(key);
    p.image = empty_image_;
    p.parent_key = ppid ? ids_.key(ppid, parent_start_ns) : 0;
    link_parent(p);
    // A reused pid: the process that had it is gone, its exit unseen. Unless
    // this one is the older (a late event after its entry was dropped): then
    // the pid stays with the newer process, and reconcile marks this one.
    auto [slot, first] = by_pid_.try_emplace(pid, key);
    if (!first && slot->second != key) {
        auto old = by_key_.find(slot->second);
        if (old == by_key_.end() || old->second.start_boot_ns <= start_ns) {
            if (old != by_key_.end() && !old->second.exited_at) mark_exited(old->second, last_now_s_);
            slot->second = key;
        }
    }
    peak_ = std::max(peak_, by_key_.size());
    return p;
}

ProcessInfo& ProcessTable::insert_from_proc(ProcSnapshot& s, size_t depth) {
    // The parent as the table or /proc knows it now.
    uint64_t parent_start = 0;
    if (auto it = by_pid_.find(s.ppid); it != by_pid_.end()) {
        parent_start = by_key_.at(it->second).start_boot_ns;
    } else if (s.ppid) {
        // Not in the table yet (its fork event may still be on its way, behind
        // the audit record that named this process): added from /proc too, so
        // that this process's ancestry is whole, not cut at the parent.
        if (auto ps = depth < limits_.max_ancestry ? read_proc(s.ppid) : std::nullopt) {
            parent_start = insert_from_proc(*ps, depth + 1).start_boot_ns;
        } else if (auto start = read_proc_start(s.ppid)) {
            parent_start = start->first;
        }
    }
    ProcessInfo& p = insert(s.pid, s.start_boot_ns, s.ppid, parent_start);
    if (p.image == empty_image_) {
        p.image = image_of(s);
        p.container_id = container_id_from_proc(s.pid);
    }
    return p;
}

void ProcessTable::seed_from_proc() {
    std::vector<ProcSnapshot> all;
    for (uint32_t pid : list_pids())
        if (auto s = read_proc(pid)) all.push_back(std::move(*s));
    // Parents start before their children: insert in start order so every
    // child finds its parent's ancestry.
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return a.start_boot_ns != b.start_boot_ns ? a.start_boot_ns < b.start_boot_ns : a.pid < b.pid;
    });
    for (auto& s : all) insert_from_proc(s);
}

const ProcessInfo& ProcessTable::on_fork(uint32_t pid, uint64_t start_ns, uint32_t ppid, uint64_t parent_start_ns) {
    ProcessInfo& p = insert(pid, start_ns, ppid, parent_start_ns);
    if (const ProcessInfo* parent = find(p.parent_key); parent && p.image == empty_image_) {
        p.image = parent->image;
        p.cgroup_id = parent->cgroup_id;
        p.container_id = parent->container_id;
    }
    return p;
}

const ProcessInfo& ProcessTable::on_exec(uint32_t pid, uint64_t start_ns, uint32_t ppid, uint64_t parent_start_ns,
                                         std::shared_ptr<const ProcessImage> image) {
    ProcessInfo& p = insert(pid, start_ns, ppid, parent_start_ns);
    p.image = std::move(image);
    return p;
}

void ProcessTable::on_exit(uint32_t pid, uint64_t start_ns, int64_t now_s) {
    last_now_s_ = now_s;
    auto it = by_key_.find(ids_.key(pid, start_ns));
    if (it != by_key_.end() && !it->second.exited_at) mark_exited(it->second, now_s);
}

const ProcessInfo& ProcessTable::resolve(uint32_t pid, uint64_t start_ns, uint32_t ppid, uint64_t parent_start_ns) {
    if (const ProcessInfo* p = find(ids_.key(pid, start_ns))) return *p;
    // Not introduced by an event: /proc still describes it if it runs.
    if (auto s = read_proc(pid); s && EntityIds::ticks(s->start_boot_ns) == EntityIds::ticks(start_ns)) {
        ++proc_reads_;
        return insert_from_proc(*s);
    }
    return on_fork(pid, start_ns, ppid, parent_start_ns);
}

const ProcessInfo* ProcessTable::resolve_pid(uint32_t pid, uint64_t at_boot_ns) {
    if (auto it = by_pid_.find(pid); it != by_pid_.end()) {
        const ProcessInfo& p = by_key_.at(it->second);
        if (p.start_boot_ns <= at_boot_ns + kStartSlackNs) return &p;
        return nullptr;  // the pid was reused since: the table no longer has that process
    }
    auto s = read_proc(pid);
    if (!s || s->start_boot_ns > at_boot_ns + kStartSlackNs) return nullptr;
    ++proc_reads_;
    return &insert_from_proc(*s);
}

const ProcessInfo* ProcessTable::find(uint64_t key) const {
    if (!key) return nullptr;
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &it->second;
}

void ProcessTable::set_cgroup(uint64_t key, uint64_t cgroup_id) {
    if (auto it = by_key_.find(key); it != by_key_.end()) it->second.cgroup_id = cgroup_id;
}

void ProcessTable::set_container(uint64_t key, std::string id) {
    if (auto it = by_key_.find(key); it != by_key_.end()) it->second.container_id = std::move(id);
}

void ProcessTable::mark_exited(ProcessInfo& p, int64_t now_s) {
    p.exited_at = std::max<int64_t>(now_s, 1);
    exits_.push_back(p.key);
    ++exited_;
    while (exited_ > limits_.max_exited) evict_front();
}

void ProcessTable::evict_front() {
    uint64_t key = exits_.front();
    exits_.pop_front();
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return;
    if (auto slot = by_pid_.find(it->second.pid); slot != by_pid_.end() && slot->second == key) by_pid_.erase(slot);
    by_key_.erase(it);
    --exited_;
    ++evicted_;
}

void ProcessTable::expire(int64_t now_s) {
    last_now_s_ = now_s;
    while (!exits_.empty()) {
        auto it = by_key_.find(exits_.front());
        if (it != by_key_.end() && now_s - it->second.exited_at < limits_.exited_grace_s) break;
        evict_front();
    }
}

void ProcessTable::reconcile(int64_t now_s) {
    last_now_s_ = now_s;
    // Marking may evict (the cap): collect first, then mark by key.
    std::vector<uint64_t> gone;
    for (auto& [key, p] : by_key_) {
        if (p.exited_at || p.pid == 0) continue;
        auto slot = by_pid_.find(p.pid);
        bool superseded = slot == by_pid_.end() || slot->second != key;
        if (superseded || (kill(static_cast<pid_t>(p.pid), 0) != 0 && errno == ESRCH)) gone.push_back(key);
    }
    for (uint64_t k : gone)
        if (auto it = by_key_.find(k); it != by_key_.end() && !it->second.exited_at) mark_exited(it->second, now_s);
}

ProcessTableStats ProcessTable::stats() const {
    return {by_key_.size() - exited_, exited_, peak_, evicted_, proc_reads_};
}

}  // namespace ktrail
