// e2e: the Debian package. Builds it (scripts/package.sh), installs it with
// dpkg, checks what it put where (binaries, units, conffiles, the ktrail
// user, the state directories), runs the INSTALLED ktraild and
// ktrail-collector as their units would (systemd is not PID 1 here: the
// units' ExecStart, capability bounding set, user, no_new_privs and mount
// namespace settings (support/unit_mounts.h) are applied by this test),
// sees events reach the store, checks both daemons'
// capabilities and their READY=1/STOPPING=1 notifications, and purges the
// package with both still running: nothing may be left running or on disk,
// and the user is gone. The package is purged whatever fails (PurgeGuard).
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/host_fixtures.h"
#include "../support/proc_status.h"
#include "../support/unit_mounts.h"
#include "collector_harness.h"
#include "ktraild_harness.h"

using namespace ktrail::e2e;
using ktrail::test::cap_field;
using ktrail::test::cap_mask;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string kAgent = "/usr/sbin/ktraild", kCollector = "/usr/sbin/ktrail-collector", kCli = "/usr/bin/ktrail";
const std::string kUnitDir = "/lib/systemd/system";

// Runs a shell command; its stdout, and its exit status in `status`.
std::string capture(const std::string& cmd, int* status = nullptr) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
    int st = pclose(p);
    if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out;
}

bool package_installed() {
    return capture("dpkg-query -W -f='${Status}' ktrail 2>/dev/null").find("install ok installed") != std::string::npos;
}

// Processes (not zombies) running one of the package's daemons.
std::vector<pid_t> running(const std::string& exe) {
    std::vector<pid_t> pids;
    for (const auto& e : fs::directory_iterator("/proc")) {
        std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::error_code ec;
        auto target = fs::read_symlink(e.path() / "exe", ec).string();
        if (!ec && (target == exe || target == exe + " (deleted)")) pids.push_back(std::stoi(name));
    }
    return pids;
}

// The directories the package owns, moved aside while the test runs when
// something else (scripts/run.sh's data, another test) made them first.
const char* const kPackageDirs[] = {"/var/lib/ktrail", "/var/lib/ktrail-collector", "/var/log/ktrail", "/etc/ktrail"};

// Whatever happens: the test's processes killed, the package purged, what
// was there before put back.
struct PurgeGuard {
    std::vector<pid_t> pids;
    std::vector<std::string> saved;
    PurgeGuard() {
        for (const char* d : kPackageDirs) {
            if (!fs::exists(d)) continue;
            std::string aside = std::string(d) + ".package-e2e-saved";
            REQUIRE_FALSE(fs::exists(aside));
            fs::rename(d, aside);
            saved.push_back(d);
        }
    }
    ~PurgeGuard() {
        for (pid_t p : pids) {
            if (kill(p, SIGTERM) == 0)
                for (int i = 0; i < 100 && waitpid(p, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(100ms);
            kill(p, SIGKILL);
            waitpid(p, nullptr, 0);
        }
        std::error_code ec;
        fs::remove("/etc/ktrail/conf.d/50-e2e.yaml", ec);  // the test's drop-in, if a check stopped it early
        if (package_installed() || capture("dpkg-query -W -f='${Status}' ktrail 2>/dev/null").size())
            std::system("dpkg --purge ktrail >/dev/null 2>&1");
        for (const auto& d : kPackageDirs)  // what only this run made (its saved ones come back below)
            if (std::find(saved.begin(), saved.end(), d) == saved.end()) fs::remove_all(d, ec);
        for (const auto& d : saved) {
            std::error_code ec;
            fs::remove_all(d, ec);
            fs::rename(d + ".package-e2e-saved", d, ec);
        }
    }
};

// An abstract datagram socket standing in for systemd's notification socket.
class NotifySocket {
public:
    NotifySocket() : name_("@ktrail-package-e2e-" + std::to_string(getpid()) + "-" + std::to_string(++count_)) {
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, name_.data(), name_.size());
        addr.sun_path[0] = '\0';
        REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size())) == 0);
    }
    ~NotifySocket() { close(fd_); }
    const std::string& name() const { return name_; }
    // Waits for a datagram containing `want` (every datagram is kept in seen()).
    bool wait_for(const std::string& want, std::chrono::seconds limit) {
        auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            if (seen_.find(want) != std::string::npos) return true;
            timeval tv{0, 200000};
            setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            char buf[1024];
            ssize_t n = recv(fd_, buf, sizeof(buf), 0);
            if (n > 0) seen_.append(buf, static_cast<size_t>(n)).append("\n");
        }
        return seen_.find(want) != std::string::npos;
    }
    const std::string& seen() const { return seen_; }

