// Process family: fork, exec (executable, args, cwd), exit, refused exec,
// and the identity fields every record carries.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "capture.h"

using namespace ktrail::test;

TEST_CASE("exec reports the canonical executable, its arguments and cwd", "[process]") {
    TempDir dir;
    Capture cap;
    pid_t pid = cap.spawn([&] {
        if (chdir(dir.path.c_str()) != 0) return 98;
        execl("/bin/true", "true", "a b", "c", nullptr);  // /bin is a symlink on Debian
        return 97;
    });
    auto events = cap.events_of(pid);
    const auto& exec = one(events, "executed");
    CHECK(exec.process().pid() == static_cast<uint32_t>(pid));
    CHECK(exec.process().parent().pid() == static_cast<uint32_t>(getpid()));
    CHECK(exec.process().executable() == std::filesystem::canonical("/bin/true").string());
    CHECK(exec.process().name() == "true");
    REQUIRE(exec.process().args_size() == 3);
    CHECK(exec.process().args(0) == "true");
    CHECK(exec.process().args(1) == "a b");
    CHECK(exec.process().args(2) == "c");
    CHECK_FALSE(exec.process().args_truncated());
    CHECK(exec.process().working_directory() == dir.path);
    CHECK(exec.outcome() == "success");
    CHECK(exec.category(0) == "process");
    CHECK(exec.type(0) == "start");

    const auto& exit = one(events, "exited");
    CHECK(exit.process().exit_code() == 0);
    CHECK(exit.outcome() == "success");
    CHECK(exit.process().entity_id() == exec.process().entity_id());
}

TEST_CASE("fork names the new process and its parent with stable entity ids", "[process]") {
    Capture cap;
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    // The test process is the agent, whose own forks are never reported: fork
    // from a child.
    pid_t parent = cap.spawn([&] {
        pid_t child = fork();
        if (child == 0) _exit(0);
        waitpid(child, nullptr, 0);
        return write(fds[1], &child, sizeof(child)) == sizeof(child) ? 0 : 97;
    });
    auto parent_events = cap.events_of(parent);
    pid_t child = 0;
    REQUIRE(read(fds[0], &child, sizeof(child)) == sizeof(child));
    auto child_events = cap.events_of(child);
    const auto& fork = one(child_events, "forked");
    CHECK(fork.process().pid() == static_cast<uint32_t>(child));
    CHECK(fork.process().parent().pid() == static_cast<uint32_t>(parent));
    CHECK(fork.process().parent().entity_id() == one(parent_events, "exited").process().entity_id());
    CHECK(fork.process().entity_id() == one(child_events, "exited").process().entity_id());
    CHECK(fork.type(0) == "start");
}

TEST_CASE("exit reports the exit code and the killing signal", "[process]") {
    Capture cap;
    pid_t code3 = cap.spawn([] { return 3; });
    pid_t killed = cap.spawn([] {
        raise(SIGKILL);
        return 0;
    });
    auto e3 = cap.events_of(code3);
    CHECK(one(e3, "exited").process().exit_code() == 3);
    CHECK(one(e3, "exited").outcome() == "failure");
    auto ek = cap.events_of(killed);
    CHECK(one(ek, "exited").process().exit_code() == 128 + SIGKILL);
    CHECK(one(ek, "exited").reason() == "SIGKILL");
}

TEST_CASE("exec arguments past the bound are cut and flagged", "[process]") {
    Capture cap;
    std::string big(6000, 'x');
    pid_t pid = cap.spawn([&] {
        execl("/bin/true", "true", big.c_str(), "after", nullptr);
        return 97;
    });
    auto events = cap.events_of(pid);
    const auto& exec = one(events, "executed");
    CHECK(exec.process().args_truncated());
    REQUIRE(exec.process().args_size() >= 1);
    CHECK(exec.process().args(0) == "true");
}

TEST_CASE("a refused exec is a denied-access-to failure naming the program", "[process]") {
    TempDir dir;
    std::string script = dir / "not-executable";
    std::ofstream(script) << "#!/bin/sh\nexit 0\n";
    chmod(script.c_str(), 0644);
    Capture cap;
    pid_t pid = cap.spawn([&] {
        if (chdir(dir.path.c_str()) != 0) return 98;
        execl("./not-executable", "not-executable", nullptr);  // relative: resolved against cwd
        return errno == EACCES ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    CHECK(cap.exit_status(pid) == 0);
    const auto& denied = one(events, "denied-access-to", script);
    CHECK(denied.outcome() == "failure");
    CHECK(denied.reason() == "EACCES");
    CHECK(denied.ktrail().syscall() == "execve");
    CHECK(denied.category(0) == "process");
}

TEST_CASE("records carry uid, euid, gid, the audit uid and session", "[process]") {
    TempDir dir;
    chmod(dir.path.c_str(), 0777);
    std::string as_root = dir / "as-root";
    std::string as_nobody = dir / "as-nobody";
    Capture cap;
    pid_t pid = cap.spawn([&] {
        // Setting the login uid is what pam_loginuid does at login; it also
        // starts a new audit session.
        int fd = open("/proc/self/loginuid", O_WRONLY);
        if (fd < 0 || write(fd, "4242", 4) != 4) return 96;
        close(fd);
        close(open(as_root.c_str(), O_CREAT | O_WRONLY, 0600));
        drop_to_nobody();
        close(open(as_nobody.c_str(), O_CREAT | O_WRONLY, 0600));
        return 0;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    const auto& root = one(events, "created-file", as_root);
    CHECK(root.user().id() == 0);
    CHECK(root.user().effective().id() == 0);
    CHECK(root.user().audit().id() == 4242);
    CHECK(root.session().has_id());
    const auto& nobody = one(events, "created-file", as_nobody);
    CHECK(nobody.user().id() == kNobody);
    CHECK(nobody.user().effective().id() == kNobody);
    CHECK(nobody.user().group().id() == kNobody);
    CHECK(nobody.user().audit().id() == 4242);  // the human who logged in stays
    CHECK(nobody.session().id() == root.session().id());
}
