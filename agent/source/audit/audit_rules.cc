#include "source/audit/audit_rules.h"

#include <fmt/format.h>
#include <libaudit.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

// libaudit keeps the state between the options of one rule in these globals
// (auditctl resets them for every line); they are exported, not declared.
extern "C" {
extern unsigned int _audit_elf;
extern int _audit_syscalladded, _audit_permadded, _audit_archadded, _audit_exeadded, _audit_filterfsadded;
}

namespace ktrail::audit {
namespace {

constexpr int kUnset = AUDIT_FILTER_UNSET;

void reset_libaudit_state() {
    _audit_elf = 0;
    _audit_syscalladded = _audit_permadded = _audit_archadded = _audit_exeadded = _audit_filterfsadded = 0;
}

// "list,action" in either order (exit,always / always,exit).
Result<void> rule_setup(const std::string& opt, int& filter, int& action) {
    size_t comma = opt.find(',');
    if (comma == std::string::npos || opt.find(',', comma + 1) != std::string::npos)
        return fail(fmt::format("'{}' must be list,action (e.g. always,exit)", opt));
    auto act = [](const std::string& s) {
        if (s == "always") return AUDIT_ALWAYS;
        if (s == "never") return AUDIT_NEVER;
        return -1;
    };
    std::string a = opt.substr(0, comma), b = opt.substr(comma + 1);
    if (a == "possible" || b == "possible") return fail("the 'possible' action is deprecated and not supported");
    int act_a = act(a), act_b = act(b);
    if (act_a >= 0) {
        action = act_a;
        filter = audit_name_to_flag(b.c_str());
    } else if (act_b >= 0) {
        action = act_b;
        filter = audit_name_to_flag(a.c_str());
    }
    if (action < 0 || filter < 0 || filter == kUnset)
        return fail(fmt::format("'{}' names no known list and action (lists: exit, task, user, exclude, filesystem, io_uring)", opt));
    return {};
}

int list_of(int add, int del) { return (add != kUnset ? add : del) & (AUDIT_FILTER_MASK | AUDIT_FILTER_UNSET); }

Result<uint32_t> perms(const std::string& opt) {
    if (opt.empty() || opt.size() > 4) return fail(fmt::format("permission '{}' must be 1 to 4 of r, w, x, a", opt));
    uint32_t val = 0;
    for (char c : opt) {
        switch (std::tolower(static_cast<unsigned char>(c))) {
        case 'r': val |= AUDIT_PERM_READ; break;
        case 'w': val |= AUDIT_PERM_WRITE; break;
        case 'x': val |= AUDIT_PERM_EXEC; break;
        case 'a': val |= AUDIT_PERM_ATTR; break;
        default: return fail(fmt::format("permission '{}' is not one of r, w, x, a", c));
        }
    }
    return val;
}

bool parse_u32(const std::string& s, uint32_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::vector<std::string> tokenize_rule_line(std::string_view line) {
    std::vector<std::string> out;
    std::string cur;
    bool in_token = false;
    char quote = 0;
    for (size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quote) {
            if (c == quote) quote = 0;
            else cur += c;
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
            in_token = true;
        } else if (c == '\\' && i + 1 < line.size() && (line[i + 1] == ' ' || line[i + 1] == '\\')) {
            cur += line[++i];
            in_token = true;
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            if (in_token) out.push_back(std::move(cur));
            cur.clear();
            in_token = false;
        } else {
            cur += c;
            in_token = true;
        }
    }
    if (in_token) out.push_back(std::move(cur));
    return out;
}

Result<std::vector<uint8_t>> encode_rule(const std::vector<std::string>& args) {
    reset_libaudit_state();
    audit_rule_data* rule = audit_rule_create_data();
    if (!rule) return fail("out of memory");
    // libaudit may reallocate the rule (it takes audit_rule_data**): free
    // whatever `rule` points to when we leave, on every path.
    struct FreeRule {
        audit_rule_data*& r;
        ~FreeRule() { audit_rule_free_data(r); }
    } free_rule{rule};
    int add = kUnset, del = kUnset, action = -1;
    bool exclude = false, rule_op = false;
    std::string key;
    auto value_of = [&](size_t& i) -> Result<std::string> {
        if (i + 1 >= args.size()) return fail(fmt::format("{} needs a value", args[i]));
        return args[++i];
    };
    auto add_key = [&](const std::string& k) -> Result<void> {
        if (k.find(AUDIT_KEY_SEPARATOR) != std::string::npos) return fail(fmt::format("key '{}' has an illegal character", k));
        std::string joined = key.empty() ? k : key + static_cast<char>(AUDIT_KEY_SEPARATOR) + k;
        if (joined.size() > AUDIT_MAX_KEY_LEN) return fail(fmt::format("keys '{}' exceed {} bytes", joined, AUDIT_MAX_KEY_LEN));
        key = joined;
        return {};
    };
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& opt = args[i];
        if (opt == "-a" || opt == "-A" || opt == "-d") {
            auto v = value_of(i);
            if (!v) return std::unexpected(v.error());
            if (rule_op) return fail("only one -a, -A or -d per rule");
            rule_op = true;
            int filter = kUnset;
            if (auto ok = rule_setup(*v, filter, action); !ok) return std::unexpected(ok.error());
            if (filter == AUDIT_FILTER_EXCLUDE) exclude = true;
            if (filter == AUDIT_FILTER_TASK && _audit_syscalladded) return fail("syscall auditing requested for the task list");
            if (opt == "-d") del = filter;
            else add = filter | (opt == "-A" ? AUDIT_FILTER_PREPEND : 0);
        } else if (opt == "-S") {
            auto v = value_of(i);
            if (!v) return std::unexpected(v.error());
            int list = list_of(add, del);
            if (list == AUDIT_FILTER_TASK) return fail("syscalls cannot be audited on the task list");
            if (list == AUDIT_FILTER_USER) return fail("syscalls cannot be audited on the user list");
            if (list == AUDIT_FILTER_FS) return fail("syscalls cannot be audited on the filesystem list");
            if (exclude) return fail("syscalls cannot be put on the exclude list");
            if (!_audit_elf) {  // no -F arch= before: this machine's
                int machine = audit_detect_machine();
                if (machine < 0) return fail("cannot detect the machine type");
                _audit_elf = audit_machine_to_elf(machine);
            }
            std::stringstream names(*v);
            for (std::string name; std::getline(names, name, ',');) {
                int rc = audit_rule_syscallbyname_data(rule, name.c_str());
                if (rc == -1) return fail(fmt::format("unknown syscall '{}'", name));
                if (rc < 0) return fail(fmt::format("cannot encode syscall '{}' for arch 0x{:x}", name, _audit_elf));
            }
            _audit_syscalladded = 1;
        } else if (opt == "-F" || opt == "-C") {
            auto v = value_of(i);
            if (!v) return std::unexpected(v.error());
            if (add == kUnset && del == kUnset) return fail("the list (-a/-A/-d) must come before -F and -C");
            int flags = (add != kUnset ? add : del) & AUDIT_FILTER_MASK;
            if (opt == "-F" && v->starts_with("key=")) {
                if (auto ok = add_key(v->substr(4)); !ok) return std::unexpected(ok.error());
                continue;
            }
            // libaudit writes into the string it is given: hand it a copy.
            std::string pair = *v;
            int rc = opt == "-F" ? audit_rule_fieldpair_data(&rule, pair.data(), flags)
                                 : audit_rule_interfield_comp_data(&rule, pair.data(), flags);
            if (rc != 0) return fail(fmt::format("invalid {} '{}': libaudit refuses it (error {})", opt, *v, rc));
            if (rule->fields[rule->field_count - 1] == AUDIT_PERM) _audit_permadded = 1;
            if (rule->fields[rule->field_count - 1] == AUDIT_EXE) _audit_exeadded = 1;
        } else if (opt == "-w" || opt == "-W") {
            auto v = value_of(i);
            if (!v) return std::unexpected(v.error());
            if (opt == "-w" && (add != kUnset || del != kUnset)) return fail("a watch cannot be combined with -a, -A or -d");
            std::string path = *v;
            if (path.empty() || path[0] != '/') return fail(fmt::format("watch path '{}' must start with '/'", path));
            if (path.size() >= 4096) return fail("watch path is too long");
            while (path.size() > 2 && path.back() == '/') path.pop_back();
            struct stat st{};
            int type = (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) ? AUDIT_DIR : AUDIT_WATCH;
            if (audit_add_watch_dir(type, &rule, path.c_str()) != 0)
                return fail(fmt::format("cannot encode the watch on '{}'", path));
            (opt == "-w" ? add : del) = AUDIT_FILTER_EXIT;
            action = AUDIT_ALWAYS;
            _audit_syscalladded = 1;
        } else if (opt == "-p") {
            auto v = value_of(i);
            if (!v) return std::unexpected(v.error());
            if (add == kUnset && del == kUnset) return fail("-p needs a watch (-w) before it");
            auto p = perms(*v);
            if (!p) return std::unexpected(p.error());
            if (audit_update_watch_perms(rule, static_cast<int>(*p)) != 0) return fail("cannot set the watch permissions");
            _audit_permadded = 1;
        } else if (opt == "-k") {
            auto v = value_of(i);
            if (!v) return std::unexpected(v.error());
            if (!(_audit_syscalladded || _audit_permadded || _audit_exeadded || _audit_filterfsadded) ||
                (add == kUnset && del == kUnset))
                return fail("-k needs a watch or a syscall rule before it");
            if (auto ok = add_key(*v); !ok) return std::unexpected(ok.error());
        } else {
            return fail(fmt::format("'{}' is not a rule option here", opt));
        }
    }
    if (add == kUnset && del == kUnset) return fail("a rule needs -a, -A, -d, -w or -W");
    // As auditctl: a rule on any list but task that names no syscall is for all.
    if (list_of(add, del) != AUDIT_FILTER_TASK && _audit_syscalladded != 1)
        audit_rule_syscallbyname_data(rule, "all");
    if (!key.empty()) {
        int flags = (add != kUnset ? add : del) & AUDIT_FILTER_MASK;
        std::string pair = "key=" + key;
        int rc = audit_rule_fieldpair_data(&rule, pair.data(), flags);
        if (rc != 0) return fail(fmt::format("invalid key '{}' (libaudit error {})", key, rc));
    }
    // What auditctl sends: audit_add_rule_data sets these two at send time.
    rule->flags = static_cast<uint32_t>(add != kUnset ? add : del);
    rule->action = static_cast<uint32_t>(action);
    const auto* bytes = reinterpret_cast<const uint8_t*>(rule);
    std::vector<uint8_t> out(bytes, bytes + sizeof(audit_rule_data) + rule->buflen);
    if (del != kUnset) out.push_back(1);  // marker, stripped by the parser: a delete
    return out;
}

namespace {

// The paths in a rule the kernel resolves when the rule is added.
std::vector<std::string> kernel_resolved_paths(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (size_t i = 0; i + 1 < args.size(); ++i) {
        const std::string& v = args[i + 1];
        if (args[i] == "-w") {
            out.push_back(v);
        } else if (args[i] == "-F") {
            for (std::string_view field : {"path", "dir", "exe"}) {
                std::string_view rest = v;
                if (!rest.starts_with(field)) continue;
                rest.remove_prefix(field.size());
                if (rest.starts_with("!=")) rest.remove_prefix(2);
                else if (rest.starts_with("=")) rest.remove_prefix(1);
                else continue;
                out.emplace_back(rest);
            }
        }
    }
    return out;
}

// Why the kernel, resolving `path` in ktraild's mount namespace, would put
// the rule on another directory than the host's; nullopt when it would not.
std::optional<std::string> watched_elsewhere(const HostRoot& host, const std::string& path) {
    auto dir = host.differing_dir(path);
    if (!dir) return std::nullopt;
    for (std::string_view tmp : {"/tmp", "/var/tmp"})
        if (*dir == tmp || dir->starts_with(std::string(tmp) + "/"))
            return fmt::format("'{}': ktraild's {} is not the host's (PrivateTmp= in its unit): the kernel would watch "
                               "the wrong directory; watch a path outside /tmp and /var/tmp, or remove PrivateTmp=",
                               path, tmp);
    return fmt::format("'{}': ktraild's {} is not the host's (its unit gives it a mount namespace where another file "
                       "system is there: ProtectHome=yes or tmpfs, TemporaryFileSystem=, BindPaths=): the kernel would "
                       "watch the wrong directory; watch another path, or remove that setting",
                       path, *dir);
}

}  // namespace

void parse_rules_text(std::string_view text, const std::string& name, const ParseOptions& options, ParsedRules& out) {
    size_t lineno = 0, pos = 0;
    while (pos <= text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++lineno;
        std::string where = fmt::format("{}:{}", name, lineno);
        auto args = tokenize_rule_line(line);
        if (args.empty() || args[0].starts_with("#")) {
            if (end == text.size()) break;
            continue;
        }
        auto error = [&](std::string reason) { out.errors.push_back({where, std::move(reason)}); };
        const std::string& op = args[0];
        auto number = [&](uint32_t& value) {
            if (args.size() != 2 || !parse_u32(args[1], value)) {
                error(fmt::format("{} takes one number", op));
                return false;
            }
            return true;
        };
        uint32_t v = 0;
        if (op == "-D") {
            out.control.delete_all = true;
        } else if (op == "-i" || op == "-c") {
            out.ignore_errors = true;
        } else if (op == "-b") {
            if (number(v)) out.control.backlog_limit = v;
        } else if (op == "-r") {
            if (number(v)) out.control.rate_limit = v;
        } else if (op == "--backlog_wait_time") {
            if (number(v)) out.control.backlog_wait_time = v;
        } else if (op == "-e") {
            if (!number(v)) {
            } else if (v > 2) error("-e takes 0, 1 or 2");
            else if (v == 2 && !options.allow_lock)
                error("-e 2 locks the audit configuration until reboot: refused (allow it in the config to use it)");
            else out.control.enabled = v;
        } else if (op == "-f") {
            if (!number(v)) {
            } else if (v > 2) error("-f takes 0, 1 or 2");
            else if (v == 2 && !options.allow_panic)
                error("-f 2 makes the kernel panic when audit fails: refused (allow it in the config to use it)");
            else out.control.failure = v;
        } else {
            auto rule = encode_rule(args);
            if (!rule) {
                error(rule.error().message);
            } else {
                EncodedRule r{where, std::string(line), std::move(*rule), false};
                if (r.data.size() > sizeof(audit_rule_data) + reinterpret_cast<audit_rule_data*>(r.data.data())->buflen) {
                    r.data.pop_back();
                    r.remove = true;
                }
                std::optional<std::string> elsewhere;
                if (options.host_root && !r.remove)  // a removal matches the rule's text, resolves nothing
                    for (const auto& p : kernel_resolved_paths(args))
                        if ((elsewhere = watched_elsewhere(*options.host_root, p))) break;
                if (elsewhere) error(std::move(*elsewhere));
                else out.rules.push_back(std::move(r));
            }
        }
        if (end == text.size()) break;
    }
}

ParsedRules parse_rules_file(const std::string& path, const ParseOptions& options) {
    ParsedRules out;
    std::ifstream in(path);
    if (!in) {
        out.errors.push_back({path, fmt::format("cannot read: {}", strerror(errno))});
        return out;
    }
    std::stringstream s;
    s << in.rdbuf();
    parse_rules_text(s.str(), path, options, out);
    return out;
}

namespace {
// Sends one encoded rule (AUDIT_ADD_RULE or AUDIT_DEL_RULE) and waits for the
// kernel's answer: 0, or -errno.
int send_rule(int fd, const std::vector<uint8_t>& bytes, bool remove) {
    // An aligned, writable copy: libaudit sets flags and action in place.
    std::unique_ptr<audit_rule_data, decltype(&free)> r(static_cast<audit_rule_data*>(malloc(bytes.size())), &free);
    if (!r) return -ENOMEM;
    memcpy(r.get(), bytes.data(), bytes.size());
    int flags = static_cast<int>(r->flags), action = static_cast<int>(r->action);
    // -A only says where to insert: a delete names the list alone (with the
    // prepend bit the kernel finds no rule to delete for some, e.g. exe=).
    if (remove) flags &= ~AUDIT_FILTER_PREPEND;
    int rc = remove ? audit_delete_rule_data(fd, r.get(), flags, action) : audit_add_rule_data(fd, r.get(), flags, action);
    return rc < 0 ? rc : 0;
}
}  // namespace

LoadedRules::LoadedRules(LoadedRules&& o) noexcept : added_(std::move(o.added_)), guardian_(std::move(o.guardian_)) {
    o.added_.clear();
}

LoadedRules& LoadedRules::operator=(LoadedRules&& o) noexcept {
    if (this != &o) {
        unload();
        added_ = std::move(o.added_);
        guardian_ = std::move(o.guardian_);
        o.added_.clear();
    }
    return *this;
}

ParsedRules parse_rules_paths(const std::vector<std::string>& paths, const ParseOptions& options) {
    ParsedRules out;
    for (const auto& p : paths) {
        std::vector<std::string> files;
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            for (const auto& e : std::filesystem::directory_iterator(p, ec))
                if (e.path().extension() == ".rules") files.push_back(e.path().string());
            std::sort(files.begin(), files.end());
        } else {
            files.push_back(p);
        }
        for (const auto& f : files) {
            ParsedRules one = parse_rules_file(f, options);
            out.rules.insert(out.rules.end(), std::make_move_iterator(one.rules.begin()),
                             std::make_move_iterator(one.rules.end()));
            out.errors.insert(out.errors.end(), one.errors.begin(), one.errors.end());
            out.ignore_errors |= one.ignore_errors;
        }
    }
    return out;
}

