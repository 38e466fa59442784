#include "source/bpf/path_filter.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <map>

namespace ktrail::bpf {
namespace {

Result<std::string> normalize_prefix(const std::string& path) {
    if (path.empty() || path[0] != '/')
        return fail(fmt::format("path filter '{}' is not absolute: give a path starting with '/'", path));
    std::string prefix = path;
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    struct stat st{};
    if (prefix != "/" && stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) prefix += '/';
    if (prefix.size() > KT_PREFIX_MAX)
        return fail(fmt::format("path filter '{}' is longer than {} bytes", path, KT_PREFIX_MAX));
    return prefix;
}

// The verdict of the longest real prefix of `s`.
uint32_t longest_real(const std::map<std::string, uint32_t>& real, const std::string& s) {
    uint32_t verdict = 0;
    size_t best = 0;
    for (const auto& [p, v] : real) {
        if (s.starts_with(p) && p.size() >= best) {
            best = p.size();
            verdict = v;
        }
    }
    return verdict;
}

}  // namespace

Result<std::vector<PathFilterEntry>> build_path_filter(const std::vector<std::string>& watch,
                                                       const std::vector<std::string>& exclude) {
    std::map<std::string, uint32_t> real;
    for (const auto& [list, bit] : {std::pair{&watch, uint32_t{KT_PF_WATCH}}, std::pair{&exclude, uint32_t{KT_PF_EXCLUDE}}}) {
        for (const auto& path : *list) {
            auto prefix = normalize_prefix(path);
            if (!prefix) return std::unexpected(prefix.error());
            real[*prefix] |= bit;
        }
    }
    std::map<std::string, bool> keys;  // prefix -> is an ancestor of another
    for (const auto& [p, v] : real) {
        keys.try_emplace(p, false);
        for (size_t i = 0; i + 1 < p.size(); ++i)
            if (p[i] == '/') keys[p.substr(0, i + 1)] = true;
    }
    std::vector<PathFilterEntry> out;
    for (const auto& [k, ancestor] : keys) {
        kt_prefix_value v{};
        v.verdict = longest_real(real, k);
        v.len = static_cast<uint16_t>(k.size());
        v.flags = ancestor ? KT_PFV_ANCESTOR : 0;
        out.push_back({k, v});
    }
    return out;
}

uint32_t lookup_verdict(const std::vector<PathFilterEntry>& entries, const std::string& path) {
    const PathFilterEntry* best = nullptr;
    for (const auto& e : entries)
        if (path.starts_with(e.prefix) && (!best || e.prefix.size() > best->prefix.size())) best = &e;
    return best ? best->value.verdict : 0;
}

bool AgentPathFilter::allows_path(const std::string& path) const {
    uint32_t verdict = lookup_verdict(entries_, path);
    if (verdict & KT_PF_EXCLUDE) return false;
    return !watched_only_ || (verdict & KT_PF_WATCH);
}

bool AgentPathFilter::allows(std::string_view action, const std::string& path, const std::string& target_path) const {
    if (entries_.empty() && !watched_only_) return true;
    if (!path.empty() && allows_path(path)) return true;
    // A rename's or link's other location counts too; a symlink's target is
    // only its content.
    bool two_locations = action == "renamed" || action == "linked";
    if (two_locations && !target_path.empty() && allows_path(target_path)) return true;
    return path.empty() && !(two_locations && !target_path.empty());
}

}  // namespace ktrail::bpf
