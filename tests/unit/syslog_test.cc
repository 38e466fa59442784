// RFC 5424 messages and octet-counting frames, byte for byte, and the
// syslog output's spec checks. The MSG body is whatever append_event()
// renders (the formats have their own tests); everything around it is golden.
#include <catch2/catch.hpp>

#include <string>

#include "format/event_format.h"
#include "output/output_spec.h"
#include "output/rfc5424.h"

using namespace ktrail;

namespace {

const std::string kBom = "\xEF\xBB\xBF";

v1::Event sample() {
    v1::Event ev;
    ev.set_time_ns(1795664400123456789);  // 2026-11-26T03:40:00.123456789Z
    ev.set_id("agent-1:42");
    ev.set_sequence(42);
    ev.set_kind("event");
    ev.set_action("opened-file");
    ev.set_outcome("success");
    ev.set_module("bpf");
    ev.mutable_host()->set_id("m-1");
    ev.mutable_host()->set_name("web-1");
    return ev;
}

std::string message(const v1::Event& ev, syslog::MessageOptions o = {}) {
    std::string out;
    syslog::append_message(ev, o, out);
    return out;
}

std::string body(const v1::Event& ev, Format f = Format::json) {
    std::string out;
    append_event(f, ev, out);
    return out;
}

std::string header_and_sd(const std::string& msg) { return msg.substr(0, msg.find(kBom)); }

}  // namespace

TEST_CASE("an event is one RFC 5424 message with the event as its MSG", "[syslog]") {
    auto ev = sample();
    CHECK(message(ev) ==
          "<110>1 2026-11-26T03:40:00.123456Z web-1 ktrail - opened-file "
          "[ktrail@32473 id=\"agent-1:42\" seq=\"42\" action=\"opened-file\" outcome=\"success\" host_id=\"m-1\"] " +
              kBom + body(ev));
    syslog::MessageOptions o;
    o.procid = 4242;
    o.facility = 16;  // local0
    CHECK(header_and_sd(message(ev, o)) ==
          "<134>1 2026-11-26T03:40:00.123456Z web-1 ktrail 4242 opened-file "
          "[ktrail@32473 id=\"agent-1:42\" seq=\"42\" action=\"opened-file\" outcome=\"success\" host_id=\"m-1\"] ");
}

TEST_CASE("the frame is the MSG's byte length, a space, the MSG", "[syslog]") {
    auto ev = sample();
    ev.mutable_host()->set_name("h\xC3\xA9");  // not in the header, but the body has the é: bytes, not characters
    std::string framed;
    syslog::append_framed_message(ev, {}, framed);
    std::string msg = message(ev);
    REQUIRE(framed == std::to_string(msg.size()) + " " + msg);
    // Appending keeps what is there: two frames back to back.
    syslog::append_framed_message(ev, {}, framed);
    CHECK(framed == std::to_string(msg.size()) + " " + msg + std::to_string(msg.size()) + " " + msg);
}

TEST_CASE("severity: alerts and failures warning or worse, the rest informational or notice", "[syslog]") {
    auto ev = sample();
    CHECK(syslog::severity_of(ev) == 6);
    ev.set_outcome("failure");
    CHECK(syslog::severity_of(ev) == 4);
    CHECK(message(ev).starts_with("<108>1 "));
    ev.set_outcome("success");
    ev.set_kind("alert");
    CHECK(syslog::severity_of(ev) == 4);
    ev.set_severity(50);
    CHECK(syslog::severity_of(ev) == 3);
    ev.set_severity(90);
    CHECK(syslog::severity_of(ev) == 2);
    CHECK(message(ev).starts_with("<106>1 "));
    auto agent = sample();
    agent.set_module("agent");
    agent.set_action("agent-started");
    CHECK(syslog::severity_of(agent) == 5);
    agent.set_action("events-lost");
    CHECK(syslog::severity_of(agent) == 4);
}

