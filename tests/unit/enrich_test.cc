// Enrichment without privileges: container ids from cgroup paths, the
// process table's lifecycle and bounds, entity ids, login sessions, user
// names, and the enricher on hand-built events.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "enrich/container.h"
#include "enrich/enricher.h"
#include "enrich/entity_id.h"
#include "enrich/proc_reader.h"
#include "enrich/process_table.h"
#include "enrich/sessions.h"
#include "enrich/task_ref.h"
#include "enrich/user_names.h"

using ktrail::container_id_from_cgroup_path;
using ktrail::EntityIds;
using ktrail::ProcessImage;
using ktrail::ProcessInfo;
using ktrail::ProcessTable;
using ktrail::ProcessTableLimits;

namespace {

const std::string kId1 = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
const std::string kId2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

constexpr uint64_t kSec = 1'000'000'000ULL;

// Pids above pid_max: never a real process, so /proc is never consulted.
bool pid_absent(uint32_t pid) { return kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH; }

std::shared_ptr<const ProcessImage> image(std::string exe, std::vector<std::string> args) {
    auto img = std::make_shared<ProcessImage>();
    img->executable = std::move(exe);
    img->args = std::move(args);
    return img;
}

ProcessTable table(ProcessTableLimits limits = {}) { return ProcessTable(EntityIds("boot-x"), limits); }

std::vector<std::string> own_cmdline() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    size_t i = 0;
    while (i < all.size()) {
        size_t j = all.find('\0', i);
        if (j == std::string::npos) j = all.size();
        args.push_back(all.substr(i, j - i));
        i = j + 1;
    }
    return args;
}

std::string own_exe() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

ktrail::v1::Event audit_event(std::string action, uint32_t pid, uint32_t session) {
    ktrail::v1::Event ev;
    ev.set_module("audit");
    ev.set_action(std::move(action));
    ev.mutable_process()->set_pid(pid);
    ev.mutable_session()->set_id(session);
    return ev;
}

}  // namespace

// --- container ids -----------------------------------------------------------

TEST_CASE("container ids are found in docker, podman, containerd, CRI-O and kubernetes cgroup paths", "[enrich]") {
    CHECK(container_id_from_cgroup_path("/docker/" + kId1) == kId1);
    CHECK(container_id_from_cgroup_path("/system.slice/docker-" + kId1 + ".scope") == kId1);
    CHECK(container_id_from_cgroup_path("/machine.slice/libpod-" + kId1 + ".scope/container") == kId1);
    CHECK(container_id_from_cgroup_path("/kubepods.slice/kubepods-burstable.slice/"
                                        "kubepods-burstable-pod1d2c3b4a_5e6f_4a7b_8c9d_0e1f2a3b4c5d.slice/"
                                        "cri-containerd-" +
                                        kId1 + ".scope") == kId1);
    CHECK(container_id_from_cgroup_path("/kubepods/besteffort/pod1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d/" + kId1) ==
          kId1);
    CHECK(container_id_from_cgroup_path("/kubepods.slice/kubepods-besteffort.slice/"
                                        "kubepods-besteffort-pod1d2c3b4a_5e6f_4a7b_8c9d_0e1f2a3b4c5d.slice/crio-" +
                                        kId1 + ".scope") == kId1);
    CHECK(container_id_from_cgroup_path("/kubepods.slice/kubepods-besteffort.slice/"
                                        "kubepods-besteffort-pod1d2c3b4a_5e6f_4a7b_8c9d_0e1f2a3b4c5d.slice:"
                                        "cri-containerd:" +
                                        kId1) == kId1);
}

TEST_CASE("a container inside a container is named by the innermost id", "[enrich]") {
    CHECK(container_id_from_cgroup_path("/docker/" + kId1 + "/docker/" + kId2) == kId2);
    CHECK(container_id_from_cgroup_path("/system.slice/docker-" + kId1 + ".scope/docker/" + kId2) == kId2);
}

