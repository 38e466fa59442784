#include "query.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>

#include "format/json_format.h"
#include "store/store.h"

namespace ktrail::cli {

const char* const kQueryUsage =
    "usage: ktrail query [--store URL] [--since T] [--until T] [--host H] [--user U] [--action A]\n"
    "                    [--path GLOB] [--outcome success|failure|unknown] [--session ID]\n"
    "                    [--limit N] [--json]\n"
    "\n"
    "  the stored events that match every filter given, newest first\n"
    "  --store URL      sqlite:PATH or postgresql://USER@HOST[:PORT]/DB\n"
    "                   (default sqlite:/var/lib/ktrail/collector/events.db)\n"
    "  --since, --until T   10m, 2h, 1d, 1h30m (that long ago), now, or an RFC 3339 time\n"
    "                   (2026-11-26T08:00:00Z, 2026-11-26T09:00:00+01:00, 2026-11-26)\n"
    "  --host H         host.name or host.id\n"
    "  --user U         user.name\n"
    "  --action A       event.action (executed, opened-file, deleted, logged-in, ...)\n"
    "  --path GLOB      file.path as a shell glob: * (any run, '/' too), ?, [abc], [!abc]\n"
    "  --outcome O      success, failure or unknown\n"
    "  --session ID     session.id (the audit session number)\n"
    "  --limit N        at most N events (default 100; 0: all)\n"
    "  --json           one JSON object per line (the event contract's fields) instead of a table\n";

namespace {

constexpr int64_t kSecond = 1'000'000'000;

// Terminal-safe text: control characters and bytes that are not UTF-8 become
// '?', so a hostile path cannot move the cursor or recolour the screen.
std::vector<std::string> cells(std::string_view s) {
    std::vector<std::string> out;  // one display character each
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= s.size();
        for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
        if (!ok) {
            out.emplace_back("?");
            ++i;
            continue;
        }
        if (n == 1 && (c < 0x20 || c == 0x7f))
            out.emplace_back("?");
        else if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0)
            out.emplace_back("?");  // C1 controls
        else
            out.emplace_back(s.substr(i, n));
        i += n;
    }
    return out;
}

enum class Cut { none, end, start };  // where a long value loses characters

struct Column {
    const char* title;
    size_t max;  // 0: as wide as it needs
    Cut cut;
};

// Columns as wide as their widest value (up to a maximum), two spaces apart;
// a longer value loses its end, or its start (paths: the file name matters).
class TextTable {
public:
    explicit TextTable(std::vector<Column> columns) : columns_(std::move(columns)) {}
    void add(const std::vector<std::string>& values) {
        std::vector<std::string> row;
        for (size_t c = 0; c < columns_.size(); ++c) {
            auto chars = cells(c < values.size() && !values[c].empty() ? values[c] : std::string("-"));
            size_t max = columns_[c].max;
            if (max && chars.size() > max) {
                if (columns_[c].cut == Cut::start) {
                    chars.erase(chars.begin(), chars.begin() + static_cast<ptrdiff_t>(chars.size() - (max - 3)));
                    chars.insert(chars.begin(), 3, ".");
                } else {
                    chars.resize(max - 3);
                    chars.insert(chars.end(), 3, ".");
                }
            }
            std::string cell;
            for (auto& ch : chars) cell += ch;
            widths_.resize(columns_.size(), 0);
            widths_[c] = std::max(widths_[c], chars.size());
            row.push_back(std::move(cell));
            lens_.push_back(chars.size());
        }
        rows_.push_back(std::move(row));
    }
    std::string render() const {
        std::string out;
        std::vector<size_t> w(columns_.size(), 0);
        for (size_t c = 0; c < columns_.size(); ++c)
            w[c] = std::max(std::string_view(columns_[c].title).size(), c < widths_.size() ? widths_[c] : 0);
        auto line = [&](auto get, auto len) {
            std::string l;
            for (size_t c = 0; c < columns_.size(); ++c) {
                l += get(c);
                if (c + 1 < columns_.size()) l.append(w[c] - len(c) + 2, ' ');
            }
            out += l;
            out += '\n';
        };
        line([&](size_t c) { return std::string(columns_[c].title); },
             [&](size_t c) { return std::string_view(columns_[c].title).size(); });
        for (size_t r = 0; r < rows_.size(); ++r)
            line([&](size_t c) { return rows_[r][c]; }, [&](size_t c) { return lens_[r * columns_.size() + c]; });
        return out;
    }

private:
    std::vector<Column> columns_;
    std::vector<size_t> widths_;
    std::vector<std::vector<std::string>> rows_;
    std::vector<size_t> lens_;  // display width of each cell, row-major
};

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        out = out * 10 + (s[i] - '0');
    }
    return true;
}

