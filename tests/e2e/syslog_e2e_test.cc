// The syslog output against Debian's real rsyslogd (tests/support/rsyslog_server):
// plain TCP and TLS (certificate and host name verified, client certificates),
// a receiver that goes away with unconfirmed batches, cancel(), and the whole
// path spool -> Forwarder -> syslog through an rsyslog restart.
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include "forward/forwarder.h"
#include "output/output_spec.h"
#include "rsyslog_server.h"
#include "spool/spool.h"

using namespace ktrail;
using namespace std::chrono_literals;
using json = nlohmann::json;
using test::RsyslogServer;

namespace {

const char* kActions[] = {"executed", "opened-file", "logged-in", "changed-file-ownership-of"};
const std::string kHostId = "m\"1]\\x";  // every SD escape in one value
const std::string kBom = "\xEF\xBB\xBF";

struct TempDir {
    std::string path;
    TempDir() {
        char t[] = "/tmp/ktrail-syslog-e2e-XXXXXX";
        REQUIRE(mkdtemp(t));
        path = t;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

v1::Event make_event(uint64_t seq) {
    v1::Event ev;
    ev.set_time_ns(1795664400000000000 + static_cast<int64_t>(seq) * 1000);
    ev.set_id("agent-e2e:" + std::to_string(seq));
    ev.set_sequence(seq);
    ev.set_kind("event");
    ev.set_action(kActions[seq % 4]);
    ev.set_outcome(seq % 10 == 0 ? "failure" : "success");
    ev.set_module("bpf");
    ev.mutable_host()->set_id(kHostId);
    ev.mutable_host()->set_name("e2e-host");
    ev.mutable_file()->set_path("/tmp/we\"ird]\\name\xff\n" + std::to_string(seq));  // escaped by the format
    return ev;
}

// Events first..last with a checkpoint after each tenth and one record that
// is not an event (skipped, never blocking).
std::vector<spool::Record> records(uint64_t first, uint64_t last) {
    std::vector<spool::Record> out;
    for (uint64_t s = first; s <= last; ++s) {
        spool::Record r;
        r.sequence = s;
        r.bytes = make_event(s).SerializeAsString();
        if (s == first + 1) r.bytes = "\x0f not protobuf";  // wire type 7: ParseFromString fails
        out.push_back(std::move(r));
        if (s % 10 == 0) {
            spool::Record cp;
            cp.type = spool::Record::Type::checkpoint;
            cp.sequence = s;
            cp.bytes = std::string(64, 's');
            out.push_back(std::move(cp));
        }
    }
    return out;
}

forward::Batch batch_of(const std::vector<spool::Record>& recs, uint64_t first, uint64_t last) {
    forward::Batch b;
    b.records = recs;
    b.first_sequence = first;
    b.last_sequence = last;
    b.events = last - first + 1;
    return b;
}

std::unique_ptr<forward::Destination> destination(const std::string& text) {
    auto spec = parse_output_spec(text);
    INFO(text);
    REQUIRE(spec);
    auto d = make_syslog_destination(*spec, DestinationContext{});
    INFO((d ? "" : d.error().message));
    REQUIRE(d);
    return std::move(*d);
}

uint64_t wait_confirmed(forward::Destination& d, uint64_t seq, std::chrono::milliseconds limit = 10s) {
    auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto c = d.confirmed_through();
        INFO((c ? "" : c.error().message));
        REQUIRE(c);
        if (*c >= seq || std::chrono::steady_clock::now() > until) return *c;
        std::this_thread::sleep_for(20ms);
    }
}

// A received line checked against the event it claims to be; its sequence.
uint64_t check_line(const std::string& line) {
    INFO("received: " << line);
    json f = json::parse(line);
    std::string msg = f["msg"];
    if (msg.starts_with(kBom)) msg = msg.substr(kBom.size());
    json body = json::parse(msg);
    uint64_t seq = body["event"]["sequence"];
    v1::Event ev = make_event(seq);
    CHECK(f["app"] == "ktrail");
    CHECK(f["hostname"] == "e2e-host");
    CHECK(f["msgid"] == ev.action());
    CHECK(f["procid"] == std::to_string(getpid()));
    CHECK(f["facility"] == "13");
    CHECK(f["severity"] == (ev.outcome() == "failure" ? "4" : "6"));
    CHECK(f["timestamp"] == fmt::format("2026-11-26T03:40:00.{:06}Z", seq));
    CHECK(f["sd"] ==
          fmt::format("[ktrail@32473 id=\"{}\" seq=\"{}\" action=\"{}\" outcome=\"{}\" host_id=\"m\\\"1\\]\\\\x\"]",
                      ev.id(), seq, ev.action(), ev.outcome()));
    CHECK(body["host"]["name"] == "e2e-host");
    CHECK(body["event"]["action"] == ev.action());
    return seq;
}

// How often each sequence arrived.
std::map<uint64_t, int> arrivals(const RsyslogServer& rs) {
    std::map<uint64_t, int> n;
    for (const auto& line : rs.lines()) ++n[check_line(line)];
    return n;
}

void deliver_ok(forward::Destination& d, uint64_t first, uint64_t last) {
    auto recs = records(first, last);
    auto r = d.deliver(batch_of(recs, first, last));
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
}

// Every event first..last except the unparsable second of each batch of `batch`, once.
void check_exactly_once(const RsyslogServer& rs, uint64_t first, uint64_t last, uint64_t batch) {
    uint64_t expected = (last - first + 1) - (last - first + 1) / batch;
    INFO(rs.log());
    REQUIRE(rs.wait_for_lines(expected, 20s) == expected);
    std::this_thread::sleep_for(200ms);  // nothing more trickles in
    auto n = arrivals(rs);
    CHECK(n.size() == expected);
    for (uint64_t s = first; s <= last; ++s) {
        bool skipped = (s - first) % batch == 1;
        INFO("sequence " << s);
        CHECK(n[s] == (skipped ? 0 : 1));
    }
}

struct Certs {
    std::string dir;
    std::string ca() const { return dir + "/ca.crt"; }
    std::string server_cert() const { return dir + "/collector.crt"; }  // SAN localhost, 127.0.0.1
    std::string server_key() const { return dir + "/collector.key"; }
    std::string client_cert() const { return dir + "/agent-e2e-agent.crt"; }
    std::string client_key() const { return dir + "/agent-e2e-agent.key"; }
};

Certs make_certs(const std::string& dir) {
    std::string cmd = "/bin/bash '" KTRAIL_SCRIPTS "/dev-certs.sh' '" + dir + "' e2e-agent >'" + dir + ".log' 2>&1";
    int rc = std::system(cmd.c_str());
    INFO(cmd);
    REQUIRE(rc == 0);
    return Certs{dir};
}

std::string tls_spec(const RsyslogServer& rs, const std::string& params) {
    return "syslog+tls://127.0.0.1:" + std::to_string(rs.port()) + "?confirm-after=100&" + params;
}

}  // namespace

TEST_CASE("syslog+tcp: every event arrives once, as rsyslog parses it", "[syslog]") {
    RsyslogServer rs;
    auto d = destination("syslog+tcp://127.0.0.1:" + std::to_string(rs.port()) + "?confirm-after=100");
    for (uint64_t first = 1; first <= 300; first += 100) deliver_ok(*d, first, first + 99);
    CHECK(wait_confirmed(*d, 300) == 300);
    check_exactly_once(rs, 1, 300, 100);
}

TEST_CASE("syslog+tls: the receiver's certificate and name are verified", "[syslog]") {
    TempDir tmp;
    Certs certs = make_certs(tmp.path + "/certs");
    RsyslogServer rs({.tls = true, .ca = certs.ca(), .cert = certs.server_cert(), .key = certs.server_key()});

    SECTION("a matching name (DNS or IP) and CA: every event arrives once") {
        auto by_name = destination(tls_spec(rs, "ca=" + certs.ca() + "&server-name=localhost"));
        deliver_ok(*by_name, 1, 100);
        auto by_ip = destination(tls_spec(rs, "ca=" + certs.ca()));  // server-name defaults to the host, 127.0.0.1
        deliver_ok(*by_ip, 101, 200);
        CHECK(wait_confirmed(*by_name, 100) == 100);
        CHECK(wait_confirmed(*by_ip, 200) == 200);
        check_exactly_once(rs, 1, 200, 100);
    }
    SECTION("another name, another CA or none: refused, saying why and what to fix") {
        Certs other = make_certs(tmp.path + "/other");
        for (const std::string& params :
             {"ca=" + certs.ca() + "&server-name=siem.example.com", "ca=" + other.ca() + "&server-name=localhost",
              std::string("server-name=localhost")}) {
            auto d = destination(tls_spec(rs, params));
            auto recs = records(1, 10);
            auto r = d->deliver(batch_of(recs, 1, 10));
            INFO(params);
            REQUIRE_FALSE(r);
            INFO(r.error().message);
            CHECK(r.error().message.starts_with("syslog+tls://127.0.0.1:" + std::to_string(rs.port()) +
                                                ": TLS handshake"));
            CHECK(r.error().message.find("certificate was refused") != std::string::npos);
            CHECK(r.error().message.find("fix ?server-name= or ?ca=") != std::string::npos);
            // rsyslog sends its CA along: an unknown CA shows as "self-signed certificate in certificate chain".
            bool wrong_name = params.find("siem.example.com") != std::string::npos;
            CHECK(r.error().message.find(wrong_name ? "hostname mismatch" : "self-signed certificate") !=
                  std::string::npos);
        }
        std::this_thread::sleep_for(300ms);
        CHECK(rs.lines().empty());
    }
}

TEST_CASE("syslog+tls: a client certificate for a receiver that requires one", "[syslog]") {
    TempDir tmp;
    Certs certs = make_certs(tmp.path + "/certs");
    RsyslogServer rs({.tls = true,
                      .ca = certs.ca(),
                      .cert = certs.server_cert(),
                      .key = certs.server_key(),
                      .auth_mode = "x509/certvalid"});
    auto d = destination(tls_spec(
        rs, "ca=" + certs.ca() + "&server-name=localhost&cert=" + certs.client_cert() + "&key=" + certs.client_key()));
    deliver_ok(*d, 1, 50);
    CHECK(wait_confirmed(*d, 50) == 50);
    check_exactly_once(rs, 1, 50, 50);
}

TEST_CASE("syslog: a receiver that goes away with unconfirmed batches is reported; they are sent again", "[syslog]") {
    RsyslogServer rs;
    std::string spec = "syslog+tcp://127.0.0.1:" + std::to_string(rs.port());
    auto d = destination(spec + "?confirm-after=60000");  // nothing confirms by time while the test runs
    deliver_ok(*d, 1, 50);
    REQUIRE(wait_confirmed(*d, 50, 300ms) == 0);
    rs.stop();
    auto c = d->confirmed_through();
    REQUIRE_FALSE(c);
    INFO(c.error().message);
    CHECK(c.error().message == spec +
                                   ": the receiver closed the connection with events 1..50 written but not "
                                   "confirmed (they will be sent again)");

    auto recs = records(51, 60);
    auto down = d->deliver(batch_of(recs, 51, 60));
    REQUIRE_FALSE(down);
    CHECK(down.error().message.starts_with(spec + ": connect to 127.0.0.1:" + std::to_string(rs.port())));
    CHECK(down.error().message.find("Connection refused") != std::string::npos);

    rs.start();
    deliver_ok(*d, 1, 50);  // what the forwarder does: again from the last confirmed position
    REQUIRE(rs.wait_for_lines(2 * 49, 20s) >= 49);
    auto n = arrivals(rs);
    for (uint64_t s = 1; s <= 50; ++s)
        if (s != 2) CHECK(n[s] >= 1);
}

TEST_CASE("syslog: cancel() makes a blocked deliver() give up soon", "[syslog]") {
    // A listener that never accepts: the kernel completes the TCP handshake,
    // nobody answers the TLS ClientHello.
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(l, 4) == 0);
    REQUIRE(getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    auto d = destination("syslog+tls://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "?server-name=localhost");
    std::thread canceller([&] {
        std::this_thread::sleep_for(300ms);
        d->cancel();
    });
    auto start = std::chrono::steady_clock::now();
    auto recs = records(1, 5);
    auto r = d->deliver(batch_of(recs, 1, 5));
    auto took = std::chrono::steady_clock::now() - start;
    canceller.join();
    close(l);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("cancelled") != std::string::npos);
    CHECK(took < 1s);  // the handshake alone would wait 3 s
}

TEST_CASE("spool -> Forwarder -> syslog: rsyslog down for 2 s mid-stream, nothing lost", "[syslog]") {
    TempDir tmp;
    RsyslogServer rs;
    auto spool = spool::Spool::open({tmp.path + "/spool", 1ull << 30, 256 * 1024, {tmp.path + "/acked.syslog"}});
    REQUIRE(spool);
    spool::Spool& sp = **spool;
    forward::ForwarderOptions fo;
    fo.max_events = 100;
    fo.linger = 20ms;
    fo.backoff_initial = 50ms;
    fo.backoff_max = 400ms;
    forward::Forwarder fw(
        sp, 0, destination("syslog+tcp://127.0.0.1:" + std::to_string(rs.port()) + "?confirm-after=300"), fo);
    fw.start();

    // ~2000 events/s for 2 s; rsyslog goes down once the first 1000 are
    // confirmed (about 0.8 s in) and comes back 2 s later, after the last.
    constexpr uint64_t kEvents = 4000;
    std::string restart_error;
    std::thread outage([&] {
        while (sp.acked(0) < 1000) std::this_thread::sleep_for(5ms);
        rs.stop();
        std::this_thread::sleep_for(2s);
        try {
            rs.start();
        } catch (const std::exception& e) {
            restart_error = e.what();
        }
    });
    for (uint64_t s = 1; s <= kEvents; ++s) {
        REQUIRE(sp.append_event(s, make_event(s).SerializeAsString()));
        if (s % 20 == 0) {
            REQUIRE(sp.commit());
            std::this_thread::sleep_for(10ms);
        }
    }
    REQUIRE(sp.commit());
    outage.join();
    REQUIRE(restart_error.empty());
    INFO(rs.log());
    CHECK(fw.flush(60s));
    fw.stop(1s);
    CHECK(sp.acked(0) == kEvents);

    REQUIRE(rs.wait_for_lines(kEvents, 20s) >= kEvents);
    std::this_thread::sleep_for(300ms);
    auto n = arrivals(rs);
    uint64_t lines = rs.lines().size(), missing = 0;
    for (uint64_t s = 1; s <= kEvents; ++s) missing += n[s] == 0;
    CHECK(missing == 0);
    CHECK(n.size() == kEvents);
    WARN("syslog through an rsyslog restart: " << kEvents << " events, " << lines << " received, " << lines - kEvents
                                               << " duplicates, " << missing << " missing, "
                                               << fw.stats().retries.load() << " retries");
}

TEST_CASE("syslog+tcp: ?format=cef goes without a BOM, ?format=ocsf as JSON after one", "[syslog]") {
    RsyslogServer rs;
    std::string spec = "syslog+tcp://127.0.0.1:" + std::to_string(rs.port()) + "?facility=local4&format=";
    auto cef = destination(spec + "cef");
    auto ocsf = destination(spec + "ocsf");
    deliver_ok(*cef, 1, 10);
    deliver_ok(*ocsf, 11, 20);
    INFO(rs.log());
    REQUIRE(rs.wait_for_lines(18, 20s) == 18);
    for (const auto& line : rs.lines()) {
        INFO(line);
        json f = json::parse(line);
        CHECK(f["facility"] == "20");
        std::string msg = f["msg"];
        uint64_t seq = std::stoull(f["sd"].get<std::string>().substr(f["sd"].get<std::string>().find("seq=\"") + 5));
        if (seq <= 10) {
            CHECK(msg.starts_with("CEF:0|"));
        } else {
            REQUIRE(msg.starts_with(kBom));
            CHECK(json::parse(msg.substr(kBom.size())).is_object());
        }
    }
}