TEST_CASE("podman's conmon, login sessions and malformed ids are not containers", "[enrich]") {
    CHECK(container_id_from_cgroup_path("/machine.slice/libpod-conmon-" + kId1 + ".scope") == "");
    CHECK(container_id_from_cgroup_path("/") == "");
    CHECK(container_id_from_cgroup_path("") == "");
    CHECK(container_id_from_cgroup_path("/user.slice/user-1000.slice/session-3.scope") == "");
    CHECK(container_id_from_cgroup_path("/docker/" + kId1.substr(1)) == "");          // 63 hex
    CHECK(container_id_from_cgroup_path("/docker/" + kId1 + "a") == "");              // 65 hex
    CHECK(container_id_from_cgroup_path("/system.slice/docker-" + kId1.substr(1) + ".scope") == "");
    std::string upper = kId1;
    for (char& c : upper) c = static_cast<char>(toupper(c));
    CHECK(container_id_from_cgroup_path("/docker/" + upper) == "");
    // A v1 hierarchy's 32-hex job id (as on this host) is not a container.
    CHECK(container_id_from_cgroup_path("/process_api/152b3ba9f7c2d107bee38662fe1823b8") == "");
}

TEST_CASE("the test process itself is not in a container", "[enrich]") {
    // Precondition: no hierarchy in /proc/self/cgroup names a 64-hex id.
    std::ifstream in("/proc/self/cgroup");
    std::string line, all;
    while (std::getline(in, line)) all += line + "\n";
    INFO(all);
    REQUIRE_FALSE(all.empty());
    REQUIRE_FALSE(std::regex_search(all, std::regex("[0-9a-f]{64}")));
    CHECK(ktrail::container_id_from_proc(static_cast<uint32_t>(getpid())) == "");
}

// --- process table -----------------------------------------------------------

TEST_CASE("a forked child runs its parent's image and names its parent and ancestors nearest first", "[enrich]") {
    auto t = table();
    const uint32_t grand = 3999980, parent = 3999981, child = 3999982;
    REQUIRE(pid_absent(grand));
    const ProcessInfo& g = t.on_exec(grand, 100 * kSec, 0, 0, image("/usr/sbin/sshd", {"sshd", "-D"}));
    const ProcessInfo& p = t.on_fork(parent, 200 * kSec, grand, 100 * kSec);
    const ProcessInfo& c = t.on_fork(child, 300 * kSec, parent, 200 * kSec);

    CHECK(p.parent_key == g.key);
    CHECK(c.parent_key == p.key);
    CHECK(c.ppid == parent);
    CHECK(c.image->executable == "/usr/sbin/sshd");
    CHECK(c.image->args == std::vector<std::string>{"sshd", "-D"});
    CHECK(c.ancestry == std::vector<uint64_t>{p.key, g.key});
    CHECK(g.ancestry.empty());
    CHECK(t.find(c.key) == &c);
    CHECK(c.entity_id == EntityIds::format(t.ids().key(child, 300 * kSec)));
}

TEST_CASE("an exec replaces the image of that process only", "[enrich]") {
    auto t = table();
    const ProcessInfo& p = t.on_exec(3999980, 100 * kSec, 0, 0, image("/bin/bash", {"bash"}));
    t.on_fork(3999981, 200 * kSec, 3999980, 100 * kSec);
    const ProcessInfo& c = t.on_exec(3999981, 200 * kSec, 3999980, 100 * kSec,
                                     image("/usr/bin/vim", {"vim", "/etc/hosts"}));
    CHECK(c.image->executable == "/usr/bin/vim");
    CHECK(c.image->args == std::vector<std::string>{"vim", "/etc/hosts"});
    CHECK(c.parent_key == p.key);
    CHECK(p.image->executable == "/bin/bash");
    CHECK(p.image->args == std::vector<std::string>{"bash"});
    CHECK(t.size() == 2);  // the exec kept the forked entry
}

TEST_CASE("ancestry is cut at max_ancestry, keeping the nearest ancestors", "[enrich]") {
    auto t = table({.max_ancestry = 3});
    std::vector<uint64_t> keys;
    uint32_t ppid = 0;
    uint64_t pstart = 0;
    for (uint32_t i = 0; i < 8; ++i) {
        uint32_t pid = 3999900 + i;
        uint64_t start = (100 + i) * kSec;
        keys.push_back(t.on_fork(pid, start, ppid, pstart).key);
        ppid = pid;
        pstart = start;
    }
    const ProcessInfo* last = t.find(keys.back());
    REQUIRE(last);
    CHECK(last->ancestry == std::vector<uint64_t>{keys[6], keys[5], keys[4]});
    const ProcessInfo* second = t.find(keys[1]);
    REQUIRE(second);
    CHECK(second->ancestry == std::vector<uint64_t>{keys[0]});
}

