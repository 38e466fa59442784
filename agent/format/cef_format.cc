// ArcSight CEF: CEF:0|ktrail|ktrail|VERSION|ACTION|TITLE|SEVERITY|ext, with
// only the standard extension keys (and cs1..cs6 / cn1 with their labels)
// so any CEF consumer maps them without a custom parser.
#include <algorithm>
#include <charconv>

#include "format/event_format.h"
#include "format/event_names.h"
#include "format/json_writer.h"
#include "version.h"

namespace ktrail {
namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

// Copies `s` as valid UTF-8 (invalid bytes become U+FFFD), escaping bytes
// through `esc`, which appends and returns true for the ones it handles.
template <typename Escape>
void append_utf8(std::string_view s, std::string& out, Escape esc) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<uint8_t>(s[i]);
        if (c < 0x80) {
            if (!esc(static_cast<char>(c), out)) out += static_cast<char>(c);
            ++i;
            continue;
        }
        size_t n = utf8_len(s, i);
        if (n == 0) {
            out += kReplacement;
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
}

// Header fields: `\` and `|` escaped; a line break would end the record.
void header(std::string_view s, std::string& out) {
    append_utf8(s, out, [](char c, std::string& o) {
        switch (c) {
        case '\\': o += "\\\\"; return true;
        case '|': o += "\\|"; return true;
        case '\r':
        case '\n': o += ' '; return true;
        default: return false;
        }
    });
    out += '|';
}

// Extension values: `\`, `=` and line breaks escaped.
void value(std::string_view s, std::string& out) {
    append_utf8(s, out, [](char c, std::string& o) {
        switch (c) {
        case '\\': o += "\\\\"; return true;
        case '=': o += "\\="; return true;
        case '\r': o += "\\r"; return true;
        case '\n': o += "\\n"; return true;
        default: return false;
        }
    });
}

class Extensions {
public:
    explicit Extensions(std::string& out) : out_(out) {}
    void add(std::string_view key, std::string_view v) {
        if (v.empty()) return;
        if (!first_) out_ += ' ';
        first_ = false;
        out_.append(key);
        out_ += '=';
        value(v, out_);
    }
    void add(std::string_view key, uint64_t v) {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
        add(key, std::string_view(buf, end - buf));
    }
    void custom(int n, std::string_view label, std::string_view v) {
        if (v.empty()) return;
        char key[16] = "cs";
        key[2] = static_cast<char>('0' + n);
        add(std::string_view(key, 3), v);
        add(std::string(key, 3) + "Label", label);
    }

private:
    std::string& out_;
    bool first_ = true;
};

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items, char sep) {
    std::string s;
    for (const auto& i : items) {
        if (!s.empty()) s += sep;
        s += i;
    }
    return s;
}

std::string id_text(uint32_t id) { return std::to_string(id); }

bool is_login_event(const v1::Event& ev) {
    for (const auto& c : ev.category())
        if (c == "authentication" || c == "session") return true;
    return false;
}

// suser/suid is who acted; duser/duid the account acted upon: an account
// change's target, or the account a login or authentication is for (then the
// actor is the audit user, the human behind the session, when known).
void add_users(const v1::Event& ev, Extensions& x) {
    if (!ev.has_user()) return;
    const auto& u = ev.user();
    if (u.has_target()) {
        x.add("suser", u.name());
        if (u.has_id()) x.add("suid", id_text(u.id()));
        x.add("duser", u.target().name());
        if (u.target().has_id()) x.add("duid", id_text(u.target().id()));
        return;
    }
    if (is_login_event(ev)) {
        if (u.has_audit()) {
            x.add("suser", u.audit().name());
            if (u.audit().has_id()) x.add("suid", id_text(u.audit().id()));
        }
        x.add("duser", u.name());
        if (u.has_id()) x.add("duid", id_text(u.id()));
        return;
    }
    x.add("suser", u.name());
    if (u.has_id()) x.add("suid", id_text(u.id()));
}

// A rename's file.path is the old name and target_path the new one.
void add_file(const v1::Event& ev, Extensions& x) {
    if (!ev.has_file()) return;
    const auto& f = ev.file();
    bool renamed = ev.action() == "renamed" && !f.target_path().empty();
    const std::string& path = renamed ? f.target_path() : f.path();
    x.add("fname", base_name(path));
    x.add("filePath", path);
    if (renamed) {
        x.add("oldFileName", base_name(f.path()));
        x.add("oldFilePath", f.path());
    }
    if (f.has_inode()) x.add("fileId", f.inode());
    if (f.has_mode()) {
        // Octal, at least four digits, as ECS file.mode shows it ("0644").
        char buf[12];
        auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), f.mode(), 8);
        std::string mode(buf, end);
        if (mode.size() < 4) mode.insert(0, 4 - mode.size(), '0');
        x.add("filePermission", mode);
    }
}

std::string command_line(const v1::Process& p) {
    if (!p.command_line().empty()) return p.command_line();
    return join(p.args(), ' ');
}

void add_extensions(const v1::Event& ev, Extensions& x) {
    x.add("rt", static_cast<uint64_t>(ev.time_ns() / 1'000'000));
    if (ev.has_host()) {
        x.add("dvchost", ev.host().name());
        x.add("deviceExternalId", ev.host().id());
    }
    x.add("act", ev.action());
    x.add("cat", join(ev.category(), ','));
    x.add("outcome", ev.outcome());
    // An alert's reason is its rule's description: the message to show.
    x.add(ev.kind() == "alert" ? "msg" : "reason", ev.reason());
    add_users(ev, x);
    if (ev.has_process()) {
        x.add("sproc", ev.process().name());
        if (ev.process().has_pid()) x.add("spid", ev.process().pid());
    }
    if (ev.has_source()) {
        x.add("src", ev.source().ip());
        if (ev.source().has_port()) x.add("spt", ev.source().port());
    }
    add_file(ev, x);
    if (ev.sequence()) {
        x.add("cn1", ev.sequence());
        x.add("cn1Label", "sequence");
    }
    if (ev.has_session() && ev.session().has_id()) x.custom(1, "sessionId", id_text(ev.session().id()));
    x.custom(2, "tags", join(ev.tags(), ','));
    if (ev.has_rule()) x.custom(3, "ruleId", ev.rule().id());
    if (ev.has_agent()) x.custom(4, "agentId", ev.agent().id());
    x.custom(5, "eventId", ev.id());
    if (ev.has_process()) x.custom(6, "commandLine", command_line(ev.process()));
}

}  // namespace

void append_cef(const v1::Event& ev, std::string& out) {
    out += "CEF:0|";
    header("ktrail", out);
    header("ktrail", out);
    header(ev.has_agent() && !ev.agent().version().empty() ? ev.agent().version() : std::string_view(kVersion), out);
    header(ev.action(), out);
    header(event_title(ev), out);
    uint32_t score = severity_score(ev);
    out += std::to_string(score == 0 ? 1 : std::min<uint32_t>((score + 5) / 10, 10));
    out += '|';
    Extensions x(out);
    add_extensions(ev, x);
}

}  // namespace ktrail
