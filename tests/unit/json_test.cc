// JSON rendering: the event contract's field names and types, and escaping of
// hostile values (always valid JSON, whatever a path holds).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "format/json_format.h"
#include "format/json_writer.h"

using nlohmann::json;

namespace {
std::string esc(std::string_view s) {
    std::string out;
    ktrail::JsonWriter::escape(s, out);
    return out;
}
}  // namespace

TEST_CASE("strings are escaped per RFC 8259 and invalid UTF-8 is replaced", "[json]") {
    CHECK(esc("plain") == "\"plain\"");
    CHECK(esc("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(esc("line\nbreak\ttab\r") == "\"line\\nbreak\\ttab\\r\"");
    CHECK(esc(std::string("nul\0x", 5)) == "\"nul\\u0000x\"");
    CHECK(esc("\x1b[31m") == "\"\\u001b[31m\"");
    CHECK(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    CHECK(esc("bad\xff\xfe") == "\"bad\\ufffd\\ufffd\"");
    CHECK(esc("\xc3") == "\"\\ufffd\"");              // cut sequence
    CHECK(esc("\xc0\xaf") == "\"\\ufffd\\ufffd\"");  // overlong '/'
    CHECK(esc("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
    for (std::string hostile : {std::string("]}\"|=\\\n"), std::string("\x80\x81\x82"), std::string(1, '\0')}) {
        std::string out;
        ktrail::JsonWriter::escape(hostile, out);
        CHECK_NOTHROW(json::parse(out));
    }
}

TEST_CASE("timestamps are RFC 3339 UTC with nanoseconds", "[json]") {
    CHECK(ktrail::rfc3339_ns(0) == "1970-01-01T00:00:00.000000000Z");
    CHECK(ktrail::rfc3339_ns(1'795'000'000'123'456'789) == "2026-11-18T11:06:40.123456789Z");
}

TEST_CASE("an event renders with the contract's ECS field names", "[json]") {
    ktrail::v1::Event ev;
    ev.set_time_ns(1'795'000'000'000'000'001);
    ev.set_id("agent-1:42");
    ev.set_sequence(42);
    ev.set_kind("event");
    ev.add_category("file");
    ev.add_type("change");
    ev.set_action("changed-file-permissions-of");
    ev.set_outcome("success");
    ev.set_module("bpf");
    ev.mutable_host()->set_id("m1");
    ev.mutable_host()->set_name("web1");
    ev.mutable_host()->set_boot_id("b1");
    ev.mutable_agent()->set_id("agent-1");
    ev.mutable_agent()->set_version("0.1.0");
    auto* p = ev.mutable_process();
    p->set_pid(4242);
    p->set_thread_id(4243);
    p->set_entity_id("e1");
    p->set_name("chmod");
    p->add_args("chmod");
    p->add_args("4755");
    p->mutable_parent()->set_pid(1);
    ev.mutable_user()->set_id(0);
    ev.mutable_user()->mutable_effective()->set_id(0);
    ev.mutable_user()->mutable_audit()->set_id(1000);
    ev.mutable_session()->set_id(3);
    ev.mutable_file()->set_path("/usr/bin/\"odd\nname");
    ev.mutable_file()->set_mode(04755);
    ev.mutable_file()->set_inode(99);
    ev.mutable_ktrail()->set_syscall("fchmodat");

    std::string line;
    ktrail::append_json(ev, line);
    REQUIRE(line.back() == '\n');
    REQUIRE(line.find('\n') == line.size() - 1);  // one line
    json j = json::parse(line);
    CHECK(j["@timestamp"] == "2026-11-18T11:06:40.000000001Z");
    CHECK(j["event"]["id"] == "agent-1:42");
    CHECK(j["event"]["sequence"] == 42);
    CHECK(j["event"]["kind"] == "event");
    CHECK(j["event"]["category"] == json::array({"file"}));
    CHECK(j["event"]["type"] == json::array({"change"}));
    CHECK(j["event"]["action"] == "changed-file-permissions-of");
    CHECK(j["event"]["outcome"] == "success");
    CHECK(j["event"]["module"] == "bpf");
    CHECK(j["host"]["id"] == "m1");
    CHECK(j["host"]["name"] == "web1");
    CHECK(j["host"]["boot"]["id"] == "b1");
    CHECK(j["agent"]["version"] == "0.1.0");
    CHECK(j["process"]["pid"] == 4242);
    CHECK(j["process"]["thread"]["id"] == 4243);
    CHECK(j["process"]["entity_id"] == "e1");
    CHECK(j["process"]["args"] == json::array({"chmod", "4755"}));
    CHECK(j["process"]["args_count"] == 2);
    CHECK(j["process"]["parent"]["pid"] == 1);
    CHECK(j["user"]["id"] == "0");  // ECS: keyword
    CHECK(j["user"]["effective"]["id"] == "0");
    CHECK(j["user"]["audit"]["id"] == "1000");
    CHECK(j["session"]["id"] == "3");
    CHECK(j["file"]["path"] == "/usr/bin/\"odd\nname");
    CHECK(j["file"]["mode"] == "4755");
    CHECK(j["file"]["inode"] == "99");
    CHECK(j["ktrail"]["syscall"] == "fchmodat");
    CHECK_FALSE(j.contains("source"));  // absent parts are left out, not empty
    CHECK_FALSE(j.contains("container"));
}

TEST_CASE("events-lost carries its stage and exact count", "[json]") {
    ktrail::v1::Event ev;
    ev.set_action("events-lost");
    ev.set_module("agent");
    ev.mutable_ktrail()->set_lost_stage("kernel-ringbuf");
    ev.mutable_ktrail()->set_lost_count(17);
    std::string line;
    ktrail::append_json(ev, line);
    json j = json::parse(line);
    CHECK(j["ktrail"]["lost"]["stage"] == "kernel-ringbuf");
    CHECK(j["ktrail"]["lost"]["count"] == 17);
}