Result<std::vector<std::vector<uint8_t>>> kernel_rules() {
    int fd = audit_open();
    if (fd < 0) return fail(fmt::format("cannot open the audit netlink socket: {}", strerror(errno)));
    if (audit_request_rules_list_data(fd) <= 0) {
        audit_close(fd);
        return fail("cannot ask the kernel for its audit rules");
    }
    std::vector<std::vector<uint8_t>> rules;
    for (;;) {
        audit_reply rep{};
        if (audit_get_reply(fd, &rep, GET_REPLY_BLOCKING, 0) <= 0) break;
        if (rep.type == NLMSG_DONE || rep.type == NLMSG_ERROR) {
            if (rep.type == NLMSG_ERROR && rep.error->error == 0) continue;  // an ack
            break;
        }
        if (rep.type == AUDIT_LIST_RULES && rep.ruledata) {
            const auto* b = reinterpret_cast<const uint8_t*>(rep.ruledata);
            rules.emplace_back(b, b + sizeof(audit_rule_data) + rep.ruledata->buflen);
        }
    }
    audit_close(fd);
    return rules;
}

Result<LoadedRules> LoadedRules::load(const ParsedRules& parsed) {
    if (!parsed.errors.empty() && !parsed.ignore_errors) {
        std::string all;
        for (const auto& e : parsed.errors) all += fmt::format("\n  {}: {}", e.where, e.reason);
        return fail(fmt::format("{} error(s) in the audit rules, nothing loaded:{}", parsed.errors.size(), all));
    }
    int fd = audit_open();
    if (fd < 0) return fail(fmt::format("cannot open the audit netlink socket: {}", strerror(errno)));
    LoadedRules loaded;
    std::string errors;
    for (const auto& r : parsed.rules) {
        int rc = send_rule(fd, r.data, r.remove);
        if (rc < 0) {
            // An existing identical rule (EEXIST) is not ours to remove later.
            if (rc == -EEXIST) continue;
            errors += fmt::format("\n  {}: the kernel refused the rule: {}", r.where, strerror(-rc));
            continue;
        }
        if (!r.remove) loaded.added_.push_back(r.data);
    }
    audit_close(fd);
    if (!errors.empty() && !parsed.ignore_errors) {
        loaded.unload();  // all or nothing
        return fail("audit rules not loaded:" + errors);
    }
    if (!errors.empty()) spdlog::warn("audit rules loaded with errors (the file asks to go on):{}", errors);
    if (!loaded.added_.empty()) {
        std::vector<std::vector<uint8_t>> rules = loaded.added_;
        loaded.guardian_ = Guardian::start([rules] {
            int gfd = audit_open();
            for (auto it = rules.rbegin(); it != rules.rend(); ++it) send_rule(gfd, *it, true);
            audit_close(gfd);
        });
    }
    return loaded;
}

void LoadedRules::unload() {
    guardian_.dismiss();
    if (added_.empty()) return;
    int fd = audit_open();
    if (fd >= 0) {
        for (auto it = added_.rbegin(); it != added_.rend(); ++it)
            send_rule(fd, *it, true);
        audit_close(fd);
    }
    added_.clear();
}

}  // namespace ktrail::audit
