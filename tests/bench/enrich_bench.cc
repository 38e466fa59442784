// What enrichment costs per event, and what the process table costs per live
// process. A synthetic tree of 10k live processes (chains of depth 6:
// systemd -> sshd -> sshd -> bash -> app -> worker) is built through fork and
// exec events; its pids lie above the kernel's PID_MAX_LIMIT, so no real
// process has them and the table never falls back to /proc for them. Then:
//   - file events of random live processes, built as the decoder builds them
//     and enriched one at a time, on one reused Event (as Agent::next_event);
//     the build and the enrich_bpf call
//     are timed separately, each call on its own;
//   - audit-style events of random live processes through enrich_audit;
//   - the heap the table takes for 10k processes (mallinfo2: in-use bytes,
//     mmapped chunks included), every process exec'd, then every process
//     forked only (sharing its ancestor's image).
//   enrich_bench [EVENTS]   (default 1000000)
// Prints, times in ns per call (each includes one clock read, see
// timer_overhead_ns):
//   enrich_bench events=N live=N depth=N
//   timer_overhead_ns median=.. p99=..
//   baseline_build_ns median=.. p99=.. mean=..
//   enrich_bpf_ns median=.. p99=.. mean=..
//   enrich_bpf_ratio median=..            (enrich_bpf median / baseline median)
//   enrich_audit_ns median=.. p99=.. mean=..
//   table_bytes_per_process exec=.. fork=..
//   table_mib_per_10k exec=.. fork=..
// Exits non-zero only when the setup fails; targets are for scripts/bench.sh.
#include <malloc.h>
#include <sys/types.h>
#include <time.h>


#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "enrich/enricher.h"
#include "ktrail/v1/event.pb.h"
#include "util/boot_clock.h"
#include "bench_stats.h"

