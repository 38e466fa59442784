// open_store: picks the back end from the URL; and what both back ends share.
#include <fmt/format.h>

#include "store/backends.h"

namespace ktrail::store {

Result<std::vector<std::string>> Store::agent_ids() {
    auto list = agents();
    if (!list) return std::unexpected(list.error());
    std::vector<std::string> ids;
    for (const auto& a : *list) ids.push_back(a.agent_id);
    return ids;
}

Result<std::unique_ptr<Store>> open_store(const std::string& url) { return open_store(url, OpenOptions{}); }

Result<std::unique_ptr<Store>> open_store(const std::string& url, const OpenOptions& options) {
    if (url.starts_with("sqlite:")) {
        std::string path = url.substr(7);
        if (path.starts_with("//")) path = path.substr(2);  // sqlite:///var/... as well as sqlite:/var/...
        if (path.empty()) return fail("store URL 'sqlite:' names no file; use sqlite:PATH, e.g. sqlite:/var/lib/ktrail/collector/events.db");
        return open_sqlite(path, options);
    }
    if (url.starts_with("postgresql://") || url.starts_with("postgres://")) return open_postgres(url, options);
    return fail(fmt::format("unknown store URL '{}': use sqlite:PATH or postgresql://USER@HOST[:PORT]/DB", redact_url(url)));
}

std::string redact_url(const std::string& url) {
    // scheme://user:password@host... -> scheme://user:***@host...
    size_t scheme = url.find("://");
    if (scheme != std::string::npos) {
        size_t start = scheme + 3;
        size_t at = url.find('@', start);
        size_t slash = url.find('/', start);
        if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
            size_t colon = url.find(':', start);
            if (colon != std::string::npos && colon < at) return url.substr(0, colon + 1) + "***" + url.substr(at);
        }
    }
    // password=... as a query parameter
    std::string out = url;
    for (size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
        size_t end = out.find('&', p);
        out.replace(p + 9, (end == std::string::npos ? out.size() : end) - (p + 9), "***");
    }
    return out;
}

Error key_mismatch(const AgentInfo& presented, const AgentInfo& known, const std::string& store) {
    return Error{fmt::format(
        "agent {} ({}) presented a different public key ({}) than the one recorded when it was first seen ({}); "
        "refusing its events. If the agent's key was replaced on purpose, delete its row from the agents table of {}",
        presented.agent_id, presented.host_name, chain::to_hex(presented.public_key).substr(0, 16),
        chain::to_hex(known.public_key).substr(0, 16), store)};
}

int64_t day_of(int64_t time_ns) {
    int64_t d = time_ns / kNsPerDay;
    if (time_ns % kNsPerDay < 0) --d;
    return d;
}

bool glob_to_like(std::string_view glob, std::string& out) {
    out.clear();
    for (char c : glob) {
        switch (c) {
            case '*': out += '%'; break;
            case '?': out += '_'; break;
            case '[': return false;
            case '%':
            case '_':
            case '\\':
                out += '\\';
                out += c;
                break;
            default: out += c;
        }
    }
    return true;
}

std::string glob_to_regex(std::string_view glob) {
    std::string out = "^";
    for (size_t i = 0; i < glob.size(); ++i) {
        char c = glob[i];
        if (c == '*') {
            out += ".*";
        } else if (c == '?') {
            out += '.';
        } else if (c == '[') {
            // A class runs to the next ']' (a ']' first in it is literal, as in
            // SQLite's GLOB); unterminated, '[' is literal.
            size_t j = i + 1;
            if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) ++j;
            if (j < glob.size() && glob[j] == ']') ++j;
            while (j < glob.size() && glob[j] != ']') ++j;
            if (j >= glob.size()) {
                out += "\\[";
                continue;
            }
            out += '[';
            size_t k = i + 1;
            if (glob[k] == '!' || glob[k] == '^') {
                out += '^';
                ++k;
            }
            for (; k < j; ++k) {
                if (glob[k] == '\\' || glob[k] == '[') out += '\\';
                out += glob[k];
            }
            out += ']';
            i = j;
        } else {
            if (std::string_view(".^$|()+{}\\").find(c) != std::string_view::npos) out += '\\';
            out += c;
        }
    }
    out += '$';
    return out;
}

}  // namespace ktrail::store