TEST_CASE("header fields: NILVALUE when empty, printable ASCII only, bounded", "[syslog]") {
    auto ev = sample();
    ev.mutable_host()->clear_name();
    ev.set_time_ns(0);
    ev.clear_action();
    ev.clear_outcome();
    CHECK(header_and_sd(message(ev)) ==
          "<110>1 - - ktrail - - [ktrail@32473 id=\"agent-1:42\" seq=\"42\" host_id=\"m-1\"] ");

    ev = sample();
    ev.mutable_host()->set_name("m\xC3\xBCnchen host");
    CHECK(header_and_sd(message(ev)).starts_with("<110>1 2026-11-26T03:40:00.123456Z m__nchen_host ktrail - "));
    ev.mutable_host()->set_name(std::string(300, 'h'));
    CHECK(header_and_sd(message(ev)).find(" " + std::string(255, 'h') + " ktrail ") != std::string::npos);
    CHECK(header_and_sd(message(ev)).find(std::string(256, 'h')) == std::string::npos);

    // MSGID: at most 32 characters; the SD keeps the whole action.
    ev = sample();
    std::string action = "changed-file-ownership-of-something-long";  // 40
    ev.set_action(action);
    std::string m = header_and_sd(message(ev));
    CHECK(m.find(" ktrail - changed-file-ownership-of-someth [ktrail@32473 ") != std::string::npos);
    CHECK(m.find("action=\"" + action + "\"") != std::string::npos);
}

TEST_CASE("microseconds are truncated, not rounded; the time is UTC", "[syslog]") {
    auto ev = sample();
    ev.set_time_ns(1795664400999999999);
    CHECK(header_and_sd(message(ev)).starts_with("<110>1 2026-11-26T03:40:00.999999Z "));
    ev.set_time_ns(1000);  // 1 µs after the epoch
    CHECK(header_and_sd(message(ev)).starts_with("<110>1 1970-01-01T00:00:00.000001Z "));
}

TEST_CASE("structured data escapes '\"', '\\\\' and ']' and replaces invalid UTF-8", "[syslog]") {
    auto ev = sample();
    ev.set_id(R"(a"b\c]d)");
    ev.set_outcome("\xFF ok \xC0\xAF \xC3\xA9 \xED\xA0\x80");  // stray, overlong, é, a surrogate
    ev.mutable_host()->set_id("x[y]=z");
    const std::string fffd = "\xEF\xBF\xBD";
    CHECK(header_and_sd(message(ev)) ==
          "<110>1 2026-11-26T03:40:00.123456Z web-1 ktrail - opened-file [ktrail@32473 id=\"a\\\"b\\\\c\\]d\" "
          "seq=\"42\" action=\"opened-file\" outcome=\"" +
              fffd + " ok " + fffd + fffd + " \xC3\xA9 " + fffd + fffd + fffd + "\" host_id=\"x[y\\]=z\"] ");
}

TEST_CASE("CEF goes without the BOM", "[syslog]") {
    auto ev = sample();
    syslog::MessageOptions o;
    o.format = Format::cef;
    std::string m = message(ev, o);
    CHECK(m.find(kBom) == std::string::npos);
    CHECK(m.ends_with("host_id=\"m-1\"] " + body(ev, Format::cef)));
}

TEST_CASE("facilities by name or number", "[syslog]") {
    CHECK(syslog::parse_facility("auth") == 4);
    CHECK(syslog::parse_facility("authpriv") == 10);
    CHECK(syslog::parse_facility("daemon") == 3);
    CHECK(syslog::parse_facility("audit") == 13);
    CHECK(syslog::parse_facility("local0") == 16);
    CHECK(syslog::parse_facility("local7") == 23);
    CHECK(syslog::parse_facility("23") == 23);
    CHECK(syslog::parse_facility("0") == 0);
    for (const char* bad : {"24", "-1", "local8", "", "4x"}) {
        auto f = syslog::parse_facility(bad);
        REQUIRE_FALSE(f);
        CHECK(f.error().message.find("local7") != std::string::npos);
    }
}

