#include "output/rfc5424.h"

#include <fmt/format.h>

#include <charconv>
#include <ctime>
#include <iterator>

namespace ktrail::syslog {
namespace {

constexpr std::string_view kNil = "-";
constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
// 32473 is the Private Enterprise Number reserved for documentation
// (RFC 5612); a deployment that wants its own SD-ID registers a PEN.
constexpr std::string_view kSdId = "ktrail@32473";

constexpr const char* kFacilities[] = {"kern",   "user",   "mail",   "daemon", "auth",     "syslog",
                                       "lpr",    "news",   "uucp",   "cron",   "authpriv", "ftp",
                                       "ntp",    "audit",  "alert",  "clock",  "local0",   "local1",
                                       "local2", "local3", "local4", "local5", "local6",   "local7"};

// The length of the valid UTF-8 sequence (RFC 3629) at s[i], 0 if invalid.
size_t utf8_len(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
    unsigned char c = b(0);
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2)) return 0;
        if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
        if (c == 0xED && b(1) > 0x9F) return 0;  // UTF-16 surrogates
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) return 0;
        if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
        if (c == 0xF4 && b(1) > 0x8F) return 0;  // past U+10FFFF
        return 4;
    }
    return 0;
}

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_len(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

// Appends `s` with each invalid byte replaced by U+FFFD; `param_value`: also
// escapes '"', '\' and ']' (RFC 5424 §6.3.3).
void append_utf8(std::string_view s, bool param_value, std::string& out) {
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_len(s, i);
        if (n == 0) {
            out += kReplacement;
            ++i;
            continue;
        }
        char c = s[i];
        if (param_value && (c == '"' || c == '\\' || c == ']')) out += '\\';
        out.append(s, i, n);
        i += n;
    }
}

// PRINTUSASCII (33..126) up to `max` characters; other bytes become '_' (a
// header field cannot carry them); empty: NILVALUE.
void append_header_field(std::string_view s, size_t max, std::string& out) {
    if (s.empty()) {
        out += kNil;
        return;
    }
    for (char c : s.substr(0, max)) out += (c >= 33 && c <= 126) ? c : '_';
}

// RFC 3339 with microseconds, UTC: 2026-11-26T03:40:00.123456Z. Unknown
// (0) or out of the 4-digit year range: NILVALUE.
void append_timestamp(int64_t ns, std::string& out) {
    if (ns <= 0) {
        out += kNil;
        return;
    }
    time_t secs = static_cast<time_t>(ns / 1'000'000'000);
    long micros = static_cast<long>(ns % 1'000'000'000 / 1000);
    struct tm t {};
    if (!gmtime_r(&secs, &t) || t.tm_year + 1900 > 9999) {
        out += kNil;
        return;
    }
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", t.tm_year + 1900,
                   t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, micros);
}

void append_param(std::string_view name, std::string_view value, std::string& out) {
    if (value.empty()) return;  // an absent field is left out, not sent as ""
    out += ' ';
    out += name;
    out += "=\"";
    append_utf8(value, true, out);
    out += '"';
}

void append_structured_data(const v1::Event& ev, std::string& out) {
    out += '[';
    out += kSdId;
    append_param("id", ev.id(), out);
    if (ev.sequence()) {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, ev.sequence());
        append_param("seq", std::string_view(buf, end - buf), out);
    }
    append_param("action", ev.action(), out);
    append_param("outcome", ev.outcome(), out);
    append_param("host_id", ev.host().id(), out);
    out += ']';
}

}  // namespace

Result<int> parse_facility(std::string_view name) {
    for (int i = 0; i < static_cast<int>(std::size(kFacilities)); ++i)
        if (name == kFacilities[i]) return i;
    int n = -1;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
    if (ec == std::errc() && end == name.data() + name.size() && n >= 0 && n <= 23) return n;
    return fail(fmt::format("facility '{}' is not a syslog facility: use a number 0..23 or one of {}", name,
                            fmt::join(kFacilities, ", ")));
}

// Alerts and failures are what a SIEM operator must see: warning or worse,
// alerts graded by event.severity on ECS's scale (critical 74-100, high
// 48-73). A lost-events report is a warning too (the audit trail has a hole).
// The agent's own events and rule-raised severities are notices; the rest of
// the trail is informational.
int severity_of(const v1::Event& ev) {
    constexpr int kCritical = 2, kError = 3, kWarning = 4, kNotice = 5, kInformational = 6;
    if (ev.kind() == "alert") {
        if (ev.has_severity() && ev.severity() >= 74) return kCritical;
        if (ev.has_severity() && ev.severity() >= 48) return kError;
        return kWarning;
    }
    if (ev.outcome() == "failure" || ev.action() == "events-lost") return kWarning;
    if (ev.module() == "agent" || (ev.has_severity() && ev.severity() >= 48)) return kNotice;
    return kInformational;
}

void append_message(const v1::Event& ev, const MessageOptions& options, std::string& out) {
    fmt::format_to(std::back_inserter(out), "<{}>1 ", options.facility * 8 + severity_of(ev));
    append_timestamp(ev.time_ns(), out);
    out += ' ';
    append_header_field(ev.host().name(), 255, out);
    out += " ktrail ";
    if (options.procid > 0)
        fmt::format_to(std::back_inserter(out), "{}", options.procid);
    else
        out += kNil;
    out += ' ';
    append_header_field(ev.action(), 32, out);
    out += ' ';
    append_structured_data(ev, out);
    out += ' ';
    // JSON and OCSF go as MSG-UTF8 (BOM first, RFC 5424 §6.4). CEF goes
    // without the BOM: CEF receivers match the body on a leading "CEF:0|".
    if (options.format != Format::cef) out += kBom;
    size_t body = out.size();
    append_event(options.format, ev, out);
    if (!valid_utf8(std::string_view(out).substr(body))) {  // the formats should not let this happen
        std::string raw = out.substr(body);
        out.resize(body);
        append_utf8(raw, false, out);
    }
}

void append_framed_message(const v1::Event& ev, const MessageOptions& options, std::string& out) {
    size_t start = out.size();
    append_message(ev, options, out);
    char len[24];
    auto [end, ec] = std::to_chars(len, len + sizeof len - 1, out.size() - start);
    *end++ = ' ';
    out.insert(start, len, end - len);
}

}  // namespace ktrail::syslog
