// Mapping audit events to the event contract, on real records.
#include <catch2/catch.hpp>

#include <filesystem>

#include "../support/corpus.h"
#include "source/audit/mapper.h"
#include "source/audit/reassembler.h"

using ktrail::audit::AuditEvent;
using ktrail::audit::map_event;

namespace {

AuditEvent event_of(std::initializer_list<const char*> lines) {
    AuditEvent e;
    for (const char* line : lines) {
        auto r = ktrail::audit::parse_log_line(line);
        REQUIRE(r.has_value());
        e.serial = r->serial;
        e.records.push_back(std::move(*r));
    }
    return e;
}

ktrail::v1::Event mapped(std::initializer_list<const char*> lines) {
    ktrail::v1::Event ev;
    map_event(event_of(lines), ev);
    return ev;
}

}  // namespace

TEST_CASE("an ssh login names the account, the address and the session", "[audit-mapper]") {
    auto ev = mapped({"type=USER_LOGIN msg=audit(1481077043.193:421): pid=1298 uid=0 auid=1000 ses=1 "
                      "subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" "
                      "hostname=pool-96-241-146-97.washdc.fios.verizon.net addr=96.241.146.97 terminal=/dev/pts/0 res=success'"});
    CHECK(ev.action() == "logged-in");
    CHECK(ev.category(0) == "authentication");
    CHECK(ev.type(0) == "start");
    CHECK(ev.outcome() == "success");
    CHECK(ev.module() == "audit");
    CHECK(ev.user().id() == 1000);
    CHECK(ev.user().audit().id() == 1000);
    CHECK(ev.session().id() == 1);
    CHECK(ev.session().remote_ip() == "96.241.146.97");
    CHECK(ev.session().tty() == "/dev/pts/0");
    CHECK(ev.source().ip() == "96.241.146.97");
    CHECK(ev.process().pid() == 1298);
    CHECK(ev.process().executable() == "/usr/sbin/sshd");
    CHECK(ev.auditd().message_type() == "user_login");
    CHECK(ev.auditd().data().at("op") == "login");
    CHECK(ev.time_ns() == 1481077043193000000);
}

TEST_CASE("a failed authentication names the account and fails", "[audit-mapper]") {
    auto ev = mapped({"type=USER_AUTH msg=audit(1481077043.046:408): pid=1298 uid=0 auid=4294967295 ses=4294967295 "
                      "msg='op=pubkey_auth rport=63927 acct=\"andrew_kroh\" exe=\"/usr/sbin/sshd\" hostname=? "
                      "addr=96.241.146.97 terminal=? res=failed'"});
    CHECK(ev.action() == "authenticated");
    CHECK(ev.outcome() == "failure");
    CHECK(ev.user().name() == "andrew_kroh");
    CHECK(ev.session().login_user() == "andrew_kroh");
    CHECK_FALSE(ev.user().has_audit());  // 4294967295: no login uid yet
    CHECK_FALSE(ev.session().has_id());
    CHECK(ev.source().port() == 63927);
}

TEST_CASE("sudo's command, account and group changes", "[audit-mapper]") {
    auto cmd = mapped({"type=USER_CMD msg=audit(1481077231.363:475): pid=1382 uid=1000 auid=1000 ses=3 "
                       "msg='cwd=\"/home/andrew_kroh\" cmd=2E2F6D657472696362656174202D63206D622E6465762E796D6C "
                       "terminal=pts/0 res=success'"});
    CHECK(cmd.action() == "ran-command");
    CHECK(cmd.process().command_line() == "./metricbeat -c mb.dev.yml");
    CHECK(cmd.process().working_directory() == "/home/andrew_kroh");

    auto add = mapped({"type=ADD_USER msg=audit(1481076992.488:389): pid=1264 uid=0 auid=4294967295 ses=4294967295 "
                       "msg='op=add-user id=1000 exe=\"/usr/sbin/useradd\" hostname=? addr=? terminal=? res=success'"});
    CHECK(add.action() == "added-user-account");
    CHECK(add.category(0) == "iam");
    CHECK(add.user().target().id() == 1000);
    CHECK_FALSE(add.has_source());

    auto grp = mapped({"type=ADD_GROUP msg=audit(1481076992.414:385): pid=1235 uid=0 auid=4294967295 "
                       "ses=4294967295 msg='op=add-group acct=\"devs\" exe=\"/usr/sbin/groupadd\" res=success'"});
    CHECK(grp.action() == "added-group-account-to");
    CHECK(grp.group().name() == "devs");

    auto cfg = mapped({"type=CONFIG_CHANGE msg=audit(1492749467.018:1209): auid=4294967295 ses=4294967295 "
                       "op=\"add_rule\" key=\"pam\" list=4 res=1"});
    CHECK(cfg.action() == "changed-audit-configuration");
    CHECK(cfg.outcome() == "success");
}

