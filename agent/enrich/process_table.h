// The agent's picture of every process on the host: seeded from /proc,
// kept current by fork/exec/exit events, looked up for every event.
//
// Entries are keyed by entity key (boot id, pid, start), so a reused pid is a
// new entry and late events of the old process still find theirs. Exited
// processes stay for a grace period; their number is capped, oldest exit
// first, so a storm of short-lived processes cannot grow the table.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "enrich/entity_id.h"

namespace ktrail {

struct ProcSnapshot;

// What a process runs: shared by a parent and the children it forks until
// one of them execs, so forking servers cost one image, not one per child.
struct ProcessImage {
    std::string executable;
    std::vector<std::string> args;
    bool args_truncated = false;
    std::string cwd;  // at exec (or at seeding)
};

struct ProcessInfo {
    uint64_t key = 0;         // EntityIds::key(pid, start)
    uint64_t parent_key = 0;  // 0: unknown
    uint32_t pid = 0;
    uint32_t ppid = 0;
    uint64_t start_boot_ns = 0;
    std::string entity_id;  // key, formatted
    std::shared_ptr<const ProcessImage> image;
    // Entity keys of the ancestors at creation, nearest first.
    std::vector<uint64_t> ancestry;
    uint64_t cgroup_id = 0;    // cgroup v2 id, as the last BPF event saw it
    std::string container_id;  // from /proc/PID/cgroup (all hierarchies), when read
    int64_t exited_at = 0;     // monotonic seconds; 0 while it runs
};

struct ProcessTableLimits {
    int64_t exited_grace_s = 60;    // an exited process stays resolvable this long...
    size_t max_exited = 16384;      // ...unless this many newer ones exited since
    size_t max_ancestry = 10;
};

struct ProcessTableStats {
    size_t live = 0;
    size_t exited = 0;
    size_t peak = 0;
    uint64_t evicted = 0;    // exited entries dropped (grace or cap)
    uint64_t proc_reads = 0; // processes filled from /proc after start
};

class ProcessTable {
public:
    explicit ProcessTable(EntityIds ids, ProcessTableLimits limits = {});

    // Seeds every live process from /proc.
    void seed_from_proc();

    // Lifecycle, from BPF records.
    const ProcessInfo& on_fork(uint32_t pid, uint64_t start_ns, uint32_t ppid, uint64_t parent_start_ns);
    const ProcessInfo& on_exec(uint32_t pid, uint64_t start_ns, uint32_t ppid, uint64_t parent_start_ns,
                               std::shared_ptr<const ProcessImage> image);
    void on_exit(uint32_t pid, uint64_t start_ns, int64_t now_s);

    // The process an event names by pid and start. Unknown ones (an event
    // lost, or a process older than the agent's view) are read from /proc
    // when it still describes them, else added from what the event says.
    const ProcessInfo& resolve(uint32_t pid, uint64_t start_ns, uint32_t ppid, uint64_t parent_start_ns);
    // The process an audit record names by pid alone, as it was at boot-time
    // `at_boot_ns`; nullptr if neither the table nor /proc knows it.
    const ProcessInfo* resolve_pid(uint32_t pid, uint64_t at_boot_ns);

    const ProcessInfo* find(uint64_t key) const;
    // Records the cgroup a later event saw the process in.
    void set_cgroup(uint64_t key, uint64_t cgroup_id);
    // Records the container /proc/PID/cgroup names (re-read after an exec).
    void set_container(uint64_t key, std::string id);

    // Drops exited entries past their grace or over the cap.
    void expire(int64_t now_s);
    // Marks entries whose process is gone (its exit event lost) as exited.
    void reconcile(int64_t now_s);

    ProcessTableStats stats() const;
    size_t size() const { return by_key_.size(); }
    const EntityIds& ids() const { return ids_; }

private:
    ProcessInfo& insert(uint32_t pid, uint64_t start_ns, uint32_t ppid, uint64_t parent_start_ns);
    ProcessInfo& insert_from_proc(ProcSnapshot& s, size_t depth = 0);
    void link_parent(ProcessInfo& p);
    void mark_exited(ProcessInfo& p, int64_t now_s);
    void evict_front();

    EntityIds ids_;
    ProcessTableLimits limits_;
    std::unordered_map<uint64_t, ProcessInfo> by_key_;
    std::unordered_map<uint32_t, uint64_t> by_pid_;  // the newest process with that pid
    std::deque<uint64_t> exits_;                      // exited keys, oldest exit first
    size_t exited_ = 0;
    size_t peak_ = 0;
    uint64_t evicted_ = 0;
    uint64_t proc_reads_ = 0;
    int64_t last_now_s_ = 1;  // for exits noticed without a clock at hand
    std::shared_ptr<const ProcessImage> empty_image_;
};

}  // namespace ktrail