private:
    static inline int count_ = 0;
    std::string name_;
    std::string seen_;
    int fd_ = -1;
};

std::string unit_value(const std::string& unit, const std::string& key) {
    std::ifstream in(kUnitDir + "/" + unit);
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(key + "=")) return line.substr(key.size() + 1);
    return "";
}

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

int cap_number(const std::string& name) {
    static const std::map<std::string, int> known = {
        {"CAP_BPF", CAP_BPF}, {"CAP_PERFMON", CAP_PERFMON}, {"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
        {"CAP_SYS_RESOURCE", CAP_SYS_RESOURCE}, {"CAP_NET_ADMIN", CAP_NET_ADMIN},
        {"CAP_AUDIT_CONTROL", CAP_AUDIT_CONTROL}, {"CAP_AUDIT_READ", CAP_AUDIT_READ},
        {"CAP_SYS_PTRACE", CAP_SYS_PTRACE}, {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
        {"CAP_SETPCAP", CAP_SETPCAP}, {"CAP_SETUID", CAP_SETUID}, {"CAP_SETGID", CAP_SETGID}};
    auto it = known.find(name);
    INFO("capability " << name << " in a unit: add it to cap_number()");
    REQUIRE(it != known.end());
    return it->second;
}

// How a unit runs its ExecStart, as far as this test can apply it without systemd.
struct UnitContext {
    std::vector<std::string> argv;
    uint64_t bounding = ~0ull;  // CapabilityBoundingSet=
    std::string user;           // User= (empty: root)
    ktrail::test::UnitMounts mounts;  // ProtectSystem=, ReadWritePaths=, ProtectHome=, PrivateTmp=, ...
    std::string notify_socket;
    std::string log;
};

UnitContext unit_context(const std::string& unit) {
    UnitContext c;
    c.argv = words(unit_value(unit, "ExecStart"));
    REQUIRE(!c.argv.empty());
    c.bounding = 0;
    for (const auto& name : words(unit_value(unit, "CapabilityBoundingSet"))) c.bounding |= 1ull << cap_number(name);
    c.user = unit_value(unit, "User");
    std::string unsupported;
    c.mounts = ktrail::test::unit_mounts(kUnitDir + "/" + unit, &unsupported);
    INFO(unit << ": " << unsupported);
    CHECK(unsupported.empty());
    CHECK(unit_value(unit, "NoNewPrivileges") == "yes");
    CHECK(unit_value(unit, "UMask") == "0077");
    CHECK(unit_value(unit, "Type") == "notify");
    return c;
}

pid_t spawn(const UnitContext& c) {
    fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = open(c.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        setenv("NOTIFY_SOCKET", c.notify_socket.c_str(), 1);
        umask(0077);
        // Its own mount namespace, as root, before anything is dropped (as systemd).
        if (std::string e = ktrail::test::apply_unit_mounts(c.mounts); !e.empty()) {
            dprintf(STDERR_FILENO, "unit mounts: %s\n", e.c_str());
            _exit(96);
        }
        for (int cap = 0; cap <= CAP_LAST_CAP; ++cap)
            if (!(c.bounding & (1ull << cap))) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
        if (!c.user.empty()) {
            passwd* pw = getpwnam(c.user.c_str());
            if (!pw || initgroups(pw->pw_name, pw->pw_gid) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
                setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
                _exit(97);
        }
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        std::vector<char*> argv;
        for (auto& s : c.argv) argv.push_back(const_cast<char*>(s.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(98);
    }
    return pid;
}

int stop(pid_t pid) {
    kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 300; ++i) {
        if (waitpid(pid, &status, WNOHANG) == pid) return status;
        std::this_thread::sleep_for(100ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return status;
}

void check_dir(const std::string& path, const std::string& owner, mode_t mode) {
    struct stat st{};
    INFO(path);
    REQUIRE(stat(path.c_str(), &st) == 0);
    passwd* pw = getpwuid(st.st_uid);
    CHECK((pw ? pw->pw_name : "?") == owner);
    CHECK((st.st_mode & 07777) == mode);
}

void check_caps_none(pid_t pid, const std::string& what) {
    for (pid_t tid : ktrail::test::threads_of(pid)) {
        INFO(what << " thread " << tid);
        CHECK(cap_field(pid, "CapEff", tid) == 0);
        CHECK(cap_field(pid, "CapPrm", tid) == 0);
        CHECK(cap_field(pid, "CapBnd", tid) == 0);
    }
}

// The collector's port, from its "listening on 127.0.0.1:PORT" line.
int listening_port(const std::string& log) {
    std::smatch m;
    std::regex re("listening on 127\\.0\\.0\\.1:([0-9]+)");
    return std::regex_search(log, m, re) ? std::stoi(m[1]) : 0;
}

}  // namespace

TEST_CASE("the Debian package installs, runs least-privileged, and purges without a trace", "[package]") {
    REQUIRE_FALSE(package_installed());  // someone's real installation: not ours to replace or purge
    REQUIRE(running(kAgent).empty());
    REQUIRE(getpwnam("ktrail") == nullptr);
    ktrail::test::AuditStateGuard audit_state;

    // Build it (timed: CI pays for this).
    auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    std::string deb = capture("KTRAIL_BUILD_DIR=" KTRAIL_BUILD_DIR " " KTRAIL_SCRIPTS "/package.sh 2>" KTRAIL_BUILD_DIR
                              "/package.log", &status);
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0).count();
    INFO(slurp(KTRAIL_BUILD_DIR "/package.log"));
    REQUIRE(status == 0);
    deb.erase(deb.find_last_not_of('\n') + 1);
    WARN("scripts/package.sh: " << deb << " in " << secs << " s");
    REQUIRE(fs::path(deb).filename().string().starts_with("ktrail_"));
    REQUIRE(deb.ends_with("_amd64.deb"));

    PurgeGuard guard;
    std::string out = capture("dpkg -i " + deb + " 2>&1", &status);
    INFO(out);
    REQUIRE(status == 0);
    REQUIRE(package_installed());
    std::vector<std::string> files;
    for (const auto& f : words(capture("dpkg -L ktrail")))
        if (fs::is_regular_file(f)) files.push_back(f);

    // What it put where.
    for (const auto& exe : {kAgent, kCollector, kCli}) CHECK(access(exe.c_str(), X_OK) == 0);
    for (const auto& unit : {"ktraild.service", "ktrail-collector.service"}) {
        CHECK(fs::is_regular_file(kUnitDir + "/" + unit));
        CHECK(fs::is_symlink(std::string("/etc/systemd/system/multi-user.target.wants/") + unit));  // enabled
    }
    std::string conffiles = capture("dpkg-query -W -f='${Conffiles}' ktrail");
    size_t rule_files = 0;
    for (const auto& e : fs::directory_iterator(KTRAIL_SOURCE_DIR "/rules")) {
        if (e.path().extension() != ".yaml") continue;
        ++rule_files;
        std::string installed = "/etc/ktrail/rules.d/" + e.path().filename().string();
        CHECK(fs::is_regular_file(installed));
        CHECK(conffiles.find(installed) != std::string::npos);
    }
    CHECK(rule_files > 0);
    for (const auto& name : {"ktrail.yaml", "collector.yaml"}) {
        if (!fs::exists(std::string(KTRAIL_SOURCE_DIR "/packaging/") + name)) continue;
        CHECK(conffiles.find(std::string("/etc/ktrail/") + name) != std::string::npos);
    }
    std::string depends = capture("dpkg-query -W -f='${Depends}' ktrail");
    CHECK(depends.find("libc6") != std::string::npos);  // dpkg-shlibdeps ran
    CHECK(depends.find("adduser") != std::string::npos);
    CHECK(capture(kAgent + " --help").find("/etc/ktrail/rules.d") != std::string::npos);
    passwd* pw = getpwnam("ktrail");
    REQUIRE(pw);
    CHECK(pw->pw_uid < 1000);
    CHECK(getgrnam("ktrail"));
    check_dir("/var/lib/ktrail", "root", 0700);
    check_dir("/var/lib/ktrail-collector", "ktrail", 0750);
    check_dir("/var/log/ktrail", "ktrail", 0750);  // the file output, written by ktraild's ktrail threads
    if (access("/usr/bin/systemd-analyze", X_OK) == 0) {
        std::string verify = capture("systemd-analyze verify " + kUnitDir + "/ktraild.service " + kUnitDir +
                                     "/ktrail-collector.service 2>&1", &status);
        INFO("systemd-analyze verify: " << verify);
        CHECK(status == 0);
    }

    // Certificates: the collector's readable by the ktrail user only. Not
    // in /tmp: both units have a /tmp of their own (PrivateTmp=).
    TempDir dir("/var/lib");
    fs::permissions(dir.path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    DevCerts certs = make_dev_certs(dir / "tls", {host});
    REQUIRE(chown((dir / "tls").c_str(), pw->pw_uid, pw->pw_gid) == 0);
    REQUIRE(chown(certs.collector_key().c_str(), pw->pw_uid, pw->pw_gid) == 0);
    // ktraild's outputs run as ktrail (user: ktrail in the packaged config): its key too.
    REQUIRE(chown(certs.agent_key(host).c_str(), pw->pw_uid, pw->pw_gid) == 0);

    // The collector refuses root; run as its unit does (User=ktrail, no capabilities).
    capture(kCollector + " --listen 127.0.0.1:0 2>&1", &status);
    CHECK(status == 1);
    CHECK(capture(kCollector + " --listen 127.0.0.1:0 2>&1").find("refusing to run as root") != std::string::npos);
    UnitContext cc = unit_context("ktrail-collector.service");
    CHECK(cc.user == "ktrail");
    CHECK(cc.bounding == 0);
    const std::string store = "sqlite:/var/lib/ktrail-collector/events.db";
    cc.argv = {kCollector, "--listen", "127.0.0.1:0", "--store", store, "--tls-ca", certs.ca(),
               "--tls-cert", certs.collector_cert(), "--tls-key", certs.collector_key()};
    NotifySocket collector_notify;
    cc.notify_socket = collector_notify.name();
    cc.log = dir / "collector.log";
    pid_t collector = spawn(cc);
    guard.pids.push_back(collector);
    INFO("collector log: " << slurp(cc.log));
    REQUIRE(collector_notify.wait_for("READY=1", 30s));
    int port = listening_port(slurp(cc.log));
    REQUIRE(port > 0);
    check_caps_none(collector, "collector");
    CHECK(ktrail::test::status_field(collector, "Uid").starts_with(std::to_string(pw->pw_uid) + "\t"));

    // ktraild as its unit runs it (its ExecStart, its bounding set, root),
    // configured as an admin would: a conf.d drop-in over the packaged
    // ktrail.yaml adds the collector, and metrics.
    UnitContext ac = unit_context("ktraild.service");
    CHECK(ac.argv == std::vector<std::string>{kAgent});  // everything else from /etc/ktrail
    const std::string dropin = "/etc/ktrail/conf.d/50-e2e.yaml";
    fs::create_directories("/etc/ktrail/conf.d");
    {
        std::ofstream f(dropin);
        f << "output:\n  - \"file:/var/log/ktrail/events.json?max-size=100M&keep=5\"\n"
          << "  - collector:localhost:" << port << "\n"
          << "tls-ca: " << certs.ca() << "\ntls-cert: " << certs.agent_cert(host) << "\ntls-key: "
          << certs.agent_key(host) << "\nmetrics: 127.0.0.1:0\n";
    }
    NotifySocket agent_notify;
    ac.notify_socket = agent_notify.name();
    ac.log = dir / "agent.log";
    pid_t agent = spawn(ac);
    guard.pids.push_back(agent);
    INFO("agent log: " << slurp(ac.log));
    REQUIRE(agent_notify.wait_for("READY=1", 60s));

    // Least privilege after start-up: the kept set in the main thread; the
    // others (outputs, forwarders, metrics, status) are the ktrail user with none.
    const uint64_t kept = cap_mask({CAP_AUDIT_CONTROL, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH});
    CHECK(cap_field(agent, "CapEff") == kept);
    CHECK(cap_field(agent, "CapPrm") == kept);
    CHECK(cap_field(agent, "CapBnd") == kept);
    CHECK(ktrail::test::status_field(agent, "NoNewPrivs") == "1");
    for (pid_t tid : ktrail::test::threads_of(agent)) {
        if (tid == agent) continue;
        INFO("agent thread " << tid);
        CHECK(cap_field(agent, "CapEff", tid) == 0);
        CHECK(cap_field(agent, "CapPrm", tid) == 0);
        CHECK(ktrail::test::status_field(agent, "Uid", tid).starts_with(std::to_string(pw->pw_uid) + "\t"));
    }

    // Events arrive in the store and in the unit's file output.
    const std::string marker = dir / "package-e2e-marker";
    REQUIRE(run({"touch", marker}) == 0);
    std::string query;
    for (int i = 0; i < 150 && query.find(marker) == std::string::npos; ++i) {
        std::this_thread::sleep_for(200ms);
        query = capture(kCli + " query --store " + store + " --path '" + marker + "' --json 2>&1");
    }
    INFO("ktrail query: " << query);
    CHECK(query.find("created-file") != std::string::npos);
    for (int i = 0; i < 50 && slurp("/var/log/ktrail/events.json").find(marker) == std::string::npos; ++i)
        std::this_thread::sleep_for(200ms);
    CHECK(slurp("/var/log/ktrail/events.json").find(marker) != std::string::npos);

    // In its unit's mount namespace ktraild has a /tmp of its own and a
    // read-only /, yet names what host processes do by the host's paths: a
    // name through a symlink and `..` in the host's /tmp, resolved on disk.
    {
        struct stat host_tmp{}, agent_tmp{};
        REQUIRE(stat("/tmp", &host_tmp) == 0);
        REQUIRE(stat(("/proc/" + std::to_string(agent) + "/root/tmp").c_str(), &agent_tmp) == 0);
        CHECK((host_tmp.st_dev != agent_tmp.st_dev || host_tmp.st_ino != agent_tmp.st_ino));
        CHECK(run({"nsenter", "-t", std::to_string(agent), "-m", "touch", "/var/lib/ktrail-e2e-ro"}) != 0);
        std::error_code ec;
        fs::remove("/var/lib/ktrail-e2e-ro", ec);  // had it worked
        TempDir host_dir;  // the host's /tmp
        fs::create_directories(host_dir / "real/sub");
        fs::create_directory_symlink(host_dir / "real", host_dir / "link");
        REQUIRE(run({"mkdir", host_dir / "link/sub/../made"}) == 0);
        const std::string want = host_dir / "real/made";  // lexically: link/made
        const json* made = nullptr;
        std::vector<json> events;
        for (int i = 0; i < 50 && !made; ++i) {
            std::this_thread::sleep_for(200ms);
            events = read_events("/var/log/ktrail/events.json");
            made = find(events, "created-directory", want);
        }
        CHECK(made);
    }

    // /metrics moves with load; the installed `ktrail status` reads the agent.
    uint16_t metrics = ktrail::e2e::metrics_port_in_log(ac.log);
    double emitted0 = ktrail::e2e::metric_value(ktrail::e2e::scrape_metrics(metrics), "ktrail_events_emitted_total");
    fs::create_directories(dir / "load");
    for (int i = 0; i < 300; ++i) std::ofstream(dir / ("load/f" + std::to_string(i)));
    double emitted1 = emitted0;
    for (int i = 0; i < 50 && emitted1 < emitted0 + 300; ++i) {
        std::this_thread::sleep_for(200ms);  // the snapshot is published once a second
        emitted1 = ktrail::e2e::metric_value(ktrail::e2e::scrape_metrics(metrics), "ktrail_events_emitted_total");
    }
    CHECK(emitted0 >= 0);
    CHECK(emitted1 >= emitted0 + 300);
    std::string st = capture("/usr/bin/ktrail status 2>&1", &status);
    INFO("ktrail status: " << st);
    CHECK(status == 0);
    CHECK(st.find("programs:") != std::string::npos);
    CHECK(st.find("collector:localhost:" + std::to_string(port)) != std::string::npos);
    CHECK(st.find("file:/var/log/ktrail/events.json") != std::string::npos);

    // A clean stop says STOPPING=1 and exits 0.
    status = stop(agent);
    CHECK(agent_notify.wait_for("STOPPING=1", 5s));
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    status = stop(collector);
    CHECK(collector_notify.wait_for("STOPPING=1", 5s));
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    guard.pids.clear();

    // Both running again, then purged: prerm stops them.
    NotifySocket n1, n2;
    cc.notify_socket = n1.name();
    collector = spawn(cc);
    guard.pids.push_back(collector);
    REQUIRE(n1.wait_for("READY=1", 30s));
    ac.notify_socket = n2.name();
    agent = spawn(ac);
    guard.pids.push_back(agent);
    REQUIRE(n2.wait_for("READY=1", 60s));
    fs::remove(dropin);  // the admin's own file: dpkg leaves it (and /etc/ktrail) otherwise
    out = capture("dpkg --purge ktrail 2>&1", &status);
    INFO("dpkg --purge: " << out);
    CHECK(status == 0);
    for (pid_t p : {agent, collector}) {
        int st = 0;
        CHECK(waitpid(p, &st, WNOHANG) == p);  // prerm stopped it (a zombie until reaped here)
        CHECK(WIFEXITED(st));
    }
    guard.pids.clear();
    CHECK(running(kAgent).empty());
    CHECK(running(kCollector).empty());
    CHECK_FALSE(package_installed());
    for (const auto& f : files) {
        INFO(f);
        CHECK_FALSE(fs::exists(f));
    }
    for (const auto& d : {"/var/lib/ktrail", "/var/lib/ktrail-collector", "/var/log/ktrail", "/etc/ktrail",
                          "/etc/systemd/system/multi-user.target.wants/ktraild.service",
                          "/etc/systemd/system/multi-user.target.wants/ktrail-collector.service"}) {
        INFO(d);
        CHECK_FALSE(fs::exists(fs::symlink_status(d)));
    }
    CHECK(getpwnam("ktrail") == nullptr);
    CHECK(getgrnam("ktrail") == nullptr);
}