std::optional<int64_t> parse_duration(std::string_view s) {
    if (s.empty()) return std::nullopt;
    int64_t total = 0;
    size_t i = 0;
    while (i < s.size()) {
        size_t start = i;
        int64_t n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            n = n * 10 + (s[i] - '0');
            if (n > 1'000'000'000) return std::nullopt;
            ++i;
        }
        if (i == start || i == s.size()) return std::nullopt;
        int64_t unit;
        switch (s[i]) {
            case 's': unit = 1; break;
            case 'm': unit = 60; break;
            case 'h': unit = 3600; break;
            case 'd': unit = 86400; break;
            case 'w': unit = 7 * 86400; break;
            default: return std::nullopt;
        }
        ++i;
        total += n * unit;
        if (total > 200LL * 365 * 86400) return std::nullopt;
    }
    return total * kSecond;
}

std::optional<int64_t> parse_rfc3339(std::string_view s) {
    int year, mon, day, hour = 0, min = 0, sec = 0;
    if (!digits(s, 0, 4, year) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mon) || s[7] != '-' ||
        !digits(s, 8, 2, day))
        return std::nullopt;
    size_t i = 10;
    int64_t frac_ns = 0, offset_s = 0;
    if (i < s.size()) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return std::nullopt;
        if (!digits(s, i + 1, 2, hour) || i + 3 >= s.size() || s[i + 3] != ':' || !digits(s, i + 4, 2, min) ||
            i + 6 >= s.size() || s[i + 6] != ':' || !digits(s, i + 7, 2, sec))
            return std::nullopt;
        i += 9;
        if (i < s.size() && s[i] == '.') {
            ++i;
            int64_t scale = 100'000'000;
            size_t start = i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                frac_ns += (s[i] - '0') * scale;
                scale /= 10;
                ++i;
            }
            if (i == start) return std::nullopt;
        }
        if (i >= s.size()) return std::nullopt;  // a time needs its zone
        if (s[i] == 'Z' || s[i] == 'z') {
            ++i;
        } else if (s[i] == '+' || s[i] == '-') {
            int oh, om;
            if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !digits(s, i + 4, 2, om) ||
                oh > 23 || om > 59)
                return std::nullopt;
            offset_s = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
            i += 6;
        } else {
            return std::nullopt;
        }
        if (i != s.size()) return std::nullopt;
    }
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return std::nullopt;
    struct tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (tm.tm_mday != day) return std::nullopt;  // 2026-02-30
    return (static_cast<int64_t>(t) - offset_s) * kSecond + frac_ns;
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// "2026-11-26T08:00:00.123Z": a table's time, to the millisecond.
std::string table_time(int64_t ns) {
    std::string full = rfc3339_ns(ns);  // ...:SS.nnnnnnnnnZ
    return full.substr(0, 23) + "Z";
}

}  // namespace

Result<int64_t> parse_time(std::string_view text, int64_t now) {
    if (text == "now") return now;
    if (auto d = parse_duration(text)) return now - *d;
    if (auto t = parse_rfc3339(text)) return *t;
    return fail(fmt::format("'{}' is neither a duration (10m, 2h, 1d, 1h30m) nor an RFC 3339 time "
                            "(2026-11-26T08:00:00Z)",
                            text));
}