namespace {

using ktrail::Lifecycle;
using ktrail::TaskRef;
using ktrail::v1::Event;
using namespace ktrail::bench;

constexpr uint32_t kPidBase = 4'200'000;  // above PID_MAX_LIMIT (4194304): never a real pid
constexpr size_t kLive = 10'000;
constexpr size_t kLevels = 6;          // systemd, sshd, sshd, bash, app, worker
constexpr size_t kWarmup = 50'000;
constexpr uint32_t kUnset = 0xffffffffu;
constexpr uint64_t kStepNs = 1'000'000;  // between two processes' starts

struct Proc {
    uint32_t pid = 0, ppid = 0;
    uint64_t start_ns = 0, parent_start_ns = 0;  // boot time
    uint32_t uid = 0, euid = 0, gid = 0, auid = kUnset, ses = kUnset;
    size_t level = 0;
    std::string comm, exe, cwd;
    std::vector<std::string> args;
};

struct Level {
    const char* exe;
    const char* comm;
    const char* cwd;
    bool user;  // runs as the logged-in user (else root), inside the login session
    const char* args[6];
};

const Level kLevelInfo[kLevels] = {
    {"/usr/lib/systemd/systemd", "systemd", "/", false,
     {"/sbin/init", "--system", "--deserialize", "42", "--log-level=info", "--unit=default.target"}},
    {"/usr/sbin/sshd", "sshd", "/", false,
     {"sshd: /usr/sbin/sshd", "-D", "-o", "AuthorizedKeysCommandUser=nobody", "-f", "/etc/ssh/sshd_config"}},
    {"/usr/sbin/sshd", "sshd", "/", false,
     {"sshd: deploy [priv]", "-R", "-oLogLevel=INFO", "-oPermitRootLogin=no", "-f",
      "/etc/ssh/sshd_config.d/50-cloud-init.conf"}},
    {"/usr/bin/bash", "bash", "/home/deploy", true,
     {"-bash", "--login", "-i", "-O", "checkwinsize", "/home/deploy/.bash_profile"}},
    {"/usr/bin/python3.11", "python3", "/srv/app", true,
     {"/usr/bin/python3", "-m", "app.server", "--config", "/etc/app/server.yaml", "--bind=127.0.0.1:8080"}},
    {"/usr/bin/python3.11", "python3", "/srv/app", true,
     {"/usr/bin/python3", "-m", "app.worker", "--queue", "jobs-high", "--concurrency=4"}},
};

const char* const kPaths[] = {
    "/usr/lib/python3.11/json/decoder.py",
    "/etc/ld.so.cache",
    "/srv/app/app/worker/tasks.py",
    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    "/etc/app/server.yaml",
    "/home/deploy/.cache/app/session-4f2a.json",
    "/proc/self/status",
    "/usr/lib/python3/dist-packages/yaml/constructor.py",
};

uint64_t boot_now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// 3 to 6 args, 60 to 120 bytes in all: the last one cut or padded to length.
std::vector<std::string> make_args(const Level& l, std::mt19937_64& rng) {
    size_t n = std::uniform_int_distribution<size_t>(3, 6)(rng);
    size_t total = std::uniform_int_distribution<size_t>(60, 120)(rng);
    std::vector<std::string> args(l.args, l.args + n);
    size_t others = 0;
    for (size_t i = 0; i + 1 < n; ++i) others += args[i].size();
    size_t want = total > others + 4 ? total - others : 4;
    std::string& last = args.back();
    static const char kPad[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    while (last.size() < want) last += kPad[last.size() % (sizeof(kPad) - 1)];
    last.resize(want);
    return args;
}

// One root (systemd), then chains below it: sshd -> sshd -> bash -> app -> worker.
std::vector<Proc> make_tree(uint64_t first_start_ns) {
    std::mt19937_64 rng(42);
    std::vector<Proc> procs(kLive);
    for (size_t i = 0; i < kLive; ++i) {
        Proc& p = procs[i];
        p.level = i == 0 ? 0 : (i - 1) % (kLevels - 1) + 1;
        p.pid = kPidBase + static_cast<uint32_t>(i);
        p.start_ns = first_start_ns + i * kStepNs;
        if (i) {
            const Proc& parent = p.level == 1 ? procs[0] : procs[i - 1];
            p.ppid = parent.pid;
            p.parent_start_ns = parent.start_ns;
        }
        const Level& l = kLevelInfo[p.level];
        uint32_t chain = i == 0 ? 0 : static_cast<uint32_t>((i - 1) / (kLevels - 1));
        if (p.level >= 2) {  // logged in: the session and login uid are set from sshd [priv] on
            p.auid = 1000;
            p.ses = chain + 1;
        }
        if (l.user) p.uid = p.euid = p.gid = 1000;
        p.comm = l.comm;
        p.exe = l.exe;
        p.cwd = l.cwd;
        p.args = make_args(l, rng);
    }
    return procs;
}

// As Agent::next_event: one Event, cleared and refilled for every event.
class Scratch {
public:
    Event& next() { return ev_; }

private:
    Event ev_;
};

// What decoder.cc's fill_task sets: the acting task's ids.
TaskRef fill_task(const Proc& p, uint32_t tid, const ktrail::BootClock& clock, Event& ev) {
    auto* pr = ev.mutable_process();
    pr->set_pid(p.pid);
    pr->set_thread_id(tid);
    pr->set_name(p.comm);
    pr->set_start_ns(clock.to_unix_ns(p.start_ns));
    if (p.ppid) pr->mutable_parent()->set_pid(p.ppid);
    auto* u = ev.mutable_user();
    u->set_id(p.uid);
    u->mutable_effective()->set_id(p.euid);
    u->mutable_group()->set_id(p.gid);
    if (p.auid != kUnset) u->mutable_audit()->set_id(p.auid);
    if (p.ses != kUnset) ev.mutable_session()->set_id(p.ses);
    return {p.pid, p.ppid, p.start_ns, p.parent_start_ns, 0};
}

void lifecycle_header(Event& ev, uint64_t ktime_ns, const ktrail::BootClock& clock, const char* action,
                      const char* type) {
    ev.set_time_ns(clock.to_unix_ns(ktime_ns));
    ev.set_module("bpf");
    ev.set_kind("event");
    ev.set_outcome("success");
    ev.set_action(action);
    ev.add_category("process");
    ev.add_type(type);
}

// decode_fork: the child is the process, the forking task its parent.
TaskRef build_fork(const Proc& p, const ktrail::BootClock& clock, Event& ev) {
    ev.Clear();
    lifecycle_header(ev, p.start_ns, clock, "forked", "start");
    return fill_task(p, p.pid, clock, ev);
}

// decode_exec.
TaskRef build_exec(const Proc& p, const ktrail::BootClock& clock, Event& ev) {
    ev.Clear();
    lifecycle_header(ev, p.start_ns + 500'000, clock, "executed", "start");
    TaskRef t = fill_task(p, p.pid, clock, ev);
    auto* pr = ev.mutable_process();
    pr->set_executable(p.exe);
    pr->set_working_directory(p.cwd);
    for (const auto& a : p.args) pr->add_args(a);
    pr->set_args_truncated(false);
    auto* f = ev.mutable_file();
    f->set_path(p.exe);
    f->set_inode(1'000'000 + p.level);
    f->set_device(0x801);
    ev.mutable_ktrail()->set_syscall("execve");
    return t;
}

// decode_syscall for a successful openat(O_RDONLY) of an existing file.
TaskRef build_open(const Proc& p, uint32_t tid, const std::string& path, uint64_t ktime_ns,
                   const ktrail::BootClock& clock, Event& ev) {
    ev.Clear();
    ev.set_time_ns(clock.to_unix_ns(ktime_ns));
    TaskRef t = fill_task(p, tid, clock, ev);
    ev.set_module("bpf");
    ev.set_kind("event");
    ev.set_outcome("success");
    auto* k = ev.mutable_ktrail();
    k->set_syscall("openat");
    ev.set_action("opened-file");
    ev.add_category("file");
    ev.add_type("access");
    auto* f = ev.mutable_file();
    f->set_path(path);
    k->add_flags("O_RDONLY");
    f->set_inode(2'000'000 + tid % 977);
    f->set_device(0x801);
    f->set_mode(0644);
    return t;
}

// What the audit mapper makes of SYSCALL+CWD+PATH for an openat.
void build_audit_open(const Proc& p, const std::string& path, int64_t unix_ns, Event& ev) {
    ev.Clear();
    ev.set_time_ns(unix_ns);
    ev.set_kind("event");
    ev.set_module("audit");
    ev.set_outcome("success");
    auto* pr = ev.mutable_process();
    pr->set_pid(p.pid);
    if (p.ppid) pr->mutable_parent()->set_pid(p.ppid);
    pr->set_name(p.comm);
    pr->set_executable(p.exe);
    pr->set_working_directory(p.cwd);
    auto* u = ev.mutable_user();
    if (p.auid != kUnset) u->mutable_audit()->set_id(p.auid);
    if (p.ses != kUnset) ev.mutable_session()->set_id(p.ses);
    u->set_id(p.uid);
    u->mutable_effective()->set_id(p.euid);
    u->mutable_group()->set_id(p.gid);
    ev.mutable_ktrail()->set_syscall("openat");
    ev.set_action("opened-file");
    ev.add_category("file");
    ev.add_type("access");
    auto* f = ev.mutable_file();
    f->set_path(path);
    f->set_inode(2'000'000);
    f->set_mode(0644);
    f->set_uid(0);
    f->set_gid(0);
}

// The login records of one session, as the audit mapper makes them: LOGIN
// (the login uid set in sshd [priv]) then USER_START.
void build_audit_login(const Proc& sshd, bool start, int64_t unix_ns, Event& ev) {
    ev.Clear();
    ev.set_time_ns(unix_ns);
    ev.set_kind("event");
    ev.set_module("audit");
    ev.set_outcome("success");
    ev.set_action(start ? "started-session" : "changed-login-id-to");
    ev.add_category(start ? "session" : "authentication");
    ev.add_type("start");
    auto* pr = ev.mutable_process();
    pr->set_pid(sshd.pid);
    pr->set_name(sshd.comm);
    pr->set_executable(sshd.exe);
    ev.mutable_user()->mutable_audit()->set_id(sshd.auid);
    auto* s = ev.mutable_session();
    s->set_id(sshd.ses);
    if (start) {
        s->set_login_user("deploy");
        s->set_remote_ip("203.0.113." + std::to_string(sshd.ses % 250 + 1));
        s->set_tty("/dev/pts/" + std::to_string(sshd.ses % 64));
    }
}

// Forks every process into the table; execs all of them, or only the root.
void populate(ktrail::Enricher& e, const std::vector<Proc>& procs, bool exec_all, const ktrail::BootClock& clock,
              Event& ev) {
    for (const Proc& p : procs) {
        TaskRef t = build_fork(p, clock, ev);
        e.enrich_bpf(ev, t, Lifecycle::kFork);
        if (!exec_all && p.level != 0) continue;
        t = build_exec(p, clock, ev);
        e.enrich_bpf(ev, t, Lifecycle::kExec);
    }
}

bool check_table(const ktrail::Enricher& e, const char* what) {
    auto s = e.stats().processes;
    if (s.live == kLive && s.proc_reads == 0) return true;
    fprintf(stderr, "enrich_bench: %s: table has %zu live processes (want %zu), %llu read from /proc (want 0)\n",
            what, s.live, kLive, static_cast<unsigned long long>(s.proc_reads));
    return false;
}

size_t heap_in_use() {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

// Heap bytes a fresh enricher's table takes for `procs` (the enricher's own
// fixed cost excluded, the events used to fill it freed before measuring).
// 0 on a setup failure.
size_t table_bytes(const std::vector<Proc>& procs, bool exec_all, const ktrail::BootClock& clock) {
    auto e = std::make_unique<ktrail::Enricher>("bench", &clock);
    size_t before = heap_in_use();
    {
        Event ev;
        populate(*e, procs, exec_all, clock, ev);
    }
    size_t after = heap_in_use();
    if (!check_table(*e, exec_all ? "memory (exec)" : "memory (fork)")) return 0;
    return after > before ? after - before : 0;
}

}  // namespace

int main(int argc, char** argv) {
    size_t events = 1'000'000;
    if (argc > 2 || (argc == 2 && (events = strtoull(argv[1], nullptr, 10)) == 0)) {
        fprintf(stderr, "usage: enrich_bench [EVENTS]\n");
        return 2;
    }
    ktrail::BootClock clock;
    // Every synthetic process started in the past (audit events resolve a pid
    // as of their time), the last one 5 s ago.
    uint64_t span = kLive * kStepNs + 5'000'000'000u;
    uint64_t boot_now = boot_now_ns();
    if (boot_now <= span + 1'000'000'000u) {
        fprintf(stderr, "enrich_bench: booted %llu s ago; needs %llu s of boot time for the synthetic starts\n",
                static_cast<unsigned long long>(boot_now / 1'000'000'000u),
                static_cast<unsigned long long>(span / 1'000'000'000u + 1));
        return 1;
    }
    const std::vector<Proc> procs = make_tree(boot_now - span);
    std::vector<std::string> paths(std::begin(kPaths), std::end(kPaths));

    ktrail::Enricher enricher("bench", &clock);
    Scratch scratch;
    populate(enricher, procs, true, clock, scratch.next());
    if (!check_table(enricher, "timing")) return 1;
    // The login sessions, as the audit stream reports them.
    int64_t login_ns = clock.to_unix_ns(procs[0].start_ns);
    for (const Proc& p : procs) {
        if (p.level != 2) continue;
        for (bool start : {false, true}) {
            Event& ev = scratch.next();
            build_audit_login(p, start, login_ns, ev);
            enricher.enrich_audit(ev);
        }
    }

    // The clock read each timed span includes.
    std::vector<uint32_t> timer(100'000);
    for (auto& t : timer) {
        auto a = Clock::now();
        auto b = Clock::now();
        t = ns_between(a, b);
    }

    // BPF file events: the decode-like build, then enrich_bpf, timed apart.
    std::vector<uint32_t> build_ns(events), enrich_ns(events);
    uint64_t rng = 0x9e3779b97f4a7c15u;
    uint64_t ktime = boot_now;
    size_t unresolved = 0;
    for (size_t i = 0; i < kWarmup + events; ++i) {
        Event& ev = scratch.next();
        uint64_t r = xorshift(rng);
        const Proc& p = procs[r % kLive];
        uint32_t tid = p.pid + static_cast<uint32_t>((r >> 32) % 3);  // a few threads
        const std::string& path = paths[(r >> 40) % paths.size()];
        ktime += 1000;
        auto t0 = Clock::now();
        TaskRef t = build_open(p, tid, path, ktime, clock, ev);
        auto t1 = Clock::now();
        enricher.enrich_bpf(ev, t, Lifecycle::kNone);
        auto t2 = Clock::now();
        if (ev.process().entity_id().empty() || ev.process().ancestry_size() != static_cast<int>(p.level) ||
            ev.process().executable().empty())
            ++unresolved;
        if (i < kWarmup) continue;
        build_ns[i - kWarmup] = ns_between(t0, t1);
        enrich_ns[i - kWarmup] = ns_between(t1, t2);
    }

    // Audit events through enrich_audit (the build not timed).
    std::vector<uint32_t> audit_ns(events);
    for (size_t i = 0; i < kWarmup + events; ++i) {
        Event& ev = scratch.next();
        uint64_t r = xorshift(rng);
        const Proc& p = procs[r % kLive];
        int64_t now_ms = ktrail::BootClock::now_unix_ns() / 1'000'000 * 1'000'000;  // audit's precision
        build_audit_open(p, paths[(r >> 40) % paths.size()], now_ms, ev);
        auto t0 = Clock::now();
        enricher.enrich_audit(ev);
        auto t1 = Clock::now();
        if (ev.process().entity_id().empty() || ev.process().ancestry_size() != static_cast<int>(p.level)) ++unresolved;
        if (i >= kWarmup) audit_ns[i - kWarmup] = ns_between(t0, t1);
    }
    if (unresolved) {
        fprintf(stderr, "enrich_bench: %zu events not resolved to their synthetic process\n", unresolved);
        return 1;
    }
    if (!check_table(enricher, "after timing")) return 1;

    size_t exec_bytes = table_bytes(procs, true, clock);
    size_t fork_bytes = table_bytes(procs, false, clock);
    if (!exec_bytes || !fork_bytes) return 1;

    Summary tm = summarize(std::move(timer));
    Summary b = summarize(std::move(build_ns));
    Summary e = summarize(std::move(enrich_ns));
    Summary a = summarize(std::move(audit_ns));
    auto per = [](size_t bytes) { return static_cast<double>(bytes) / kLive; };
    auto mib10k = [](size_t bytes) { return static_cast<double>(bytes) / kLive * 10'000 / (1024.0 * 1024.0); };
    printf("enrich_bench events=%zu live=%zu depth=%zu\n", events, kLive, kLevels);
    printf("timer_overhead_ns median=%llu p99=%llu\n", static_cast<unsigned long long>(tm.median),
           static_cast<unsigned long long>(tm.p99));
    printf("baseline_build_ns median=%llu p99=%llu mean=%.1f\n", static_cast<unsigned long long>(b.median),
           static_cast<unsigned long long>(b.p99), b.mean);
    printf("enrich_bpf_ns median=%llu p99=%llu mean=%.1f\n", static_cast<unsigned long long>(e.median),
           static_cast<unsigned long long>(e.p99), e.mean);
    printf("enrich_bpf_ratio median=%.2f\n",
           b.median ? static_cast<double>(e.median) / static_cast<double>(b.median) : 0.0);
    printf("enrich_audit_ns median=%llu p99=%llu mean=%.1f\n", static_cast<unsigned long long>(a.median),
           static_cast<unsigned long long>(a.p99), a.mean);
    printf("table_bytes_per_process exec=%.0f fork=%.0f\n", per(exec_bytes), per(fork_bytes));
    printf("table_mib_per_10k exec=%.2f fork=%.2f\n", mib10k(exec_bytes), mib10k(fork_bytes));
    return 0;
}
