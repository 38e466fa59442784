#include "enrich/proc_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "enrich/entity_id.h"

namespace ktrail {
namespace {

// Reads a small /proc file whole (at most `limit` bytes).
bool read_file(const char* path, std::string& out, size_t limit) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    out.resize(limit);
    size_t used = 0;
    while (used < limit) {
        ssize_t n = read(fd, out.data() + used, limit - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += static_cast<size_t>(n);
    }
    close(fd);
    out.resize(used);
    return true;
}

std::string read_link(const char* path) {
    char buf[4096];
    ssize_t n = readlink(path, buf, sizeof(buf));
    if (n <= 0) return {};
    std::string s(buf, static_cast<size_t>(n));
    // An unlinked executable or directory reads "PATH (deleted)".
    if (s.ends_with(" (deleted)")) s.resize(s.size() - 10);
    return s;
}

struct StatLine {
    std::string name;
    uint32_t ppid = 0;
    uint64_t start_ticks = 0;
};

// /proc/PID/stat: "pid (comm) state ppid ... starttime(22) ..."; comm may
// hold spaces and parentheses, so fields are counted from the last ')'.
std::optional<StatLine> read_stat(uint32_t pid) {
    char path[40];
    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    std::string s;
    if (!read_file(path, s, 1024)) return std::nullopt;
    size_t open_paren = s.find('(');
    size_t close_paren = s.rfind(')');
    if (open_paren == std::string::npos || close_paren == std::string::npos || close_paren < open_paren)
        return std::nullopt;
    StatLine out;
    out.name = s.substr(open_paren + 1, close_paren - open_paren - 1);
    // Field 3 (state) starts two characters after ')'.
    size_t pos = close_paren + 2;
    for (int field = 3; field <= 22 && pos < s.size(); ++field) {
        size_t end = s.find(' ', pos);
        if (end == std::string::npos) end = s.size();
        const char* b = s.data() + pos;
        const char* e = s.data() + end;
        if (field == 4) std::from_chars(b, e, out.ppid);
        if (field == 22) {
            if (std::from_chars(b, e, out.start_ticks).ec != std::errc()) return std::nullopt;
            return out;
        }
        pos = end + 1;
    }
    return std::nullopt;
}

}  // namespace

bool split_argv(std::string_view argv, size_t argc_limit, std::vector<std::string>& out) {
    size_t i = 0, bytes = 0;
    while (i < argv.size()) {
        if (out.size() >= argc_limit || out.size() >= kMaxArgs) return true;
        size_t j = argv.find('\0', i);
        if (j == std::string_view::npos) j = argv.size();
        std::string_view arg = argv.substr(i, j - i);
        if (bytes + arg.size() > kMaxArgBytes) {
            out.emplace_back(arg.substr(0, kMaxArgBytes - bytes));
            return true;
        }
        bytes += arg.size();
        out.emplace_back(arg);
        i = j + 1;
    }
    return false;
}

std::optional<std::pair<uint64_t, uint32_t>> read_proc_start(uint32_t pid) {
    auto st = read_stat(pid);
    if (!st) return std::nullopt;
    return std::pair{st->start_ticks * EntityIds::ns_per_tick(), st->ppid};
}

std::optional<ProcSnapshot> read_proc(uint32_t pid) {
    auto st = read_stat(pid);
    if (!st) return std::nullopt;
    ProcSnapshot p;
    p.pid = pid;
    p.ppid = st->ppid;
    p.start_boot_ns = st->start_ticks * EntityIds::ns_per_tick();
    p.name = std::move(st->name);
    char path[48];
    snprintf(path, sizeof(path), "/proc/%u/exe", pid);
    p.executable = read_link(path);
    snprintf(path, sizeof(path), "/proc/%u/cwd", pid);
    p.cwd = read_link(path);
    snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
    std::string cmdline;
    if (read_file(path, cmdline, kMaxArgBytes + 1)) {
        bool cut = cmdline.size() > kMaxArgBytes;
        if (cut) cmdline.resize(kMaxArgBytes);
        p.args_truncated = split_argv(cmdline, kMaxArgs, p.args) || cut;
    }
    return p;
}

std::vector<uint32_t> list_pids() {
    std::vector<uint32_t> pids;
    DIR* d = opendir("/proc");
    if (!d) return pids;
    while (dirent* e = readdir(d)) {
        uint32_t pid = 0;
        const char* end = e->d_name + strlen(e->d_name);
        auto [p, ec] = std::from_chars(e->d_name, end, pid);
        if (ec == std::errc() && p == end) pids.push_back(pid);
    }
    closedir(d);
    return pids;
}

}  // namespace ktrail
