#include "config/config_file.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ktrail::config {
namespace {

namespace fs = std::filesystem;

int line_of(const YAML::Node& n) { return std::max(n.Mark().line + 1, 1); }

const char* shape(const YAML::Node& n) {
    return n.IsSequence() ? "a list" : n.IsMap() ? "a mapping" : n.IsNull() ? "empty" : "a value";
}

// The value of one key, as the flag's kind wants it.
Result<void> read_value(const std::string& path, const FlagSpec& flag, const YAML::Node& value, Setting& s) {
    // An empty value's mark is where the parser went on (the next key): name the key's line.
    auto error = [&](const YAML::Node& at, const std::string& what) {
        return fail(fmt::format("{} {}", describe(flag.name, {path, line_of(at)}), what));
    };
    if (value.IsNull())
        return fail(fmt::format("{} has no value: give {}, or remove the key", describe(flag.name, s.origin),
                                flag.kind == Kind::boolean ? "true or false" : "one"));
    switch (flag.kind) {
    case Kind::boolean: {
        bool b = false;
        if (!value.IsScalar() || !YAML::convert<bool>::decode(value, b))
            return error(value, value.IsScalar() ? fmt::format("takes true or false, not '{}'", value.Scalar())
                                                 : fmt::format("takes true or false, not {}", shape(value)));
        s.values = {b ? "true" : "false"};
        s.lines = {line_of(value)};
        return {};
    }
    case Kind::scalar:
        if (!value.IsScalar())
            return error(value, fmt::format("takes one value, not {}", shape(value)));
        s.values = {value.Scalar()};
        s.lines = {line_of(value)};
        return {};
    case Kind::list:
        if (value.IsScalar()) {
            s.values = {value.Scalar()};
            s.lines = {line_of(value)};
            return {};
        }
        if (!value.IsSequence())
            return error(value, "takes a list (like [a, b]) or one value, not a mapping");
        for (const auto& item : value) {
            if (!item.IsScalar())
                return error(item, fmt::format("each item of the list is one value, not {}", shape(item)));
            s.values.push_back(item.Scalar());
            s.lines.push_back(line_of(item));
        }
        return {};
    }
    return {};
}

Result<std::string> read_text(const std::string& path) {
    std::ifstream in(path);
    if (!in) return fail(strerror(errno));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

Result<Settings> read_config_file(const std::vector<FlagSpec>& table, const std::string& path) {
    auto text = read_text(path);
    if (!text) return fail(fmt::format("{}: cannot read the config file ({}); fix its path or permissions", path,
                                       text.error().message));
    YAML::Node root;
    try {
        root = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
        // At the end of the file the parser is one line past the last.
        int last = static_cast<int>(std::count(text->begin(), text->end(), '\n')) + (text->ends_with('\n') ? 0 : 1);
        int line = std::clamp(e.mark.line + 1, 1, std::max(last, 1));
        return fail(fmt::format("{}:{}: YAML syntax error: {}; fix the syntax", path, line, e.msg));
    }
    Settings out;
    if (root.IsNull()) return out;  // empty, or only comments
    if (!root.IsMap())
        return fail(fmt::format("{}:{}: the config is a mapping of keys to values (like 'format: json'), not {}",
                                path, line_of(root), shape(root)));
    for (const auto& kv : root) {
        const YAML::Node& key = kv.first;
        const int line = line_of(key);
        if (!key.IsScalar())
            return fail(fmt::format("{}:{}: a key is a flag's name without '--' (like 'format'), not {}", path, line,
                                    shape(key)));
        const std::string name = key.Scalar();
        auto flag = std::find_if(table.begin(), table.end(), [&](const FlagSpec& f) { return f.name == name; });
        if (flag == table.end()) {
            auto near = nearest(table, name);
            return fail(fmt::format("{}:{}: key '{}': unknown key{}; the keys are the long flags without '--' "
                                    "(see --help)",
                                    path, line, name, near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
        }
        if (!flag->twin)
            return fail(fmt::format("{}:{}: key '{}': only works on the command line (--{}); remove it here", path,
                                    line, name, name));
        if (auto seen = out.find(name); seen != out.end())
            return fail(fmt::format("{}:{}: key '{}': given twice in this file (first on line {}); keep one", path,
                                    line, name, seen->second.origin.line));
        Setting s;
        s.origin = {path, line};
        if (auto ok = read_value(path, *flag, kv.second, s); !ok) return std::unexpected(ok.error());
        out.emplace(name, std::move(s));
    }
    return out;
}

Result<Settings> read_config(const std::vector<FlagSpec>& table, const std::string& path, bool required,
                             const std::string& dropin_dir) {
    Settings out;
    std::error_code ec;
    if (required || fs::exists(path, ec)) {
        auto main = read_config_file(table, path);
        if (!main) return main;
        out = std::move(*main);
    }
    if (dropin_dir.empty()) return out;
    std::vector<fs::path> files;
    fs::directory_iterator it(dropin_dir, ec);
    if (ec == std::errc::no_such_file_or_directory) return out;
    if (ec)
        return fail(fmt::format("{}: cannot read the drop-in directory ({}); make it a readable directory of *.yaml "
                                "files, or remove it",
                                dropin_dir, ec.message()));
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        std::error_code type_ec;
        if (it->path().extension() == ".yaml" && it->is_regular_file(type_ec)) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        auto more = read_config_file(table, f.string());
        if (!more) return more;
        overlay(out, *more);
    }
    return out;
}

}  // namespace ktrail::config