TEST_CASE("an exited process stays resolvable for the grace period, then is dropped", "[enrich]") {
    auto t = table({.exited_grace_s = 60});
    uint64_t key = t.on_fork(3999990, 100 * kSec, 0, 0).key;
    t.on_exit(3999990, 100 * kSec, 1000);
    const ProcessInfo* p = t.find(key);
    REQUIRE(p);
    CHECK(p->exited_at == 1000);
    CHECK(t.stats().exited == 1);
    CHECK(t.stats().live == 0);

    t.expire(1059);
    CHECK(t.find(key) != nullptr);
    t.expire(1061);
    CHECK(t.find(key) == nullptr);
    CHECK(t.size() == 0);
    CHECK(t.stats().evicted == 1);
}

TEST_CASE("a storm of short-lived processes keeps at most max_exited exited entries", "[enrich]") {
    auto t = table({.max_exited = 100});
    const ProcessInfo& parent = t.on_exec(3999000, 10 * kSec, 0, 0, image("/usr/bin/make", {"make"}));
    const uint64_t parent_key = parent.key;
    const uint64_t tick = EntityIds::ns_per_tick();
    const size_t n = 100000;
    uint64_t first = 0, last = 0;
    for (size_t i = 0; i < n; ++i) {
        uint32_t pid = 5'000'000 + static_cast<uint32_t>(i);
        uint64_t start = 20 * kSec + i * tick;
        uint64_t k = t.on_fork(pid, start, 3999000, 10 * kSec).key;
        if (i == 0) first = k;
        last = k;
        t.on_exit(pid, start, 100);
        REQUIRE(t.size() <= 1 + 100);
    }
    auto st = t.stats();
    CHECK(st.live == 1);
    CHECK(st.exited == 100);
    CHECK(st.evicted == n - 100);
    CHECK(t.size() == 101);
    CHECK(t.find(parent_key) != nullptr);
    CHECK(t.find(first) == nullptr);
    CHECK(t.find(last) != nullptr);
}

TEST_CASE("a reused pid is a new process; the old one keeps its entry, marked exited", "[enrich]") {
    auto t = table();
    const uint32_t pid = 3999990;
    uint64_t old_key = t.on_exec(pid, 100 * kSec, 0, 0, image("/usr/bin/old", {"old"})).key;
    uint64_t new_key = t.on_exec(pid, 500 * kSec, 0, 0, image("/usr/bin/new", {"new"})).key;
    REQUIRE(old_key != new_key);
    const ProcessInfo* old_p = t.find(old_key);
    const ProcessInfo* new_p = t.find(new_key);
    REQUIRE(old_p);
    REQUIRE(new_p);
    CHECK(old_p->exited_at != 0);
    CHECK(old_p->image->executable == "/usr/bin/old");
    CHECK(new_p->exited_at == 0);
    CHECK(new_p->image->executable == "/usr/bin/new");
    // An audit record by pid alone, after the reuse, names the new process.
    CHECK(t.resolve_pid(pid, 600 * kSec) == new_p);
    CHECK(t.stats().live == 1);
    CHECK(t.stats().exited == 1);
}

TEST_CASE("a late event of a process whose pid was reused since does not displace the newer process", "[enrich]") {
    auto t = table({.exited_grace_s = 60});
    // The pid is this test's own, so that reconcile sees the newer process run.
    const uint32_t pid = static_cast<uint32_t>(getpid());
    auto self_start = ktrail::read_proc_start(pid);
    REQUIRE(self_start);
    const uint64_t old_start = EntityIds::ns_per_tick();  // long before this test started
    REQUIRE(EntityIds::ticks(old_start) != EntityIds::ticks(self_start->first));
    uint64_t old_key = t.on_fork(pid, old_start, 0, 0).key;
    t.on_exit(pid, old_start, 1000);
    t.expire(2000);
    REQUIRE(t.find(old_key) == nullptr);
    uint64_t new_key = t.resolve(pid, self_start->first, 0, 0).key;

    // A record of the old process, delayed past its grace (a full ring buffer).
    const ProcessInfo& late = t.resolve(pid, old_start, 0, 0);
    CHECK(late.key == old_key);
    const ProcessInfo* now_running = t.find(new_key);
    REQUIRE(now_running);
    CHECK(now_running->exited_at == 0);
    CHECK(t.resolve_pid(pid, self_start->first + 10 * kSec) == now_running);

    // The late entry is known to be gone: the pid belongs to a newer process.
    t.reconcile(2100);
    REQUIRE(t.find(old_key));
    CHECK(t.find(old_key)->exited_at == 2100);
    REQUIRE(t.find(new_key));
    CHECK(t.find(new_key)->exited_at == 0);
}