int query_main(const std::vector<std::string>& args) {
    std::string url = kDefaultStore;
    store::Query q;
    bool json = false;
    int64_t now = now_ns();
    auto usage_error = [](const std::string& msg) {
        fprintf(stderr, "ktrail query: %s\n(ktrail query --help shows every flag)\n", msg.c_str());
        return 2;
    };
    for (size_t i = 0; i < args.size(); ++i) {
        std::string flag = args[i];
        std::optional<std::string> inline_value;
        if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
            inline_value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
        }
        if (flag == "--help" || flag == "-h") {
            fputs(kQueryUsage, stdout);
            return 0;
        }
        if (flag == "--json") {
            if (inline_value) return usage_error("--json takes no value");
            json = true;
            continue;
        }
        static const char* const kValued[] = {"--store", "--since", "--until",   "--host",  "--user",
                                              "--action", "--path", "--outcome", "--session", "--limit"};
        if (std::find(std::begin(kValued), std::end(kValued), flag) == std::end(kValued))
            return usage_error(fmt::format("unknown flag '{}'", flag));
        std::string value;
        if (inline_value) {
            value = *inline_value;
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return usage_error(fmt::format("{} needs a value", flag));
        }
        if (value.empty()) return usage_error(fmt::format("{} needs a value", flag));
        if (flag == "--store") {
            url = value;
        } else if (flag == "--since" || flag == "--until") {
            auto t = parse_time(value, now);
            if (!t) return usage_error(fmt::format("{}: {}", flag, t.error().message));
            (flag == "--since" ? q.since_ns : q.until_ns) = *t;
        } else if (flag == "--host") {
            q.host = value;
        } else if (flag == "--user") {
            q.user = value;
        } else if (flag == "--action") {
            q.action = value;
        } else if (flag == "--path") {
            q.path_glob = value;
        } else if (flag == "--outcome") {
            if (value != "success" && value != "failure" && value != "unknown")
                return usage_error(fmt::format("--outcome: '{}' is not one of success, failure, unknown", value));
            q.outcome = value;
        } else if (flag == "--session") {
            char* end = nullptr;
            errno = 0;
            long long v = strtoll(value.c_str(), &end, 10);
            if (errno || *end || v < 0 || v > UINT32_MAX)
                return usage_error(fmt::format("--session: '{}' is not a session id (a number)", value));
            q.session_id = v;
        } else if (flag == "--limit") {
            char* end = nullptr;
            errno = 0;
            unsigned long long v = strtoull(value.c_str(), &end, 10);
            if (errno || *end || value[0] == '-')
                return usage_error(fmt::format("--limit: '{}' is not a number of events (0: all)", value));
            q.limit = static_cast<size_t>(v);
        }
    }
    if (q.since_ns && q.until_ns && *q.since_ns > *q.until_ns)
        return usage_error("--since is after --until: nothing can match");

    auto store = store::open_store(url, store::OpenOptions{.create = false});
    if (!store) {
        fprintf(stderr, "ktrail query: %s\n", store.error().message.c_str());
        return 1;
    }
    auto rows = (*store)->query(q);
    if (!rows) {
        fprintf(stderr, "ktrail query: %s\n", rows.error().message.c_str());
        return 1;
    }

    int status = 0;
    if (json) {
        std::string out;
        v1::Event ev;
        for (const auto& row : *rows) {
            if (!ev.ParseFromString(row.raw)) {
                fprintf(stderr, "ktrail query: the stored event %s does not decode (run ktrail verify)\n",
                        row.event_id.c_str());
                status = 1;
                continue;
            }
            out.clear();
            append_json(ev, out);
            fwrite(out.data(), 1, out.size(), stdout);
        }
    } else if (!rows->empty()) {
        TextTable t({{"TIME", 24, Cut::none},
                     {"HOST", 20, Cut::end},
                     {"USER", 14, Cut::end},
                     {"ACTION", 28, Cut::end},
                     {"OUTCOME", 7, Cut::end},
                     {"PATH", 56, Cut::start},
                     {"PROCESS", 32, Cut::start},
                     {"EVENT ID", 0, Cut::none}});
        for (const auto& r : *rows)
            t.add({table_time(r.time_ns), r.host_name, r.user_name, r.action, r.outcome, r.path,
                   r.process_executable, r.event_id});
        std::string out = t.render();
        fwrite(out.data(), 1, out.size(), stdout);
    }
    if (rows->empty())
        fprintf(stderr, "ktrail query: no events match\n");
    else if (q.limit && rows->size() == q.limit)
        fprintf(stderr, "ktrail query: the newest %zu shown; --limit N (0: all) for more\n", rows->size());
    fflush(stdout);
    return status;
}

}  // namespace ktrail::cli