namespace {

std::string spec_error(const std::string& scheme, const std::string& target,
                       std::map<std::string, std::string> params = {}) {
    OutputSpec spec{scheme + "://" + target, scheme, target, std::move(params)};
    auto d = make_syslog_destination(spec, DestinationContext{});
    return d ? "" : d.error().message;
}

}  // namespace

TEST_CASE("syslog specs: a bad target or parameter names the spec and the fix", "[syslog]") {
    CHECK(spec_error("syslog+tcp", "127.0.0.1:514").empty());
    CHECK(spec_error("syslog+tcp", "[::1]:514").empty());
    CHECK(spec_error("syslog+tcp", "siem:514", {{"facility", "local3"}, {"confirm-after", "0"}}).empty());

    std::string e = spec_error("syslog+tcp", "siem.example");
    CHECK(e.find("--output syslog+tcp://siem.example") != std::string::npos);
    CHECK(e.find("e.g. syslog+tcp://siem.example.com:514") != std::string::npos);
    CHECK(spec_error("syslog+tls", "siem:0").find("e.g. syslog+tls://siem.example.com:6514") != std::string::npos);
    CHECK(spec_error("syslog+tcp", ":514").find("no host") != std::string::npos);
    CHECK(spec_error("syslog+tcp", "siem:http").find("'http' is not a port") != std::string::npos);

    e = spec_error("syslog+tcp", "siem:514", {{"ca", "/x"}});
    CHECK(e.find("unknown parameter 'ca'") != std::string::npos);
    CHECK(e.find("confirm-after, facility, format") != std::string::npos);
    e = spec_error("syslog+tls", "siem:6514", {{"colour", "red"}});
    CHECK(e.find("ca, cert, confirm-after, facility, format, key, server-name") != std::string::npos);

    CHECK(spec_error("syslog+tcp", "siem:514", {{"facility", "kernel"}}).find("facility 'kernel'") !=
          std::string::npos);
    CHECK(spec_error("syslog+tcp", "siem:514", {{"confirm-after", "1s"}}).find("milliseconds") != std::string::npos);
    CHECK(spec_error("syslog+tls", "siem:6514", {{"ca", "/nonexistent/ca.pem"}}).find("ca=/nonexistent/ca.pem") !=
          std::string::npos);
    CHECK(spec_error("syslog+tls", "siem:6514", {{"cert", "/x.crt"}}).find("both cert=PATH and key=PATH") !=
          std::string::npos);
}

TEST_CASE("syslog: a batch with nothing to send needs no receiver and is confirmed at once", "[syslog]") {
    // Port 1 on loopback: nobody listens, so a connection attempt would fail.
    OutputSpec spec{"syslog+tcp://127.0.0.1:1", "syslog+tcp", "127.0.0.1:1", {}};
    auto d = make_syslog_destination(spec, DestinationContext{});
    REQUIRE(d);
    std::vector<spool::Record> recs(2);
    recs[0].sequence = 7;
    recs[0].bytes = "\x0f not an event";
    recs[1].type = spool::Record::Type::checkpoint;
    recs[1].sequence = 7;
    forward::Batch batch{recs, 7, 7, 1, std::nullopt};
    auto r = (*d)->deliver(batch);
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
    CHECK((*d)->confirmed_through() == 7);

    spool::Record ev;
    ev.sequence = 8;
    ev.bytes = v1::Event().SerializeAsString();
    forward::Batch next{std::span(&ev, 1), 8, 8, 1, std::nullopt};
    auto refused = (*d)->deliver(next);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.starts_with("syslog+tcp://127.0.0.1:1: connect to 127.0.0.1:1: "));
    CHECK((*d)->confirmed_through() == 7);
}
