// The SIEM formats (json, ocsf, cef): golden files for an event of every
// action, structural checks on every line, and hostile values.
//
// KTRAIL_UPDATE_GOLDEN=1 rewrites tests/unit/golden/events.*.txt; review the
// diff by eye, the goldens are the spec.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "format/event_format.h"
#include "format_fixtures.h"

using nlohmann::json;
using ktrail::Format;

namespace {

const std::vector<ktrail::v1::Event>& fixtures() {
    static const auto events = ktrail::test::format_fixture_events();
    return events;
}

std::string render(Format f, const ktrail::v1::Event& ev) {
    std::string out;
    ktrail::append_event(f, ev, out);
    return out;
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// ---- a tiny CEF reader, written from the spec rather than from the writer ----

struct Cef {
    std::vector<std::string> header;  // 7 fields after "CEF:0", unescaped
    std::vector<std::pair<std::string, std::string>> ext;
    size_t unescaped_pipes = 0;
};

Cef parse_cef(const std::string& line) {
    Cef c;
    size_t i = 0;
    std::string field;
    while (i < line.size() && c.unescaped_pipes < 7) {
        char ch = line[i++];
        if (ch == '\\' && i < line.size()) {
            field += line[i++];
        } else if (ch == '|') {
            c.header.push_back(field);
            field.clear();
            ++c.unescaped_pipes;
        } else {
            field += ch;
        }
    }
    std::string rest = line.substr(i);  // extension values may hold '|' as it is
    // Extensions: key=value, values end where the next " key=" starts
    // (an unescaped '=' is always a key's).
    std::vector<size_t> eqs;
    for (size_t k = 0; k < rest.size(); ++k) {
        if (rest[k] == '\\') {
            ++k;
            continue;
        }
        if (rest[k] == '=') eqs.push_back(k);
    }
    auto key_start = [&](size_t eq) {
        size_t s = rest.rfind(' ', eq);
        return s == std::string::npos ? 0 : s + 1;
    };
    for (size_t n = 0; n < eqs.size(); ++n) {
        size_t ks = key_start(eqs[n]);
        std::string key = rest.substr(ks, eqs[n] - ks);
        size_t vend = n + 1 < eqs.size() ? key_start(eqs[n + 1]) - 1 : rest.size();
        std::string raw = rest.substr(eqs[n] + 1, vend - eqs[n] - 1), value;
        for (size_t k = 0; k < raw.size(); ++k) {
            if (raw[k] != '\\' || k + 1 == raw.size()) {
                value += raw[k];
                continue;
            }
            char e = raw[++k];
            value += e == 'n' ? '\n' : e == 'r' ? '\r' : e;
        }
        c.ext.emplace_back(key, value);
    }
    return c;
}

std::string ext(const Cef& c, std::string_view key) {
    for (const auto& [k, v] : c.ext)
        if (k == key) return v;
    return "<absent>";
}

// The writers show each byte that is not valid UTF-8 as U+FFFD.
std::string replaced(std::string s) {
    std::string out;
    for (char c : s) {
        if (c == '\xff' || c == '\xfe') out += "\xef\xbf\xbd";
        else out += c;
    }
    return out;
}

bool valid_utf8(const std::string& s) {
    try {
        (void)json(s).dump();  // throws type_error 316 on invalid UTF-8
        return true;
    } catch (const json::type_error&) {
        return false;
    }
}

}  // namespace

TEST_CASE("formats: parse_format and to_string round-trip", "[format]") {
    for (Format f : {Format::json, Format::ocsf, Format::cef}) {
        auto parsed = ktrail::parse_format(ktrail::to_string(f));
        REQUIRE(parsed);
        CHECK(*parsed == f);
    }
    auto bad = ktrail::parse_format("xml");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("json, ocsf or cef") != std::string::npos);
}