TEST_CASE("a running process no event introduced is filled from /proc", "[enrich]") {
    auto t = table();
    const uint32_t self = static_cast<uint32_t>(getpid());
    auto start = ktrail::read_proc_start(self);
    REQUIRE(start);
    CHECK(start->second == static_cast<uint32_t>(getppid()));
    // A BPF start has ns precision; /proc's is the tick: both name the process.
    const ProcessInfo& p = t.resolve(self, start->first + EntityIds::ns_per_tick() / 2, 0, 0);
    CHECK(p.pid == self);
    CHECK(p.ppid == static_cast<uint32_t>(getppid()));
    CHECK(p.key == t.ids().key(self, start->first));
    CHECK(p.image->executable == own_exe());
    CHECK(p.image->args == own_cmdline());
    REQUIRE_FALSE(p.image->args.empty());
    CHECK_THAT(p.image->args[0], Catch::EndsWith("unit_tests"));
    auto parent_start = ktrail::read_proc_start(static_cast<uint32_t>(getppid()));
    REQUIRE(parent_start);
    CHECK(p.parent_key == t.ids().key(static_cast<uint32_t>(getppid()), parent_start->first));
    CHECK(t.stats().proc_reads == 1);
    // Resolved again: the table answers, /proc is not read twice.
    CHECK(&t.resolve(self, start->first, 0, 0) == &p);
    CHECK(t.stats().proc_reads == 1);
}

TEST_CASE("a process found by pid alone must have started by the record's time", "[enrich]") {
    auto t = table();
    const uint32_t pid = 3999990;
    REQUIRE(pid_absent(pid));
    const ProcessInfo& p = t.on_fork(pid, 1000 * kSec, 0, 0);
    CHECK(t.resolve_pid(pid, 500 * kSec) == nullptr);
    CHECK(t.resolve_pid(pid, 1000 * kSec) == &p);
    CHECK(t.resolve_pid(pid, 2000 * kSec) == &p);
    CHECK(t.resolve_pid(3999991, 2000 * kSec) == nullptr);  // neither the table nor /proc knows it
}

TEST_CASE("reconcile marks processes that are gone as exited and leaves running ones alone", "[enrich]") {
    auto t = table();
    const uint32_t self = static_cast<uint32_t>(getpid());
    auto start = ktrail::read_proc_start(self);
    REQUIRE(start);
    uint64_t self_key = t.resolve(self, start->first, 0, 0).key;

    const uint32_t ghost = 4194000;
    REQUIRE(pid_absent(ghost));
    uint64_t ghost_key = t.on_fork(ghost, 100 * kSec, 0, 0).key;

    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) _exit(0);
    REQUIRE(waitpid(child, nullptr, 0) == child);
    uint64_t reaped_key = t.on_fork(static_cast<uint32_t>(child), 200 * kSec, self, start->first).key;

    t.reconcile(5000);
    REQUIRE(t.find(ghost_key));
    CHECK(t.find(ghost_key)->exited_at == 5000);
    REQUIRE(t.find(reaped_key));
    CHECK(t.find(reaped_key)->exited_at == 5000);
    REQUIRE(t.find(self_key));
    CHECK(t.find(self_key)->exited_at == 0);
    CHECK(t.stats().exited == 2);
}

// --- entity ids --------------------------------------------------------------