TEST_CASE("a rule hit: the syscall's action, the file, the arguments, the keys as tags", "[audit-mapper]") {
    auto ev = mapped({
        "type=SYSCALL msg=audit(1492037291.036:59): arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=12041 "
        "pid=13393 auid=1000 uid=1000 gid=1001 euid=1000 ses=802 comm=\"grep\" exe=\"/usr/bin/grep\" "
        "key=757365725F636F6D6D616E647301726F6F74",  // "user_commands\\x01root"
        "type=EXECVE msg=audit(1492037291.036:59): argc=3 a0=\"grep\" a1=\"--color=auto\" a2=\"mapping\"",
        "type=CWD msg=audit(1492037291.036:59):  cwd=\"/home/andrew_kroh\"",
        "type=PATH msg=audit(1492037291.036:59): item=0 name=\"/usr/bin/grep\" inode=2512 dev=08:01 mode=0100755 "
        "ouid=0 ogid=0 rdev=00:00 nametype=NORMAL",
    });
    CHECK(ev.action() == "executed");
    CHECK(ev.ktrail().syscall() == "execve");
    CHECK(ev.outcome() == "success");
    REQUIRE(ev.tags_size() == 2);
    CHECK(ev.tags(0) == "user_commands");
    CHECK(ev.tags(1) == "root");
    CHECK(ev.file().path() == "/usr/bin/grep");
    CHECK(ev.file().mode() == 0755);
    CHECK(ev.file().inode() == 2512);
    REQUIRE(ev.process().args_size() == 3);
    CHECK(ev.process().args(1) == "--color=auto");
    CHECK(ev.process().working_directory() == "/home/andrew_kroh");
    CHECK(ev.user().id() == 1000);
    CHECK(ev.user().group().id() == 1001);
    CHECK(ev.session().id() == 802);

    auto denied = mapped({"type=SYSCALL msg=audit(1170021493.977:293): arch=c000003e syscall=2 success=no exit=-13 "
                          "items=1 ppid=2013 pid=13010 auid=4294967295 uid=89 comm=\"pickup\" key=(null)"});
    CHECK(denied.action() == "opened-file");
    CHECK(denied.outcome() == "failure");
    CHECK(denied.reason() == "EACCES");
    CHECK(denied.tags_size() == 0);
}

TEST_CASE("a configuration change carried by a syscall is named by the change", "[audit-mapper]") {
    auto ev = mapped({
        "type=CONFIG_CHANGE msg=audit(1.000:7): op=set audit_pid=42 old=0 auid=1000 ses=3 res=1",
        "type=SYSCALL msg=audit(1.000:7): arch=c000003e syscall=44 success=yes exit=60 pid=42 comm=\"ktraild\" "
        "exe=\"/usr/bin/ktraild\" auid=1000 uid=0",
    });
    CHECK(ev.action() == "changed-audit-configuration");
    CHECK(ev.category(0) == "configuration");
    CHECK(ev.auditd().message_type() == "config_change");
    CHECK(ev.auditd().data().at("op") == "set");
    CHECK(ev.process().executable() == "/usr/bin/ktraild");
    CHECK(ev.ktrail().syscall() == "sendto");
}

TEST_CASE("an AppArmor denial beside its syscall stays an AppArmor denial", "[audit-mapper]") {
    auto ev = mapped({
        "type=AVC msg=audit(1.000:8): apparmor=\"DENIED\" operation=\"open\" profile=\"/usr/sbin/cupsd\" "
        "name=\"/etc/shadow\" pid=12 comm=\"cupsd\"",
        "type=SYSCALL msg=audit(1.000:8): arch=c000003e syscall=257 success=no exit=-13 pid=12 comm=\"cupsd\"",
    });
    CHECK(ev.action() == "violated-apparmor-policy");
    CHECK(ev.auditd().message_type() == "avc");
    CHECK(ev.outcome() == "failure");
}

TEST_CASE("exec arguments across EXECVE records and split arguments", "[audit-mapper]") {
    auto ev = mapped({
        "type=SYSCALL msg=audit(1.000:9): arch=c000003e syscall=59 success=yes exit=0 pid=7 comm=\"x\"",
        "type=EXECVE msg=audit(1.000:9): argc=4 a0=\"x\" a1_len=10 a1[0]=6162636465 a1[1]=\"fghij\"",
        "type=EXECVE msg=audit(1.000:9): a2=\"two\" a3=7468726565",
    });
    REQUIRE(ev.process().args_size() == 4);
    CHECK(ev.process().args(0) == "x");
    CHECK(ev.process().args(1) == "abcdefghij");
    CHECK(ev.process().args(2) == "two");
    CHECK(ev.process().args(3) == "three");
}

TEST_CASE("every corpus event maps to an action", "[audit-mapper]") {
    KTRAIL_REQUIRE_CORPUS(corpus);
    size_t events = 0, known = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(corpus + "/logs")) {
        if (entry.path().extension() != ".log") continue;
        ktrail::audit::Reassembler r({}, [&](AuditEvent&& e) {
            ktrail::v1::Event ev;
            map_event(e, ev);
            INFO(entry.path().filename().string() << " serial " << e.serial << " " << e.records[0].type_name);
            CHECK_FALSE(ev.action().empty());
            // A record type ktrail knows takes its action from the vocabulary,
            // whether it came alone or beside a SYSCALL record.
            for (const auto& rec : e.records) {
                if (const char* want = ktrail::audit::action_for_type(rec.type_name)) {
                    if (rec.type_name == "AVC" && rec.get("apparmor")) want = "violated-apparmor-policy";
                    CHECK(ev.action() == want);
                    ++known;
                    break;
                }
            }
            CHECK(ev.time_ns() > 0);
            CHECK(ev.module() == "audit");
            ++events;
        }, nullptr);
        int64_t now = 0;
        for (const auto& line : ktrail::test::read_lines(entry.path()))
            if (auto rec = ktrail::audit::parse_log_line(line)) r.push(std::move(*rec), now += 1'000'000);
        r.flush();
    }
    CHECK(events >= 100);
    CHECK(known >= 20);  // logins, account changes, AVCs, configuration changes
}
