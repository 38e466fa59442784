#include "config/flags.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace ktrail::config {
namespace {

const FlagSpec* lookup(const std::vector<FlagSpec>& table, std::string_view name) {
    auto it = std::find_if(table.begin(), table.end(), [&](const FlagSpec& f) { return f.name == name; });
    return it == table.end() ? nullptr : &*it;
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
            diag = up;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string describe(std::string_view name, const Origin& origin) {
    if (origin.file.empty()) return fmt::format("--{}", name);
    return fmt::format("{}:{}: key '{}':", origin.file, origin.line, name);
}

void overlay(Settings& base, const Settings& top) {
    for (const auto& [key, setting] : top) base[key] = setting;
}

std::string_view nearest(const std::vector<FlagSpec>& table, std::string_view name) {
    std::string_view best;
    size_t best_distance = 3;
    for (const auto& f : table) {
        size_t d = edit_distance(name, f.name);
        if (d < best_distance) best = f.name, best_distance = d;
    }
    return best;
}

Result<Settings> parse_args(const std::vector<FlagSpec>& table, int argc, char** argv) {
    Settings out;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h") arg = "--help";
        std::string_view name = arg.starts_with("--") ? arg.substr(2) : std::string_view();
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string_view::npos) {
            inline_value = std::string(name.substr(eq + 1));
            name = name.substr(0, eq);
        }
        const FlagSpec* flag = name.empty() ? nullptr : lookup(table, name);
        if (!flag) return fail(fmt::format("unknown option '{}'; see --help", arg));
        Setting& s = out[std::string(name)];
        s.origin = {};
        if (flag->kind == Kind::boolean) {
            if (inline_value && *inline_value != "true" && *inline_value != "false")
                return fail(fmt::format("--{} takes no value (or =true, =false), not '{}'", name, *inline_value));
            s.values = {inline_value.value_or("true")};
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= argc) return fail(fmt::format("--{} needs a value; see --help", name));
            inline_value = argv[++i];
        }
        if (flag->kind == Kind::scalar) s.values.clear();  // the last one given wins
        s.values.push_back(std::move(*inline_value));
    }
    return out;
}

Result<void> check_log_level(const std::string& v) {
    if (spdlog::level::from_str(v) == spdlog::level::off && v != "off")
        return fail(fmt::format("takes trace, debug, info, warn, error or off, not '{}'", v));
    return {};
}

}  // namespace ktrail::config