TEST_CASE("formats: the fixtures cover every action the agent emits", "[format]") {
    std::set<std::string> actions;
    for (const auto& ev : fixtures()) actions.insert(ev.action());
    // DESIGN.md's list, the decoder's, the mapper's and the agent's own.
    for (const char* a : {"executed", "forked", "exited", "opened-file", "created-file", "read-file", "wrote-to-file",
                          "truncated-file", "deleted", "renamed", "linked", "symlinked", "created-directory",
                          "make-device", "mounted", "unmounted", "changed-file-permissions-of",
                          "changed-file-ownership-of", "changed-file-attributes-of", "denied-access-to",
                          "changed-identity-of", "changed-capabilities-of", "loaded-kernel-module",
                          "unloaded-kernel-module", "authenticated", "was-authorized", "logged-in", "logged-out",
                          "started-session", "ended-session", "error", "acquired-credentials",
                          "disposed-credentials", "refreshed-credentials", "authenticated-to-group",
                          "changed-login-id-to", "ran-command", "added-user-account", "deleted-user-account",
                          "modified-user-account", "changed-password", "added-group-account-to",
                          "deleted-group-account-from", "modified-group-account", "changed-group-password",
                          "locked-account", "unlocked-account", "assigned-user-role-to", "removed-user-role-from",
                          "modified-role", "changed-role-to", "violated-selinux-policy", "access-permission",
                          "violated-apparmor-policy", "changed-audit-configuration", "changed-auditd-configuration",
                          "started-audit", "shutdown-audit", "started-service", "stopped-service", "booted-system",
                          "shutdown-system", "changed-to-runlevel", "loaded-firewall-rule-to",
                          "changed-configuration", "package-updated", "crashed-program",
                          "changed-promiscuous-mode-on-device", "violated-seccomp-policy", "typed", "killed-pid",
                          "traced-process", "connected-to", "bound-socket", "listen-for-connections",
                          "accepted-connection-from", "changed-system-time", "changed-system-name", "agent-started",
                          "agent-stopped", "events-lost", "rules-loaded"}) {
        INFO(a);
        CHECK(actions.count(a) == 1);
    }
    bool alert = false;
    for (const auto& ev : fixtures()) alert |= ev.kind() == "alert";
    CHECK(alert);
}

TEST_CASE("formats: every event renders as its golden line", "[format]") {
    const bool update = std::getenv("KTRAIL_UPDATE_GOLDEN") && std::string(std::getenv("KTRAIL_UPDATE_GOLDEN")) == "1";
    for (Format f : {Format::json, Format::ocsf, Format::cef}) {
        const std::string path = std::string(KTRAIL_GOLDEN_DIR) + "/events." + ktrail::to_string(f) + ".txt";
        std::vector<std::string> got;
        for (const auto& ev : fixtures()) {
            got.push_back(render(f, ev));
            INFO(ev.action());
            CHECK(got.back().find('\n') == std::string::npos);
        }
        if (update) {
            std::ofstream out(path, std::ios::trunc);
            for (const auto& line : got) out << line << '\n';
            REQUIRE(out.good());
            WARN("rewrote " << path << ": review the diff");
            continue;
        }
        auto want = read_lines(path);
        INFO(path << " (KTRAIL_UPDATE_GOLDEN=1 writes it)");
        REQUIRE_FALSE(want.empty());
        REQUIRE(want.size() == got.size());
        for (size_t i = 0; i < got.size(); ++i) {
            INFO("line " << i + 1 << ": " << fixtures()[i].action());
            CHECK(got[i] == want[i]);
        }
    }
}

TEST_CASE("formats: every OCSF line has its class's required attributes", "[format]") {
    for (const auto& ev : fixtures()) {
        INFO(ev.action());
        std::string line = render(Format::ocsf, ev);
        json j = json::parse(line);
        for (const char* k : {"class_uid", "category_uid", "activity_id", "activity_name", "type_uid", "severity_id",
                              "time", "metadata", "device", "status_id", "unmapped"})
            CHECK(j.contains(k));
        CHECK(j["type_uid"].get<int64_t>() == j["class_uid"].get<int64_t>() * 100 + j["activity_id"].get<int64_t>());
        CHECK(j["time"].get<int64_t>() == ev.time_ns() / 1'000'000);
        CHECK(j["metadata"]["product"]["name"] == "ktrail");
        CHECK(j["metadata"]["version"] == "1.1.0");
        CHECK(j["metadata"]["uid"] == ev.id());
        CHECK(j["device"]["hostname"] == ev.host().name());
        int cls = j["class_uid"].get<int>();
        CHECK(j["category_uid"].get<int>() == cls / 1000);
        // What each class requires beyond the base event.
        if (cls == 1001) CHECK((j.contains("file") && j["file"].contains("name") && j["file"].contains("type_id")));
        if (cls == 1001 || cls == 1002 || cls == 1007) CHECK(j.contains("actor"));
        if (cls == 1002) CHECK(j["driver"].contains("file"));
        if (cls == 1007) CHECK(j.contains("process"));
        if (cls == 3001 || cls == 3002) CHECK(j.contains("user"));
        if (cls == 3002) CHECK((j.contains("dst_endpoint") || j.contains("service")));
        if (cls == 3006) CHECK(j.contains("group"));
        if (cls == 2004) CHECK((j["finding_info"].contains("uid") && j["finding_info"].contains("title")));
        if (cls == 6002) CHECK(j["app"]["name"] == "ktrail");
        if (ev.outcome() == "failure" && cls != 2004) CHECK(j["status"] == "Failure");
    }
}

