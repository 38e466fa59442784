// The query columns of a stored event, derived from the event itself. The
// store writes them and `ktrail verify` derives them again from the raw
// bytes: a column edited after the fact no longer matches.
#include <cstdint>
#include <string_view>

#include "store/store.h"

namespace ktrail::store {
namespace {

// The length of the valid UTF-8 sequence at s[i] (no overlongs, surrogates
// or code points past U+10FFFF), or 0.
size_t utf8_len(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t left = s.size() - i;
    auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xc0) == 0x80; };
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return left >= 2 && cont(i + 1) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (left < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
        if (c == 0xe0 && b(i + 1) < 0xa0) return 0;   // overlong
        if (c == 0xed && b(i + 1) >= 0xa0) return 0;  // surrogate
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (left < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
        if (c == 0xf0 && b(i + 1) < 0x90) return 0;   // overlong
        if (c == 0xf4 && b(i + 1) >= 0x90) return 0;  // past U+10FFFF
        return 4;
    }
    return 0;
}

// A column value both back ends can hold as text: invalid UTF-8 and NUL
// (PostgreSQL text has neither) become U+FFFD. Deterministic, so verify
// derives the same value again.
std::string column(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        size_t n = utf8_len(s, i);
        if (n == 0 || s[i] == '\0') break;
        i += n;
    }
    if (i == s.size()) return std::string(s);
    std::string out(s.substr(0, i));
    while (i < s.size()) {
        size_t n = utf8_len(s, i);
        if (n == 0 || s[i] == '\0') {
            out += "\xef\xbf\xbd";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

}  // namespace

Row make_row(const v1::Event& ev, std::string raw, const chain::Hash& hash) {
    Row r;
    r.agent_id = column(ev.agent().id());
    r.sequence = ev.sequence();
    r.time_ns = ev.time_ns();
    r.event_id = column(ev.id());
    r.host_id = column(ev.host().id());
    r.host_name = column(ev.host().name());
    r.kind = column(ev.kind());
    r.action = column(ev.action());
    r.outcome = column(ev.outcome());
    r.user_name = column(ev.user().name());
    r.path = column(ev.file().path());
    r.process_executable = column(ev.process().executable());
    r.session_id = ev.has_session() && ev.session().has_id() ? static_cast<int64_t>(ev.session().id()) : -1;
    r.hash = hash;
    r.raw = std::move(raw);
    return r;
}

}  // namespace ktrail::store
