// Parsing audit records: the netlink and log forms, quoted, hex-encoded and
// nested (msg='...') values, and every line of the corpus logs.
#include <catch2/catch.hpp>

#include <filesystem>

#include "../support/corpus.h"
#include "source/audit/audit_record.h"

using ktrail::audit::parse_log_line;
using ktrail::audit::parse_netlink_message;

TEST_CASE("a SYSCALL record: header, quoted and hex-encoded values", "[audit-record]") {
    auto r = parse_log_line(
        "type=SYSCALL msg=audit(1492037289.295:58): arch=c000003e syscall=42 success=no exit=-115 "
        "auid=4294967295 comm=\"google_accounts\" "
        "exe=2F7573722F62696E2F707974686F6E322E373B3538643163636662202864656C6574656429 key=(null)");
    REQUIRE(r.has_value());
    CHECK(r->type == 1300);
    CHECK(r->type_name == "SYSCALL");
    CHECK(r->serial == 58);
    CHECK(r->time_ns == 1492037289295000000);
    CHECK(*r->get("syscall") == "42");
    CHECK(*r->get("comm") == "google_accounts");
    CHECK(*r->get("exe") == "/usr/bin/python2.7;58d1ccfb (deleted)");
    CHECK(*r->get("key") == "(null)");
    CHECK(r->get("missing") == nullptr);
}

TEST_CASE("a user-space record: the fields inside msg='...' are flattened in", "[audit-record]") {
    auto r = parse_log_line(
        "type=USER_LOGIN msg=audit(1492896301.818:19955): pid=12635 uid=0 auid=4294967295 ses=4294967295 "
        "msg='op=login acct=28696E76616C6964207573657229 exe=\"/usr/sbin/sshd\" hostname=? addr=179.38.151.221 "
        "terminal=sshd res=failed'");
    REQUIRE(r.has_value());
    CHECK(r->type_name == "USER_LOGIN");
    CHECK(*r->get("pid") == "12635");
    CHECK(*r->get("op") == "login");
    CHECK(*r->get("acct") == "(invalid user)");
    CHECK(*r->get("exe") == "/usr/sbin/sshd");
    CHECK(*r->get("addr") == "179.38.151.221");
    CHECK(*r->get("res") == "failed");
}

TEST_CASE("netlink messages, node prefixes and AVC permission sets", "[audit-record]") {
    auto n = parse_netlink_message(1100, "audit(1700000000.001:7): pid=1 uid=0 msg='op=PAM:authentication acct=\"bob\" res=success'");
    REQUIRE(n.has_value());
    CHECK(n->type_name == "USER_AUTH");
    CHECK(*n->get("acct") == "bob");

    auto node = parse_log_line("node=web1 type=CWD msg=audit(1451781471.394:194435): cwd=\"/\"");
    REQUIRE(node.has_value());
    CHECK(*node->get("node") == "web1");
    CHECK(*node->get("cwd") == "/");

    auto avc = parse_log_line(
        "type=AVC msg=audit(1170021493.977:293): avc:  denied  { read write } for  pid=13010 comm=\"pickup\" "
        "name=\"maildrop\" tclass=dir");
    REQUIRE(avc.has_value());
    CHECK(*avc->get("seresult") == "denied");
    CHECK(*avc->get("seperms") == "read,write");
    CHECK(*avc->get("pid") == "13010");
    CHECK(*avc->get("tclass") == "dir");
}

TEST_CASE("auditd's own records have no colon after the header", "[audit-record]") {
    auto r = parse_log_line("type=DAEMON_CONFIG msg=audit(1490239800.477:34) config changed, auid=0 pid=1512 res=success");
    REQUIRE(r.has_value());
    CHECK(r->serial == 34);
    CHECK(*r->get("auid") == "0");
    CHECK(*r->get("res") == "success");
}

TEST_CASE("malformed records are refused, not guessed", "[audit-record]") {
    CHECK_FALSE(parse_log_line("").has_value());
    CHECK_FALSE(parse_log_line("type=NOT_A_TYPE msg=audit(1.2:3): a=b").has_value());
    CHECK_FALSE(parse_log_line("type=SYSCALL msg=nothing here").has_value());
    CHECK_FALSE(parse_log_line("type=SYSCALL msg=audit(1.x:3): a=b").has_value());
    CHECK_FALSE(parse_netlink_message(1300, "audit(12:34").has_value());
    // Unterminated quotes and stray '=' must not crash.
    CHECK(parse_log_line("type=CWD msg=audit(1.2:3): cwd=\"/unterminated").has_value());
    CHECK(parse_log_line("type=CWD msg=audit(1.2:3): = == a= b").has_value());
}

TEST_CASE("every line of the corpus logs parses", "[audit-record]") {
    KTRAIL_REQUIRE_CORPUS(corpus);
    size_t lines = 0, refused = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(corpus + "/logs")) {
        if (entry.path().extension() != ".log") continue;
        for (const auto& line : ktrail::test::read_lines(entry.path())) {
            INFO(entry.path().filename().string() << ": " << line.substr(0, 120));
            auto r = parse_log_line(line);
            // Real logs hold a few headerless records (type=UNKNOWN[1329] msg=?):
            // refused, to be counted and skipped; everything else parses.
            if (line.find("audit(") == std::string::npos) {
                CHECK_FALSE(r.has_value());
                ++refused;
            } else {
                CHECK(r.has_value());
                if (r) CHECK((r->serial > 0 || line.find(":0)") != std::string::npos));
            }
            ++lines;
        }
    }
    CHECK(lines >= 180);
    CHECK(refused == 1);
}
