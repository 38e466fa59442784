// Who, what, where for every event: the process (with parent and ancestry)
// from the process table, user and group names, the login session, the
// container. BPF and audit events resolve to the same process entities.
#pragma once

#include <cstdint>
#include <string_view>

#include "enrich/container.h"
#include "enrich/process_table.h"
#include "enrich/sessions.h"
#include "enrich/task_ref.h"
#include "enrich/user_names.h"
#include "ktrail/v1/event.pb.h"
#include "util/boot_clock.h"

namespace ktrail {

struct EnricherStats {
    ProcessTableStats processes;
    size_t sessions = 0;
    uint64_t name_invalidations = 0;
};

class Enricher {
public:
    Enricher(std::string_view boot_id, const BootClock* clock, ProcessTableLimits limits = {});
    // Seeds the process table from /proc. Call after the BPF programs are
    // attached, so no process falls between the seed and the first event.
    void seed();
    void enrich_bpf(v1::Event& ev, const TaskRef& task, Lifecycle lifecycle);
    void enrich_audit(v1::Event& ev);
    // Housekeeping, about once a second (steady_clock seconds).
    void tick(int64_t now_s);
    EnricherStats stats() const;
    const ProcessTable& processes() const { return processes_; }

private:
    void fill_process(v1::Process& out, const ProcessInfo& p);
    void fill_container(v1::Event& ev, const ProcessInfo& p, uint64_t cgroup_id);
    void fill_names(v1::Event& ev);
    void fill_session(v1::Event& ev);

    const BootClock* clock_;
    ProcessTable processes_;
    UserNames names_;
    Sessions sessions_;
    CgroupContainers cgroups_;
    int64_t now_s_ = 1;
    int64_t last_reconcile_s_ = 0;
    static constexpr int64_t kReconcileEveryS = 60;
};

}  // namespace ktrail
