// Identity and permission family: set*uid, set*gid, setgroups, capset; the
// record shows the credentials after the call, and a refused change is a
// denied-access-to failure.
#include <catch2/catch.hpp>
#include <grp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "capture.h"

using namespace ktrail::test;

TEST_CASE("uid and gid changes show the new identity; a refused one is denied", "[cred]") {
    Capture cap;
    pid_t pid = cap.spawn([] {
        gid_t groups[] = {1000};
        bool ok = setgroups(1, groups) == 0 && setresgid(1000, 1000, 1000) == 0 &&
                  setresuid(1000, 1001, 1000) == 0 && setuid(0) != 0 && errno == EPERM;
        return ok ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    auto changes = with_action(events, "changed-identity-of");
    INFO(describe(events));
    REQUIRE(changes.size() == 3);
    CHECK(changes[0]->ktrail().syscall() == "setgroups");
    CHECK(changes[0]->ktrail().args(0) == 1);
    CHECK(changes[1]->ktrail().syscall() == "setresgid");
    CHECK(changes[1]->user().group().id() == 1000);
    const auto& su = *changes[2];
    CHECK(su.ktrail().syscall() == "setresuid");
    CHECK(su.user().id() == 1000);
    CHECK(su.user().effective().id() == 1001);
    REQUIRE(su.ktrail().args_size() == 3);
    CHECK(su.ktrail().args(1) == 1001);
    CHECK(su.category(0) == "process");
    CHECK(su.outcome() == "success");

    const auto& denied = one(events, "denied-access-to");
    CHECK(denied.ktrail().syscall() == "setuid");
    CHECK(denied.reason() == "EPERM");
    CHECK(denied.outcome() == "failure");
    CHECK(denied.ktrail().args(0) == 0);
    CHECK(denied.user().id() == 1000);
}

TEST_CASE("setfsuid and capset are reported", "[cred]") {
    Capture cap;
    pid_t pid = cap.spawn([] {
        setfsuid(4321);
        setfsuid(0);
        __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2] = {};
        data[0].effective = data[0].permitted = 1u << CAP_CHOWN;
        return syscall(SYS_capset, &hdr, data) == 0 ? 0 : 97;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    auto fs = with_action(events, "changed-identity-of");
    INFO(describe(events));
    REQUIRE(fs.size() == 2);
    CHECK(fs[0]->ktrail().syscall() == "setfsuid");
    CHECK(fs[0]->ktrail().args(0) == 4321);
    const auto& caps = one(events, "changed-capabilities-of");
    CHECK(caps.ktrail().syscall() == "capset");
    CHECK(caps.ktrail().capabilities_effective() == (1u << CAP_CHOWN));
    CHECK(caps.ktrail().capabilities_permitted() == (1u << CAP_CHOWN));
}
