// e2e: ktraild in a mount namespace of its own, as its unit runs it
// (packaging/ktraild.service: ProtectSystem=strict, ProtectHome=read-only,
// PrivateTmp=yes, ... applied by tests/support/unit_mounts.cc), its state
// and output in a directory bound read-write. Host processes (this test)
// work in the host's /tmp, which ktraild does not see: the names they pass
// through `..` and symlinks still come out as the host's canonical paths,
// and an audit watch under /tmp, which the kernel would resolve in
// ktraild's private /tmp, is refused by file:line while one elsewhere works.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/host_fixtures.h"
#include "../support/unit_mounts.h"
#include "ktraild_harness.h"
#include "source/audit/audit_rules.h"

using namespace ktrail::e2e;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// The unit's mount settings, with `work` as the one writable place (the
// unit's own ReadWritePaths= and RuntimeDirectory= are the package's).
ktrail::test::UnitMounts unit_mounts_with(const std::string& work) {
    std::string unsupported;
    auto m = ktrail::test::unit_mounts(KTRAIL_SOURCE_DIR "/packaging/ktraild.service", &unsupported);
    INFO(unsupported);
    REQUIRE(unsupported.empty());
    REQUIRE(m.private_tmp);  // what this test is about
    m.read_write_paths = {work};
    m.runtime_directories.clear();
    return m;
}

Agent start_in_namespace(const TempDir& work, const ktrail::test::UnitMounts& m, std::vector<std::string> extra) {
    // Nothing from the source tree: it may be under the host's /tmp, which
    // ktraild does not see (the binary itself is held open by the harness).
    extra.insert(extra.end(), {"--control", work / "ktraild.sock", "--no-default-rules"});
    return start_agent(work, extra, false, [&m] { return ktrail::test::apply_unit_mounts(m); });
}

bool same_dir(const std::string& a, const std::string& b) {
    struct stat x{}, y{};
    return stat(a.c_str(), &x) == 0 && stat(b.c_str(), &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

// The event with this action and file.path, waited for.
const json* wait_file_event(const Agent& a, std::vector<json>& events, const std::string& action,
                            const std::string& path) {
    return wait_for(a, events, [&](const json& e) { return is_file_event(e, action, path); });
}

}  // namespace

TEST_CASE("in a mount namespace of its own, ktraild names host processes' files by the host's paths",
          "[mntns]") {
    ktrail::test::AuditStateGuard audit_state;
    TempDir work("/var/lib");  // not /tmp: ktraild's is not the host's
    TempDir host;              // the host's /tmp
    fs::create_directories(host / "real/sub");
    std::ofstream(host / "real/file") << "x";
    std::ofstream(host / "real/gone") << "x";
    fs::create_directory_symlink(host / "real", host / "link");  // absolute target
    fs::create_symlink(host / "real/file", host / "real/flink");

    auto mounts = unit_mounts_with(work.path);
    Agent a = start_in_namespace(work, mounts, {});
    wait_started(a);
    const std::string agent_root = "/proc/" + std::to_string(a.pid) + "/root";
    // The namespace is there: another /tmp, a read-only /, the work dir shared.
    CHECK_FALSE(same_dir("/tmp", agent_root + "/tmp"));
    CHECK_FALSE(fs::exists(agent_root + host.path));
    CHECK(same_dir(work.path, agent_root + work.path));
    CHECK(ktrail::test::run_shell("nsenter -t " + std::to_string(a.pid) + " -m touch /var/lib/ktrail-e2e-rw 2>/dev/null") != 0);
    std::error_code ec;
    fs::remove("/var/lib/ktrail-e2e-rw", ec);

    // Names the kernel could not finish (the decoder resolves them): a
    // symlinked directory then `..` (lexically: link/made, link/gone).
    REQUIRE(mkdir((host / "link/sub/../made").c_str(), 0755) == 0);
    REQUIRE(chmod((host / "link/file").c_str(), 0600) == 0);
    REQUIRE(unlink((host / "link/sub/../gone").c_str()) == 0);
    // An open refused (nobody cannot reach the 0700 temp dir), through `..`
    // and a final symlink it follows: the file it would have opened.
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(2);
        _exit(open((host / "link/sub/../flink").c_str(), O_WRONLY) < 0 && errno == EACCES ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WEXITSTATUS(status) == 0);

    std::vector<json> events;
    CHECK(wait_file_event(a, events, "created-directory", host / "real/made"));
    CHECK(wait_file_event(a, events, "changed-file-permissions-of", host / "real/file"));
    CHECK(wait_file_event(a, events, "deleted", host / "real/gone"));
    CHECK(wait_file_event(a, events, "denied-access-to", host / "real/file"));
    status = stop_agent(a);
    INFO(slurp(a.err));
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("in a mount namespace of its own, ktraild refuses audit watches on its private /tmp", "[mntns]") {
    ktrail::test::AuditStateGuard audit_state;
    TempDir work("/var/lib");
    TempDir host;
    auto mounts = unit_mounts_with(work.path);
    auto before = ktrail::audit::kernel_rule_count();
    REQUIRE(before.has_value());

    // Line 2 would watch ktraild's own /tmp, not the host's: refused, nothing loaded.
    std::ofstream(work / "tmp.rules") << "-w " << work.path << " -p wa -k fine\n-w " << host.path
                                      << " -p wa -k mntns-tmp\n";
    Agent bad = start_in_namespace(work, mounts, {"--rules", work / "tmp.rules"});
    int status = 0;
    REQUIRE(waitpid(bad.pid, &status, 0) == bad.pid);
    std::string log = slurp(bad.err);
    INFO(log);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 1));
    CHECK(log.find(work / "tmp.rules:2: '" + host.path + "': ktraild's /tmp is not the host's (PrivateTmp= in its unit)") !=
          std::string::npos);
    CHECK(log.find("nothing loaded") != std::string::npos);
    CHECK(ktrail::audit::kernel_rule_count().value() == *before);

    // Outside /tmp ktraild sees the host's directory: the watch is loaded and hit.
    fs::create_directories(work / "watched");
    std::ofstream(work / "ok.rules") << "-w " << (work / "watched") << " -p wa -k mntns-key\n";
    Agent a = start_in_namespace(work, mounts, {"--rules", work / "ok.rules"});
    wait_started(a);
    CHECK(ktrail::audit::kernel_rule_count().value() == *before + 1);
    REQUIRE(ktrail::test::run_shell("echo x > " + work / "watched/hit") == 0);
    std::vector<json> events;
    const json* hit = wait_for(a, events, [&](const json& e) {
        return e.contains("tags") && e["tags"][0] == "mntns-key" && str(e, {"file", "path"}) == work / "watched/hit";
    });
    CHECK(hit);
    status = stop_agent(a);
    INFO(slurp(a.err));
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(ktrail::audit::kernel_rule_count().value() == *before);
}
