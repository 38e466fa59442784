#include "source/audit/audit_record.h"

#include <libaudit.h>

#include <charconv>

namespace ktrail::audit {
namespace {

bool is_hex(std::string_view v) {
    if (v.empty() || v.size() % 2) return false;
    for (char c : v)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
    return true;
}

std::string hex_decode(std::string_view v) {
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
    std::string out(v.size() / 2, '\0');
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(nib(v[2 * i]) << 4 | nib(v[2 * i + 1]));
    return out;
}

// Fields the kernel and the user-space tools log as "untrusted strings":
// quoted when plain, hex when they hold spaces, quotes or control bytes.
bool maybe_hex(std::string_view key) {
    static constexpr std::string_view names[] = {
        "exe", "comm", "cwd", "name", "path", "proctitle", "cmd", "acct", "key", "data", "dir",
        "file", "old", "new", "ocomm", "root_dir", "watch", "grp", "new_group", "old-chardev", "new-chardev",
    };
    for (auto n : names)
        if (key == n) return true;
    // EXECVE arguments: a0, a1, ... and split ones, a1[0], a1[1], ...
    if (key.size() >= 2 && key[0] == 'a' && key[1] >= '0' && key[1] <= '9') return true;
    return false;
}

// Parses key=value pairs. Values may be "quoted", 'quoted' (a user-space
// record's msg='...', whose fields are parsed and flattened in), or bare.
// Words that are not key=value are skipped, except an AVC's result and its
// { permission set }, kept as seresult and seperms (as Auditbeat names them).
void parse_fields(std::string_view s, std::vector<std::pair<std::string, std::string>>& out) {
    size_t i = 0;
    auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\x1d'; };
    while (i < s.size()) {
        while (i < s.size() && is_space(s[i])) ++i;
        if (i >= s.size()) break;
        if (s[i] == '{') {  // AVC: { read write }
            size_t close = s.find('}', i);
            if (close == std::string_view::npos) break;
            std::string perms;
            for (size_t j = i + 1; j < close;) {
                while (j < close && s[j] == ' ') ++j;
                size_t k = j;
                while (k < close && s[k] != ' ') ++k;
                if (k > j) perms += (perms.empty() ? "" : ",") + std::string(s.substr(j, k - j));
                j = k;
            }
            out.emplace_back("seperms", perms);
            i = close + 1;
            continue;
        }
        size_t tok = i;
        while (i < s.size() && !is_space(s[i]) && s[i] != '=') ++i;
        if (i >= s.size() || s[i] != '=') {  // a bare word
            std::string_view word = s.substr(tok, i - tok);
            if (word == "denied" || word == "granted") out.emplace_back("seresult", std::string(word));
            continue;
        }
        std::string_view key = s.substr(tok, i - tok);
        size_t v = i + 1;
        if (v < s.size() && (s[v] == '"' || s[v] == '\'')) {
            char q = s[v];
            size_t end = s.find(q, v + 1);
            if (end == std::string_view::npos) end = s.size();
            std::string_view inner = s.substr(v + 1, end - v - 1);
            if (q == '\'' && key == "msg") parse_fields(inner, out);
            else out.emplace_back(std::string(key), std::string(inner));
            i = end + 1;
        } else {
            size_t end = v;
            while (end < s.size() && !is_space(s[end])) ++end;
            std::string_view raw = s.substr(v, end - v);
            if (maybe_hex(key) && is_hex(raw)) out.emplace_back(std::string(key), hex_decode(raw));
            else out.emplace_back(std::string(key), std::string(raw));
            i = end;
        }
    }
}

template <typename T>
bool to_number(std::string_view s, T& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// "audit(1700000000.123:42): rest" -> time, serial, rest.
std::expected<AuditRecord, ParseError> parse_body(uint32_t type, std::string_view text) {
    size_t start = text.find("audit(");
    if (start == std::string_view::npos) return std::unexpected(ParseError::kNoHeader);
    size_t dot = text.find('.', start);
    size_t colon = text.find(':', start);
    size_t close = text.find(')', start);  // "): " from the kernel, ") " from auditd's own records
    if (dot == std::string_view::npos || colon == std::string_view::npos || close == std::string_view::npos ||
        !(dot < colon && colon < close))
        return std::unexpected(ParseError::kNoHeader);
    int64_t secs = 0, millis = 0;
    uint32_t serial = 0;
    if (!to_number(text.substr(start + 6, dot - start - 6), secs) ||
        !to_number(text.substr(dot + 1, colon - dot - 1), millis) ||
        !to_number(text.substr(colon + 1, close - colon - 1), serial))
        return std::unexpected(ParseError::kNoHeader);
    AuditRecord r;
    r.type = type;
    const char* name = audit_msg_type_to_name(static_cast<int>(type));
    r.type_name = name ? name : "UNKNOWN[" + std::to_string(type) + "]";
    r.time_ns = secs * 1'000'000'000 + millis * 1'000'000;
    r.serial = serial;
    size_t rest = close + 1;
    if (rest < text.size() && text[rest] == ':') ++rest;
    parse_fields(text.substr(rest), r.fields);
    return r;
}

}  // namespace

const std::string* AuditRecord::get(std::string_view key) const {
    for (const auto& [k, v] : fields)
        if (k == key) return &v;
    return nullptr;
}

std::string_view to_string(ParseError e) {
    switch (e) {
    case ParseError::kNoHeader: return "no-header";
    case ParseError::kBadType: return "bad-type";
    }
    return "unknown";
}

std::expected<AuditRecord, ParseError> parse_netlink_message(uint32_t type, std::string_view text) {
    return parse_body(type, text);
}

std::expected<AuditRecord, ParseError> parse_log_line(std::string_view line) {
    // Forwarded logs name the host first: node=NAME type=...
    std::string node;
    if (line.starts_with("node=")) {
        size_t sp = line.find(' ');
        if (sp == std::string_view::npos) return std::unexpected(ParseError::kBadType);
        node = line.substr(5, sp - 5);
        line.remove_prefix(sp + 1);
    }
    if (!line.starts_with("type=")) return std::unexpected(ParseError::kBadType);
    size_t end = line.find(' ');
    std::string name(line.substr(5, end == std::string_view::npos ? std::string_view::npos : end - 5));
    int type = audit_name_to_msg_type(name.c_str());
    if (type <= 0 && name.starts_with("UNKNOWN[")) {
        uint32_t n = 0;
        if (to_number(std::string_view(name).substr(8, name.size() - 9), n)) type = static_cast<int>(n);
    }
    if (type <= 0) return std::unexpected(ParseError::kBadType);
    auto r = parse_body(static_cast<uint32_t>(type), line);
    if (r && !node.empty()) r->fields.emplace(r->fields.begin(), "node", std::move(node));
    return r;
}

}  // namespace ktrail::audit