TEST_CASE("formats: every CEF line has a 7-field header and key=value extensions", "[format]") {
    for (const auto& ev : fixtures()) {
        INFO(ev.action());
        std::string line = render(Format::cef, ev);
        REQUIRE(line.rfind("CEF:0|ktrail|ktrail|0.1.0|", 0) == 0);
        Cef c = parse_cef(line);
        CHECK(c.unescaped_pipes == 7);
        REQUIRE(c.header.size() == 7);
        CHECK(c.header[4] == ev.action());
        int sev = std::stoi(c.header[6]);
        CHECK((sev >= 0 && sev <= 10));
        // Every key: standard characters, then '='.
        std::string rest = line.substr(line.find('|', line.find(c.header[5])) + 1);
        rest = rest.substr(rest.find('|') + 1);
        REQUIRE_FALSE(c.ext.empty());
        for (const auto& [k, v] : c.ext) {
            INFO(k);
            CHECK(!k.empty());
            CHECK(k.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") ==
                  std::string::npos);
            CHECK(rest.find(k + "=") != std::string::npos);
        }
        CHECK(ext(c, "rt") == std::to_string(ev.time_ns() / 1'000'000));
        CHECK(ext(c, "act") == ev.action());
        CHECK(ext(c, "dvchost") == ev.host().name());
        CHECK(ext(c, "cs5") == ev.id());
        CHECK(ext(c, "cs5Label") == "eventId");
    }
}

namespace {

// Every character the formats escape, and bytes that are not UTF-8.
const std::string kHostile = "a|b=c\\d\ne\rf]g\"h\xff\xfei caf\xc3\xa9";

ktrail::v1::Event hostile_event() {
    ktrail::v1::Event ev;
    for (const auto& f : fixtures())
        if (f.action() == "opened-file" && !ev.has_file()) ev = f;  // fully enriched, with a file
    REQUIRE(ev.has_file());
    ev.mutable_file()->set_path("/tmp/" + kHostile);
    ev.mutable_process()->set_name(kHostile);
    ev.mutable_process()->clear_args();
    ev.mutable_process()->add_args("sh");
    ev.mutable_process()->add_args(kHostile);
    ev.mutable_user()->set_name(kHostile);
    ev.clear_tags();
    ev.add_tags(kHostile);
    return ev;
}

}  // namespace

TEST_CASE("formats: hostile values round-trip through CEF escaping", "[format]") {
    auto ev = hostile_event();
    std::string line = render(Format::cef, ev);
    CHECK(valid_utf8(line));
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    Cef c = parse_cef(line);
    CHECK(c.unescaped_pipes == 7);
    const std::string want = replaced(kHostile);
    CHECK(ext(c, "filePath") == replaced("/tmp/" + kHostile));
    CHECK(ext(c, "fname") == want);
    CHECK(ext(c, "sproc") == want);
    CHECK(ext(c, "suser") == want);
    CHECK(ext(c, "cs6") == "sh " + want);
    CHECK(ext(c, "cs2") == want);
    CHECK(ext(c, "cs2Label") == "tags");
}

TEST_CASE("formats: hostile values in the CEF header are escaped, line breaks become spaces", "[format]") {
    ktrail::v1::Event ev = fixtures().back();  // the alert: its rule names the header's NAME
    REQUIRE(ev.kind() == "alert");
    ev.mutable_rule()->set_name("bad|rule\\x\ny\xff");
    ev.set_action("act|ion");
    std::string line = render(Format::cef, ev);
    CHECK(valid_utf8(line));
    CHECK(line.find("|act\\|ion|bad\\|rule\\\\x y\xef\xbf\xbd|") != std::string::npos);
    Cef c = parse_cef(line);
    CHECK(c.unescaped_pipes == 7);
    REQUIRE(c.header.size() == 7);
    CHECK(c.header[4] == "act|ion");
    CHECK(c.header[5] == "bad|rule\\x y\xef\xbf\xbd");
    CHECK(ext(c, "act") == "act|ion");
}

TEST_CASE("formats: hostile values keep OCSF and JSON valid and hold the value", "[format]") {
    auto ev = hostile_event();
    const std::string want = replaced(kHostile);

    json o = json::parse(render(Format::ocsf, ev));
    CHECK(o["file"]["path"] == replaced("/tmp/" + kHostile));
    CHECK(o["file"]["name"] == want);
    CHECK(o["actor"]["process"]["name"] == want);
    CHECK(o["actor"]["process"]["cmd_line"] == "sh " + want);
    CHECK(o["actor"]["user"]["name"] == want);
    CHECK(o["unmapped"]["tags"].back() == want);

    std::string js = render(Format::json, ev);
    CHECK(js.find('\n') == std::string::npos);
    json e = json::parse(js);
    CHECK(e["file"]["path"] == replaced("/tmp/" + kHostile));
    CHECK(e["user"]["name"] == want);
    CHECK(e["process"]["args"][1] == want);
}

TEST_CASE("formats: an empty event still renders every format", "[format]") {
    ktrail::v1::Event ev;
    json o = json::parse(render(Format::ocsf, ev));
    CHECK(o["class_uid"] == 0);
    CHECK(o["type_uid"] == 99);
    Cef c = parse_cef(render(Format::cef, ev));
    CHECK(c.unescaped_pipes == 7);
    CHECK_NOTHROW(json::parse(render(Format::json, ev)));
}
