// Kernel module family. Attempts are reported whatever the kernel answers:
// this test kernel has no module support (every call fails with ENOSYS),
// which is exactly the case of an attacker probing for it.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>

#include "capture.h"

using namespace ktrail::test;

namespace {
const char* expected_action(int err, const char* otherwise) {
    return err == EACCES || err == EPERM ? "denied-access-to" : otherwise;
}
}  // namespace

TEST_CASE("finit_module names the module file; delete_module names the module", "[module]") {
    TempDir dir;
    std::string ko = dir / "evil.ko";
    std::ofstream(ko) << "not really an ELF module";
    Capture cap;
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0);
    pid_t pid = cap.spawn([&] {
        int fd = open(ko.c_str(), O_RDONLY);
        int errs[2] = {0, 0};
        if (syscall(SYS_finit_module, fd, "debug=1", 0) != 0) errs[0] = errno;
        // On the stack, so resident: a call the kernel refuses before reading
        // its arguments (ENOSYS here) never faults the string in, and BPF
        // cannot fault (the event would be flagged PATH_LOST).
        char name[] = "ktrail_no_such_module";
        if (syscall(SYS_delete_module, name, O_NONBLOCK) != 0) errs[1] = errno;
        return write(pipefd[1], errs, sizeof(errs)) == sizeof(errs) ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    int errs[2];
    REQUIRE(read(pipefd[0], errs, sizeof(errs)) == sizeof(errs));
    REQUIRE(errs[0] != 0);  // not a module: the kernel refuses it one way or another
    REQUIRE(errs[1] != 0);

    const auto& load = one(events, expected_action(errs[0], "loaded-kernel-module"), ko);
    CHECK(load.ktrail().syscall() == "finit_module");
    CHECK(load.ktrail().module_name() == "evil");
    CHECK(load.outcome() == "failure");
    CHECK(load.reason() == strerrorname_np(errs[0]));

    auto unload = with_action(events, expected_action(errs[1], "unloaded-kernel-module"));
    REQUIRE(!unload.empty());
    const auto& u = *unload.back();
    CHECK(u.ktrail().syscall() == "delete_module");
    CHECK(u.ktrail().module_name() == "ktrail_no_such_module");
    CHECK(u.reason() == strerrorname_np(errs[1]));
    CHECK(u.category(0) == "driver");
}