TEST_CASE("entity ids are stable per boot, pid and start tick and formatted as 16 hex digits", "[enrich]") {
    EntityIds a("boot-x"), b("boot-x"), other("boot-y");
    const uint64_t tick = EntityIds::ns_per_tick();
    CHECK(tick == 1'000'000'000ULL / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
    const uint64_t start = 12345 * tick;
    CHECK(a.key(100, start) == b.key(100, start));
    CHECK(a.key(100, start) != other.key(100, start));
    CHECK(a.key(100, start) != a.key(101, start));
    CHECK(a.key(100, start) != a.key(100, start + tick));
    // Within one tick: the same process, whether BPF or /proc saw it.
    CHECK(a.key(100, start) == a.key(100, start + tick - 1));
    CHECK(a.key(100, start) == a.key(100, start + tick / 2));

    CHECK(EntityIds::format(0x0123456789abcdefULL) == "0123456789abcdef");
    CHECK(EntityIds::format(0xfedcba9876543210ULL) == "fedcba9876543210");
    CHECK(EntityIds::format(1) == "0000000000000001");
    CHECK(std::regex_match(EntityIds::format(a.key(100, start)), std::regex("[0-9a-f]{16}")));
}

// --- sessions ----------------------------------------------------------------

TEST_CASE("a login session is named by its leader's login records", "[enrich]") {
    ktrail::Sessions s;
    const uint32_t leader = 4242;
    auto login = audit_event("changed-login-id-to", leader, 5);
    login.mutable_user()->mutable_audit()->set_id(1000);
    s.observe(login);

    auto started = audit_event("started-session", leader, 5);
    started.mutable_session()->set_login_user("alice");
    started.mutable_session()->set_remote_ip("10.1.2.3");
    started.mutable_session()->set_tty("ssh");
    s.observe(started);

    auto logged_in = audit_event("logged-in", leader, 5);
    logged_in.mutable_session()->set_tty("/dev/pts/3");
    s.observe(logged_in);

    const ktrail::SessionInfo* info = s.find(5);
    REQUIRE(info);
    CHECK(info->login_user == "alice");
    CHECK(info->remote_ip == "10.1.2.3");
    CHECK(info->tty == "/dev/pts/3");
    CHECK(info->leader_pid == leader);
    CHECK(info->auid == 1000u);

    // sudo inside the session: its own session record names root.
    auto sudo = audit_event("started-session", 5555, 5);
    sudo.mutable_session()->set_login_user("root");
    sudo.mutable_session()->set_tty("/dev/pts/9");
    s.observe(sudo);
    info = s.find(5);
    REQUIRE(info);
    CHECK(info->login_user == "alice");
    CHECK(info->tty == "/dev/pts/3");
    CHECK_FALSE(info->ended);

    s.observe(audit_event("ended-session", 5555, 5));
    CHECK_FALSE(s.find(5)->ended);
    s.observe(audit_event("ended-session", leader, 5));
    CHECK(s.find(5)->ended);
}

TEST_CASE("sessions learn only from audit events", "[enrich]") {
    ktrail::Sessions s;
    auto ev = audit_event("changed-login-id-to", 4242, 6);
    ev.set_module("bpf");
    ev.mutable_user()->mutable_audit()->set_id(1000);
    s.observe(ev);
    auto started = audit_event("started-session", 4242, 6);
    started.set_module("bpf");
    started.mutable_session()->set_login_user("alice");
    s.observe(started);
    CHECK(s.find(6) == nullptr);
    CHECK(s.size() == 0);
}

TEST_CASE("past 8192 sessions the newest are kept", "[enrich]") {
    ktrail::Sessions s;
    const uint32_t n = 8192 + 100;
    for (uint32_t id = 1; id <= n; ++id) s.observe(audit_event("changed-login-id-to", 10000 + id, id));
    CHECK(s.size() == 8192);
    CHECK(s.find(1) == nullptr);
    CHECK(s.find(100) == nullptr);
    REQUIRE(s.find(101));
    CHECK(s.find(101)->leader_pid == 10101u);
    REQUIRE(s.find(n));
    CHECK(s.find(n)->leader_pid == 10000 + n);
}

TEST_CASE("a record of a session older than every one kept does not displace the newest", "[enrich]") {
    ktrail::Sessions s;
    for (uint32_t id = 1001; id < 1001 + 8192; ++id) s.observe(audit_event("changed-login-id-to", id, id));
    REQUIRE(s.size() == 8192);
    // A nohup'ed process of session 3 ends it long after: 3 was dropped.
    s.observe(audit_event("ended-session", 77, 3));
    CHECK(s.size() == 8192);
    CHECK(s.find(3) == nullptr);
    REQUIRE(s.find(1001));
    CHECK(s.find(1001)->leader_pid == 1001u);
    REQUIRE(s.find(1000 + 8192));
    CHECK_FALSE(s.find(1000 + 8192)->ended);
}

// --- user names --------------------------------------------------------------

TEST_CASE("user and group ids are named through NSS", "[enrich]") {
    ktrail::UserNames names;
    CHECK(names.user(0) == "root");
    CHECK(names.group(0) == "root");
    CHECK(names.user(3999999) == "");
    CHECK(names.group(3999999) == "");
    uint64_t before = names.invalidations();
    names.invalidate();
    CHECK(names.invalidations() == before + 1);
    CHECK(names.user(0) == "root");  // looked up again after the cache was dropped
}

// --- the enricher ------------------------------------------------------------

TEST_CASE("events of a process carry its image, lineage, user and file names and login", "[enrich]") {
    ktrail::Enricher e("boot-x", nullptr);
    const uint32_t shell = 3999989, pid = 3999990;
    REQUIRE(pid_absent(shell));
    REQUIRE(pid_absent(pid));
    const ktrail::TaskRef shell_task{shell, 1, 100 * kSec, 0, 0};
    const ktrail::TaskRef task{pid, shell, 200 * kSec, 100 * kSec, 0};

    ktrail::v1::Event shell_exec;
    shell_exec.set_module("bpf");
    shell_exec.mutable_process()->set_pid(shell);
    shell_exec.mutable_process()->set_executable("/bin/bash");
    shell_exec.mutable_process()->add_args("-bash");
    e.enrich_bpf(shell_exec, shell_task, ktrail::Lifecycle::kExec);
    const std::string shell_id = shell_exec.process().entity_id();
    CHECK(shell_id.size() == 16);

    ktrail::v1::Event fork;
    fork.set_module("bpf");
    fork.mutable_process()->set_pid(pid);
    e.enrich_bpf(fork, task, ktrail::Lifecycle::kFork);
    CHECK(fork.process().executable() == "/bin/bash");  // still the shell's image

    ktrail::v1::Event exec;
    exec.set_module("bpf");
    exec.mutable_process()->set_pid(pid);
    exec.mutable_process()->set_executable("/usr/bin/vim");
    exec.mutable_process()->add_args("vim");
    exec.mutable_process()->add_args("/etc/hosts");
    e.enrich_bpf(exec, task, ktrail::Lifecycle::kExec);
    CHECK(exec.process().entity_id() == fork.process().entity_id());

    ktrail::v1::Event login = audit_event("changed-login-id-to", pid, 77);
    login.add_category("authentication");
    login.mutable_user()->mutable_audit()->set_id(0);
    e.enrich_audit(login);

    ktrail::v1::Event open;
    open.set_module("bpf");
    open.set_action("opened-file");
    open.mutable_process()->set_pid(pid);
    open.mutable_user()->set_id(0);
    open.mutable_session()->set_id(77);
    open.mutable_file()->set_path("/etc/hosts");
    open.mutable_file()->set_uid(0);
    open.mutable_file()->set_gid(0);
    e.enrich_bpf(open, task, ktrail::Lifecycle::kNone);

    const auto& proc = open.process();
    CHECK(proc.executable() == "/usr/bin/vim");
    CHECK(std::vector<std::string>(proc.args().begin(), proc.args().end()) ==
          std::vector<std::string>{"vim", "/etc/hosts"});
    CHECK(proc.entity_id() == exec.process().entity_id());
    CHECK(proc.parent().pid() == shell);
    CHECK(proc.parent().entity_id() == shell_id);
    CHECK(proc.parent().executable() == "/bin/bash");
    REQUIRE(proc.ancestry_size() >= 1);
    CHECK(proc.ancestry(0) == shell_id);
    CHECK(open.user().name() == "root");
    CHECK(open.file().owner() == "root");
    CHECK(open.file().group() == "root");
    CHECK(open.session().login_user() == "root");
}
