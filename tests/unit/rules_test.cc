// ktrail rules without privileges: the condition language (every operator,
// numbers, quoting, list fields, absent fields, precedence), lists and
// macros, every error with its exact file:line:column, the checks that run
// before anything (never match, never act), the engine's actions and alert
// thresholds on a fake clock, and which drops the kernel can make.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ktrail/v1/event.pb.h"
#include "rules/analysis.h"
#include "rules/engine.h"
#include "rules/rule_set.h"

using ktrail::rules::Engine;
using ktrail::rules::load_rules;
using ktrail::rules::load_rules_text;
using ktrail::rules::plan_kernel_drops;
using ktrail::rules::Rule;
using ktrail::rules::RuleSet;
using ktrail::v1::Event;

namespace {

constexpr int64_t kSec = 1'000'000'000LL;

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& e : v) s += "\n  " + e;
    return s;
}

// Every error of a rule text named t.yaml, as "file:line:col: message".
std::vector<std::string> errors_of(const std::string& text) {
    auto r = load_rules_text(text, "t.yaml");
    std::vector<std::string> out;
    for (const auto& e : r.errors) out.push_back(e.to_string());
    // Any error loads nothing.
    CHECK((r.set == nullptr) == !r.errors.empty());
    return out;
}

// The only error of a rule text.
std::string one_error(const std::string& text) {
    auto e = errors_of(text);
    INFO("errors:" << joined(e));
    REQUIRE(e.size() == 1);
    return e[0];
}

// An error at FILE:LINE:COL whose message contains `what`.
class ErrorAt : public Catch::MatcherBase<std::string> {
public:
    ErrorAt(int line, int col, std::string what, std::string file = "t.yaml")
        : prefix_(fmt::format("{}:{}:{}: ", file, line, col)), what_(std::move(what)) {}
    bool match(const std::string& s) const override { return s.starts_with(prefix_) && s.find(what_) != std::string::npos; }
    std::string describe() const override { return "is an error at " + prefix_ + "saying \"" + what_ + "\""; }

private:
    std::string prefix_, what_;
};

// One of the errors is that.
class HasErrorAt : public Catch::MatcherBase<std::vector<std::string>> {
public:
    HasErrorAt(int line, int col, std::string what, std::string file = "t.yaml")
        : at_(line, col, std::move(what), std::move(file)) {}
    bool match(const std::vector<std::string>& v) const override {
        for (const auto& s : v)
            if (at_.match(s)) return true;
        return false;
    }
    std::string describe() const override { return "has an error that " + at_.describe(); }

private:
    ErrorAt at_;
};

std::shared_ptr<const RuleSet> load(const std::string& text) {
    auto r = load_rules_text(text, "t.yaml");
    std::vector<std::string> errs;
    for (const auto& e : r.errors) errs.push_back(e.to_string());
    INFO("rule text:\n" << text << "errors:" << joined(errs));
    REQUIRE(r.set);
    return r.set;
}

// A rule file: `prelude` (lists, macros), then rule r tagging what matches `cond`.
std::string rule_on(const std::string& cond, const std::string& prelude = "") {
    return prelude + "- rule: r\n  description: d\n  condition: |-\n    " + cond + "\n  actions: [tag hit]\n";
}

bool matches(const std::string& cond, const Event& ev, const std::string& prelude = "") {
    Engine engine(load(rule_on(cond, prelude)));
    Event copy = ev;
    std::vector<const Rule*> hits;
    REQUIRE(engine.apply(copy, hits));
    bool hit = copy.rule().id() == "r";
    CHECK(hit == (copy.tags_size() > ev.tags_size()));
    return hit;
}

// A file creation by alice (uid 1000) with touch.
Event file_event() {
    Event ev;
    ev.set_time_ns(1'700'000'000 * kSec);
    ev.set_kind("event");
    ev.set_module("bpf");
    ev.set_action("created-file");
    ev.add_category("file");
    ev.add_type("change");
    ev.add_type("creation");
    ev.set_outcome("success");
    auto* p = ev.mutable_process();
    p->set_pid(4242);
    p->set_executable("/usr/bin/touch");
    p->set_name("touch");
    p->add_args("touch");
    p->add_args("-m");
    p->add_args("/tmp/dir/a file.txt");
    ev.mutable_user()->set_id(1000);
    ev.mutable_user()->set_name("alice");
    ev.mutable_file()->set_path("/tmp/dir/a.txt");
    ev.mutable_file()->set_mode(0644);
    ev.add_tags("audit-key");
    ev.add_tags("second");
    ev.mutable_ktrail()->set_syscall("openat");
    return ev;
}

// A failed login: no process, no file, no tags.
Event login_event(const std::string& user = "alice", int64_t t_s = 1000, int id = 0,
                  const std::string& ip = "192.0.2.7") {
    Event ev;
    ev.set_time_ns(t_s * kSec);
    ev.set_id("agent-x:" + std::to_string(id));
    ev.set_kind("event");
    ev.set_module("audit");
    ev.set_action("authenticated");
    ev.add_category("authentication");
    ev.add_type("start");
    ev.set_outcome("failure");
    ev.mutable_user()->set_name(user);
    ev.mutable_source()->set_ip(ip);
    ev.mutable_auditd()->set_message_type("user_auth");
    (*ev.mutable_auditd()->mutable_data())["acct"] = user;
    (*ev.mutable_auditd()->mutable_data())["terminal"] = "ssh";
    return ev;
}

}  // namespace

// --- the condition language --------------------------------------------------

TEST_CASE("rules: = and != compare strings and numbers", "[rules]") {
    Event ev = file_event();
    CHECK(matches("file.path = /tmp/dir/a.txt", ev));
    CHECK_FALSE(matches("file.path = /tmp/dir/b.txt", ev));
    CHECK(matches("file.path != /tmp/dir/b.txt", ev));
    CHECK_FALSE(matches("file.path != /tmp/dir/a.txt", ev));
    CHECK(matches("user.id = 1000", ev));
    CHECK_FALSE(matches("user.id = 1001", ev));
    CHECK(matches("user.id != 1001", ev));
    CHECK_FALSE(matches("user.id != 1000", ev));
    CHECK(matches("file.name = a.txt", ev));
    CHECK(matches("file.directory = /tmp/dir", ev));
    CHECK(matches("process.name = touch", ev));
    // No spaces needed around the operator.
    CHECK(matches("user.id=1000 and file.path!=/x", ev));
}

TEST_CASE("rules: < <= > >= compare numbers", "[rules]") {
    Event ev = file_event();
    CHECK(matches("user.id < 1001", ev));
    CHECK_FALSE(matches("user.id < 1000", ev));
    CHECK(matches("user.id <= 1000", ev));
    CHECK_FALSE(matches("user.id <= 999", ev));
    CHECK(matches("user.id > 999", ev));
    CHECK_FALSE(matches("user.id > 1000", ev));
    CHECK(matches("user.id >= 1000", ev));
    CHECK_FALSE(matches("user.id >= 1001", ev));
    CHECK(matches("process.pid > 4000 and process.pid < 5000", ev));
    CHECK(matches("process.args_count = 3", ev));
}

TEST_CASE("rules: in takes a list of values", "[rules]") {
    Event ev = file_event();
    CHECK(matches("user.name in (bob, alice)", ev));
    CHECK_FALSE(matches("user.name in (bob, carol)", ev));
    CHECK(matches("user.name in (alice)", ev));
    CHECK(matches("user.id in (0, 1000, 33)", ev));
    CHECK_FALSE(matches("user.id in (0, 33)", ev));
    CHECK(matches("not user.name in (bob, carol)", ev));
}

TEST_CASE("rules: startswith endswith contains glob, with one value or a list", "[rules]") {
    Event ev = file_event();
    CHECK(matches("file.path startswith /tmp/", ev));
    CHECK_FALSE(matches("file.path startswith /etc/", ev));
    CHECK(matches("file.path startswith (/etc/, /tmp/dir/)", ev));
    CHECK_FALSE(matches("file.path startswith (/etc/, /var/)", ev));

    CHECK(matches("file.path endswith .txt", ev));
    CHECK_FALSE(matches("file.path endswith .log", ev));
    CHECK(matches("file.path endswith (.log, a.txt)", ev));
    CHECK_FALSE(matches("file.path endswith (.log, .conf)", ev));

    CHECK(matches("file.path contains /dir/", ev));
    CHECK_FALSE(matches("file.path contains /etc", ev));
    CHECK(matches("file.path contains (nothing, dir/a)", ev));
    CHECK_FALSE(matches("file.path contains (nothing, more)", ev));

    CHECK(matches("file.path glob /tmp/*/a.txt", ev));
    CHECK(matches("file.path glob /tmp/dir/?.txt", ev));
    CHECK(matches("file.path glob \"/tmp/dir/[ab].txt\"", ev));
    CHECK_FALSE(matches("file.path glob /tmp/*.log", ev));
    CHECK(matches("file.path glob /tm*.txt", ev));  // '*' also matches '/'
    CHECK_FALSE(matches("file.path glob /tmp", ev)); // the whole value, not a prefix
    CHECK(matches("file.path glob (/etc/*, /tmp/*)", ev));
    CHECK_FALSE(matches("file.path glob (/etc/*, /var/*)", ev));
}

TEST_CASE("rules: numbers are decimal, octal with a leading 0, hex with 0x", "[rules]") {
    Event ev = file_event();  // file.mode 0644 = 420
    CHECK(matches("file.mode = 0644", ev));
    CHECK(matches("file.mode = 420", ev));
    CHECK_FALSE(matches("file.mode = 644", ev));
    CHECK(matches("file.mode = 0x1a4", ev));
    CHECK(matches("file.mode = 0X1A4", ev));
    CHECK(matches("file.mode in (0600, 0644)", ev));
    CHECK(matches("file.mode > 0600 and file.mode < 0700", ev));
    CHECK(matches("user.id = 0x3e8", ev));
    CHECK(matches("user.id = 01750", ev));
    // A number-looking bare word is text for a string field.
    Event named = file_event();
    named.mutable_file()->set_path("/tmp/0644");
    CHECK(matches("file.name = 0644", named));
    CHECK_FALSE(matches("file.name = 420", named));
}

TEST_CASE("rules: quoted values keep spaces and operators; bare words end at them", "[rules]") {
    Event ev = file_event();
    CHECK(matches("process.args = \"/tmp/dir/a file.txt\"", ev));
    CHECK(matches("process.args = '/tmp/dir/a file.txt'", ev));
    CHECK(matches("process.args contains \"a file\"", ev));
    CHECK(matches("user.name = \"alice\"", ev));
    CHECK(matches("process.args in (\"a b\", \"/tmp/dir/a file.txt\")", ev));
    Event odd = file_event();
    odd.mutable_file()->set_path("/tmp/x=(1, 2) or y");
    CHECK(matches("file.path = \"/tmp/x=(1, 2) or y\"", odd));
    CHECK(matches("file.path = \"/tmp/x=(1, 2) or y\" and user.id = 1000", odd));
    CHECK(matches("file.path startswith \"/tmp/x=(\"", odd));
    Event quote = file_event();
    quote.mutable_file()->set_path("/tmp/say \"hi\"");
    CHECK(matches(R"(file.path = "/tmp/say \"hi\"")", quote));
    CHECK(matches(R"(file.path = '/tmp/say "hi"')", quote));
}

TEST_CASE("rules: a list field holds if any element does; != if no element is equal", "[rules]") {
    Event ev = file_event();  // event.type [change, creation], tags [audit-key, second], args [touch, -m, ...]
    CHECK(matches("event.type = creation", ev));
    CHECK(matches("event.type = change", ev));
    CHECK_FALSE(matches("event.type = deletion", ev));
    CHECK(matches("event.type in (deletion, creation)", ev));
    CHECK(matches("event.type != deletion", ev));
    CHECK_FALSE(matches("event.type != creation", ev));  // "change" differs, but one element is equal
    CHECK(matches("not event.type = deletion", ev));
    CHECK(matches("event.category = file", ev));

    CHECK(matches("tags = second", ev));
    CHECK(matches("tags in (nope, audit-key)", ev));
    CHECK_FALSE(matches("tags != audit-key", ev));
    CHECK(matches("tags != nope", ev));
    CHECK(matches("tags startswith audit", ev));

    CHECK(matches("process.args = -m", ev));
    CHECK(matches("process.args startswith -", ev));
    CHECK(matches("process.args endswith .txt", ev));
    CHECK(matches("process.args contains file", ev));
    CHECK(matches("process.args glob \"*a file*\"", ev));
    CHECK_FALSE(matches("process.args = rm", ev));
    CHECK_FALSE(matches("process.args != touch", ev));
    CHECK(matches("process.args != rm", ev));
    // Two different equals on a list field can both hold (not a contradiction).
    CHECK(matches("event.type = creation and event.type = change", ev));
}

TEST_CASE("rules: a field the event does not have makes every comparison false; not makes it true", "[rules]") {
    Event ev = login_event();  // no process, no file, no tags, no user.id
    CHECK_FALSE(matches("file.path = /x", ev));
    CHECK_FALSE(matches("file.path != /x", ev));
    CHECK(matches("not file.path = /x", ev));
    CHECK(matches("not file.path != /x", ev));
    CHECK_FALSE(matches("file.path startswith /", ev));
    CHECK_FALSE(matches("file.path in (/x, /y)", ev));
    CHECK_FALSE(matches("file.mode < 01000", ev));
    CHECK_FALSE(matches("file.mode != 5", ev));
    CHECK(matches("not file.mode >= 0", ev));
    CHECK_FALSE(matches("user.id >= 0", ev));
    CHECK_FALSE(matches("user.id != 5", ev));
    CHECK_FALSE(matches("process.args contains x", ev));
    CHECK_FALSE(matches("process.args != x", ev));
    CHECK_FALSE(matches("tags != x", ev));
    CHECK(matches("not tags = x", ev));
    CHECK_FALSE(matches("process.parent.name = sshd", ev));
    CHECK_FALSE(matches("auditd.data.nope = x", ev));
    CHECK_FALSE(matches("auditd.data.nope != x", ev));
    CHECK(matches("not auditd.data.nope = x", ev));
    // ...while the fields it has compare as usual.
    CHECK(matches("user.name = alice and not file.path startswith /etc", ev));
}

TEST_CASE("rules: auditd.data.KEY names any raw audit field", "[rules]") {
    Event ev = login_event("bob");
    CHECK(matches("auditd.data.acct = bob", ev));
    CHECK(matches("auditd.data.terminal in (tty1, ssh)", ev));
    CHECK(matches("auditd.data.acct startswith b", ev));
    CHECK_FALSE(matches("auditd.data.acct = alice", ev));
    CHECK(matches("auditd.data.acct != alice", ev));
    CHECK(matches("auditd.message_type = user_auth", ev));
}

TEST_CASE("rules: not binds tightest, then and, then or; parentheses group", "[rules]") {
    Event ev = file_event();
    // T: user.name = alice, event.action = created-file; F: user.id = 5, file.path = /nope
    CHECK(matches("user.name = alice or user.id = 5 and file.path = /nope", ev));          // T or (F and F)
    CHECK(matches("user.id = 5 and file.path = /nope or user.name = alice", ev));          // (F and F) or T
    CHECK_FALSE(matches("(user.name = alice or user.id = 5) and file.path = /nope", ev));  // (T or F) and F
    CHECK_FALSE(matches("user.id = 5 and (file.path = /nope or user.name = alice)", ev));  // F and (F or T)
    CHECK_FALSE(matches("not user.name = alice and user.id = 5", ev));                     // (not T) and F
    CHECK(matches("not (user.name = alice and user.id = 5)", ev));
    CHECK(matches("not user.id = 5 or user.name = alice", ev));                            // (not F) or T
    CHECK_FALSE(matches("not (user.id = 5 or user.name = alice)", ev));
    CHECK(matches("not not user.name = alice", ev));
    CHECK(matches("((user.name = alice))", ev));
    CHECK(matches("user.name = alice and event.action = created-file and not user.id = 5", ev));
    CHECK_FALSE(matches("user.name = alice and event.action = created-file and user.id = 5", ev));
    CHECK(matches("user.id = 5 or file.path = /nope or event.action = created-file", ev));
}

TEST_CASE("rules: conditions may span lines (folded and literal YAML)", "[rules]") {
    Event ev = file_event();
    auto set = load("- rule: r\n  description: d\n  condition: >\n    user.name = alice\n    and\n    file.name = a.txt\n"
                    "  actions: [tag hit]\n");
    Engine engine(set);
    std::vector<const Rule*> hits;
    REQUIRE(engine.apply(ev, hits));
    CHECK(ev.rule().id() == "r");
    CHECK(matches("user.name = alice\n    and file.name = a.txt", file_event()));
}

TEST_CASE("rules: lists expand in value lists, may name earlier lists; quoted names do not expand", "[rules]") {
    const std::string lists = R"(- list: admins
  items: [root, alice]
- list: people
  items: [admins, bob, "admins"]
- list: tmp_dirs
  items: [/tmp/, /var/tmp/]
- list: modes
  items: [0600, 0644]
)";
    Event ev = file_event();
    CHECK(matches("user.name in (admins)", ev, lists));
    CHECK(matches("user.name in (people)", ev, lists));  // through admins
    CHECK(matches("user.name in (nobody, admins, carol)", ev, lists));
    CHECK_FALSE(matches("user.name in (\"admins\")", ev, lists));
    CHECK(matches("file.path startswith (tmp_dirs)", ev, lists));
    CHECK(matches("file.mode in (modes)", ev, lists));  // list items read as numbers
    Event bob = file_event();
    bob.mutable_user()->set_name("bob");
    CHECK(matches("user.name in (people)", bob, lists));
    CHECK_FALSE(matches("user.name in (admins)", bob, lists));
    // The quoted item is the word itself, not the list.
    Event literal = file_event();
    literal.mutable_user()->set_name("admins");
    CHECK(matches("user.name in (\"admins\")", literal, lists));
    CHECK(matches("user.name in (people)", literal, lists));
    CHECK_FALSE(matches("user.name in (admins)", literal, lists));
    // Outside parentheses a list's name is just a word.
    CHECK(matches("user.name = admins", literal, lists));
}

TEST_CASE("rules: macros are named conditions; they nest and use lists", "[rules]") {
    const std::string macros = R"(- macro: by_alice
  condition: user.name = alice
- macro: alice_wrote
  condition: by_alice and event.type in (change, deletion)
- list: editors
  items: [/usr/bin/vi, /usr/bin/touch]
- macro: edited
  condition: process.executable in (editors)
)";
    Event ev = file_event();
    CHECK(matches("by_alice", ev, macros));
    CHECK(matches("alice_wrote", ev, macros));
    CHECK(matches("alice_wrote and edited", ev, macros));
    CHECK(matches("not by_alice or edited", ev, macros));
    CHECK_FALSE(matches("alice_wrote and not edited", ev, macros));
    Event bob = file_event();
    bob.mutable_user()->set_name("bob");
    CHECK_FALSE(matches("alice_wrote", bob, macros));
    // A rule may come before the macros it uses.
    auto set = load("- rule: r\n  description: d\n  condition: later\n  actions: [tag hit]\n"
                    "- macro: later\n  condition: user.id = 1000\n");
    Engine engine(set);
    std::vector<const Rule*> hits;
    REQUIRE(engine.apply(ev, hits));
    CHECK(ev.rule().id() == "r");
}

// --- errors, each at its file:line:column ------------------------------------

TEST_CASE("rules errors: YAML syntax, not a list, unknown item kinds", "[rules]") {
    // An unterminated flow sequence: found missing at the end of the file.
    CHECK(one_error("- rule: a\n  description: d\n  condition: user.id = 0\n  actions: [drop\n") ==
          "t.yaml:5:1: YAML: end of sequence flow not found");
    // A plain scalar continued with a key: at its ':'.
    CHECK(one_error("- rule: a\n  description: d\n   bad: indent\n") == "t.yaml:3:7: YAML: illegal map value");
    CHECK_THAT(one_error("rule: a\ndescription: d\n"), ErrorAt(1, 1, "a rule file is a list of items"));
    CHECK_THAT(one_error("just words\n"), ErrorAt(1, 1, "a rule file is a list of items"));
    auto e = errors_of(R"(- rule: a
  description: d
  condition: user.id = 0
  actions: [tag x]
- rules: b
  description: d
- just a string
- [1, 2]
)");
    INFO(joined(e));
    CHECK(e.size() == 3);
    CHECK_THAT(e, HasErrorAt(5, 3, "each item starts with rule:, macro:, list: or watch:"));
    CHECK_THAT(e, HasErrorAt(7, 3, "each item is a map starting with rule:, macro:, list: or watch:"));
    CHECK_THAT(e, HasErrorAt(8, 3, "each item is a map starting with rule:, macro:, list: or watch:"));
    // An empty file is no error.
    CHECK(errors_of("").empty());
    CHECK(errors_of("# only a comment\n").empty());
}

TEST_CASE("rules errors: unknown keys and missing description, condition, actions", "[rules]") {
    auto e = errors_of(R"(- rule: a
  description: d
  conditon: user.id = 0
  actions: [drop]
- rule: b
  condition: user.id = 0
  actions: [tag x]
  severity: 5
- rule: c
  description: d
  condition: user.id = 1
- macro: m
  condition: user.id = 2
  description: d
- list: l
  values: [a]
  items: [a]
)");
    INFO(joined(e));
    CHECK(e.size() == 7);
    CHECK_THAT(e, HasErrorAt(3, 3, "unknown key 'conditon' (expected: rule, name, description, condition, actions, enabled)"));
    CHECK_THAT(e, HasErrorAt(1, 3, "missing 'condition'"));
    CHECK_THAT(e, HasErrorAt(5, 3, "missing 'description'"));
    CHECK_THAT(e, HasErrorAt(8, 3, "unknown key 'severity'"));
    CHECK_THAT(e, HasErrorAt(9, 3, "missing 'actions'"));
    CHECK_THAT(e, HasErrorAt(14, 3, "unknown key 'description' (expected: macro, condition)"));
    CHECK_THAT(e, HasErrorAt(16, 3, "unknown key 'values' (expected: list, items)"));
}

TEST_CASE("rules errors: unknown fields (with a did-you-mean), macros, lists used as macros, fields without operator",
          "[rules]") {
    auto rule = [](const std::string& cond, const std::string& prelude = "") {
        return one_error(prelude + "- rule: a\n  description: d\n  condition: " + cond + "\n  actions: [tag x]\n");
    };
    // The condition starts at line 3, column 14.
    CHECK(rule("user.nme = root") == "t.yaml:3:14: unknown field 'user.nme' (did you mean 'user.name'?)");
    CHECK_THAT(rule("event.action = x and proces.name = sh"), ErrorAt(3, 35, "unknown field 'proces.name' (did you mean 'process.name'?)"));
    CHECK(rule("zzzzzzzzzzz = 1") == "t.yaml:3:14: unknown field 'zzzzzzzzzzz'");
    CHECK(rule("is_shell and user.id = 0") == "t.yaml:3:14: unknown macro 'is_shell'");
    const std::string list = "- list: shells\n  items: [/bin/sh]\n";  // two lines more
    CHECK_THAT(rule("user.id = 0 or shells", list), ErrorAt(5, 29, "'shells' is a list: use it as FIELD in (shells)"));
    CHECK_THAT(rule("file.path", ""), ErrorAt(3, 14, "'file.path' needs an operator and a value"));
    CHECK_THAT(rule("user.id = 0 and file.path", ""), ErrorAt(3, 30, "'file.path' needs an operator and a value"));
    CHECK_THAT(rule("auditd.data.acct or user.id = 0", ""), ErrorAt(3, 14, "'auditd.data.acct' needs an operator"));
}

TEST_CASE("rules errors: a macro that refers to itself, directly or through another", "[rules]") {
    auto e = errors_of(R"(- macro: a
  condition: b and user.id = 0
- macro: b
  condition: a
- macro: loop
  condition: user.id = 1 or loop
- rule: r
  description: d
  condition: a or loop
  actions: [tag x]
)");
    INFO(joined(e));
    CHECK(e.size() == 3);
    CHECK_THAT(e, HasErrorAt(2, 14, "macro 'b' refers to itself"));
    CHECK_THAT(e, HasErrorAt(4, 14, "macro 'a' refers to itself"));
    CHECK_THAT(e, HasErrorAt(6, 29, "macro 'loop' refers to itself"));
}

TEST_CASE("rules errors: syntax inside a condition", "[rules]") {
    auto rule = [](const std::string& cond) {
        return one_error("- rule: a\n  description: d\n  condition: " + cond + "\n  actions: [tag x]\n");
    };
    CHECK(rule("'! user.id = 0'") == "t.yaml:3:15: '!' alone is not an operator: use '!=' or 'not'");
    CHECK(rule("user.id = 0 and ! user.id = 1") == "t.yaml:3:30: '!' alone is not an operator: use '!=' or 'not'");
    CHECK(rule("user.id ! 0") == "t.yaml:3:22: '!' alone is not an operator: use '!=' or 'not'");
    CHECK(rule("user.id = 0 or (user.id !0)") == "t.yaml:3:38: '!' alone is not an operator: use '!=' or 'not'");
    // Unquoted, a leading '!' is YAML's tag: the condition would silently lose its negation.
    CHECK(rule("! user.id = 0") ==
          "t.yaml:3:14: YAML reads a leading '!' as a tag, not as a negation: use 'not', or quote the condition");
    CHECK_THAT(one_error("- macro: m\n  condition: ! user.id = 0\n- rule: a\n  description: d\n  condition: m\n"
                         "  actions: [tag x]\n"),
               ErrorAt(2, 14, "YAML reads a leading '!' as a tag"));
    CHECK(rule("user.name = \"alice") == "t.yaml:3:26: unterminated string");
    CHECK(rule("user.name in (\"alice, bob)") == "t.yaml:3:28: unterminated string");
    CHECK(rule("user.name in (a, 'b)") == "t.yaml:3:31: unterminated string");
    CHECK_THAT(rule("user.name in ()"), ErrorAt(3, 28, "expected a value, not ')'"));
    CHECK_THAT(rule("user.name in (a,)"), ErrorAt(3, 30, "expected a value, not ')'"));
    CHECK_THAT(rule("user.name in (a b)"), ErrorAt(3, 30, "expected ',' or ')' in the value list"));
    CHECK_THAT(rule("user.name in alice"), ErrorAt(3, 27, "'in' takes a list in parentheses"));
    CHECK_THAT(rule("user.name ="), ErrorAt(3, 25, "expected a value (at the end of the condition)"));
    CHECK_THAT(rule("(user.name = a"), ErrorAt(3, 28, "expected ')' to close the '(' at column 14 (at the end of the condition)"));
    CHECK_THAT(rule("user.name = a)"), ErrorAt(3, 27, "unexpected ')' after a complete condition"));
    CHECK_THAT(rule("user.name = a and"), ErrorAt(3, 31, "expected a condition (at the end of the condition)"));
    CHECK_THAT(rule("user.name = a or or user.id = 1"), ErrorAt(3, 31, "expected a field, a macro or '(', not 'or'"));
    CHECK_THAT(rule("user.id < (1, 2)"), ErrorAt(3, 24, "expected a value, not '('"));
    // An empty list expands to nothing: 'in' then has nothing to compare.
    CHECK_THAT(one_error("- list: none\n  items: []\n- rule: a\n  description: d\n  condition: user.name in (none)\n"
                         "  actions: [tag x]\n"),
               ErrorAt(5, 24, "'in' has an empty list"));
}

TEST_CASE("rules errors: positions inside folded, literal and quoted conditions", "[rules]") {
    // Folded: the third line of the condition, column 9.
    CHECK(one_error(R"(- rule: a
  description: d
  condition: >
    event.action = created-file
    and user.id = 0
    and user.nmae = root
  actions: [tag x]
)") == "t.yaml:6:9: unknown field 'user.nmae' (did you mean 'user.name'?)");
    // Literal, with a deeper indentation.
    CHECK_THAT(one_error(R"(- rule: a
  description: d
  condition: |
      user.id = 0 or
      ! user.id = 1
  actions: [tag x]
)"),
               ErrorAt(5, 7, "'!' alone"));
    // Double-quoted with escaped quotes: the column is in the file, past the escapes.
    CHECK(one_error(R"(- rule: a
  description: d
  condition: "file.path = \"/tmp/a b\" and user.nme = x"
  actions: [tag x]
)") == "t.yaml:3:44: unknown field 'user.nme' (did you mean 'user.name'?)");
    // Single-quoted.
    CHECK_THAT(one_error(R"(- rule: a
  description: d
  condition: 'user.name = "x" and user.id = root'
  actions: [tag x]
)"),
               ErrorAt(3, 45, "user.id is a number; 'root' is not"));
    // A folded condition in a rule further down the file.
    CHECK_THAT(one_error(R"(- rule: ok
  description: d
  condition: user.id = 0
  actions: [tag x]

- rule: a
  description: d
  condition: >-
    user.id = 0 and
      (file.path startswith /etc/ or
       file.path startswith /usr/)
    and user.id startswith 1
  actions: [tag y]
)"),
               ErrorAt(12, 9, "'startswith' compares strings, but user.id is a number"));
}

TEST_CASE("rules errors: types of fields, operators and values", "[rules]") {
    auto rule = [](const std::string& cond) {
        return one_error("- rule: a\n  description: d\n  condition: " + cond + "\n  actions: [tag x]\n");
    };
    CHECK(rule("user.name < 5") == "t.yaml:3:14: '<' compares numbers, but user.name is a string");
    CHECK(rule("tags >= 5") == "t.yaml:3:14: '>=' compares numbers, but tags is a list of strings");
    CHECK(rule("auditd.data.uid > 5") == "t.yaml:3:14: '>' compares numbers, but auditd.data.uid is a string");
    CHECK(rule("user.id = root") == "t.yaml:3:24: user.id is a number; 'root' is not");
    CHECK(rule("user.id = \"0\"") == "t.yaml:3:24: user.id is a number; '0' is not");
    CHECK(rule("file.mode = 0999") == "t.yaml:3:26: file.mode is a number; '0999' is not");
    CHECK(rule("user.id in (0, root, 5)") == "t.yaml:3:29: user.id is a number; 'root' is not");
    CHECK(rule("user.id startswith 1") == "t.yaml:3:14: 'startswith' compares strings, but user.id is a number");
    CHECK(rule("file.mode glob 06*") == "t.yaml:3:14: 'glob' compares strings, but file.mode is a number");
}

TEST_CASE("rules errors: bad actions", "[rules]") {
    auto e = errors_of(R"(- rule: a
  description: d
  condition: user.id = 0
  actions: [frob, severity 101, technique T12, tag]
- rule: b
  description: d
  condition: user.id = 1
  actions:
    - alert 0 within 60s
    - alert 5 per 60s
    - alert 5 within 60x
    - alert 5 within 60s by nosuch.field
    - alert 5 within 60s for user.name
    - alert 5x within 60s
    - alert 5 within 60s by
    - severity -1
    - severity high
    - technique T1234.1
- rule: c
  description: d
  condition: user.id = 2
  actions: []
- rule: d
  description: d
  condition: user.id = 3
  actions: drop
- rule: e
  description: d
  condition: user.id = 4
  actions: [drop now]
)");
    INFO(joined(e));
    CHECK(e.size() == 17);
    CHECK_THAT(e, HasErrorAt(4, 13, "unknown action 'frob' (drop, keep, tag, severity, technique, alert)"));
    CHECK_THAT(e, HasErrorAt(4, 28, "severity takes a number from 0 to 100"));
    CHECK_THAT(e, HasErrorAt(4, 43, "technique takes a MITRE ATT&CK id: T1234 or T1234.001"));
    CHECK_THAT(e, HasErrorAt(4, 51, "tag takes one key: tag KEY"));
    CHECK_THAT(e, HasErrorAt(9, 13, "alert takes a count from 1"));
    CHECK_THAT(e, HasErrorAt(10, 15, "expected 'within DURATION'"));
    CHECK_THAT(e, HasErrorAt(11, 22, "a duration is a number with s, m or h"));
    CHECK_THAT(e, HasErrorAt(12, 29, "unknown field 'nosuch.field' to group alerts by"));
    CHECK_THAT(e, HasErrorAt(13, 26, "expected 'by FIELD[, FIELD...]' after the duration"));
    CHECK_THAT(e, HasErrorAt(14, 13, "alert takes a count from 1"));
    CHECK_THAT(e, HasErrorAt(15, 26, "expected 'by FIELD[, FIELD...]' after the duration"));
    CHECK_THAT(e, HasErrorAt(16, 16, "severity takes a number from 0 to 100"));
    CHECK_THAT(e, HasErrorAt(17, 16, "severity takes a number from 0 to 100"));
    CHECK_THAT(e, HasErrorAt(18, 17, "technique takes a MITRE ATT&CK id"));
    CHECK_THAT(e, HasErrorAt(22, 12, "'actions' is a non-empty list"));
    CHECK_THAT(e, HasErrorAt(26, 12, "'actions' is a non-empty list"));
    CHECK_THAT(e, HasErrorAt(30, 18, "'drop' takes nothing"));
}

TEST_CASE("rules: good actions and alert forms", "[rules]") {
    auto set = load(R"(- rule: a
  name: Rule A
  description: d
  condition: user.id = 0
  actions: [tag one, tag two, severity 0, technique T1098.001, "alert 5 within 60s by user.name, source.ip"]
- rule: b
  description: d
  condition: user.id = 1
  actions: [severity 100, technique T1110, alert 2 within 5m]
- rule: c
  description: d
  condition: user.id = 2
  actions: [alert 1 within 1h by auditd.data.acct]
- rule: off
  description: d
  condition: user.id = 3
  enabled: false
  actions: [drop]
)");
    REQUIRE(set->rules.size() == 3);  // off is not loaded
    const Rule& a = set->rules[0];
    CHECK(a.id == "a");
    CHECK(a.name == "Rule A");
    CHECK(a.tags == std::vector<std::string>{"one", "two"});
    CHECK(a.severity == 0u);
    CHECK(a.technique == "T1098.001");
    REQUIRE(a.alert);
    CHECK(a.alert->count == 5);
    CHECK(a.alert->window_ns == 60 * kSec);
    CHECK(a.alert->by == std::vector<std::string>{"user.name", "source.ip"});
    const Rule& b = set->rules[1];
    CHECK(b.name == "b");  // the id by default
    CHECK(b.severity == 100u);
    REQUIRE(b.alert);
    CHECK(b.alert->count == 2);
    CHECK(b.alert->window_ns == 300 * kSec);
    CHECK(b.alert->by.empty());
    REQUIRE(set->rules[2].alert);
    CHECK(set->rules[2].alert->window_ns == 3600 * kSec);
    CHECK(set->rules[2].alert->by == std::vector<std::string>{"auditd.data.acct"});
}

TEST_CASE("rules errors: drop with keep, tag, severity, technique or alert", "[rules]") {
    auto rule = [](const std::string& actions) {
        return one_error("- rule: a\n  description: d\n  condition: user.id = 0\n  actions: " + actions + "\n");
    };
    CHECK(rule("[drop, keep]") == "t.yaml:4:12: a rule cannot both drop and keep");
    CHECK_THAT(rule("[drop, tag x]"), ErrorAt(4, 12, "drop cannot go with tag, severity, technique or alert"));
    CHECK_THAT(rule("[severity 5, drop]"), ErrorAt(4, 12, "drop cannot go with"));
    CHECK_THAT(rule("[drop, technique T1098]"), ErrorAt(4, 12, "drop cannot go with"));
    CHECK_THAT(rule("[drop, alert 5 within 1m]"), ErrorAt(4, 12, "drop cannot go with"));
    // keep with a tag is fine.
    CHECK(errors_of("- rule: a\n  description: d\n  condition: user.id = 0\n  actions: [keep, tag x]\n").empty());
}

TEST_CASE("rules errors: duplicate rule ids, macros and lists", "[rules]") {
    auto e = errors_of(R"(- rule: a
  description: d
  condition: user.id = 0
  actions: [tag x]
- macro: m
  condition: user.id = 1
- list: l
  items: [a]
- rule: a
  description: d
  condition: user.id = 2
  actions: [tag y]
- macro: m
  condition: user.id = 3
- list: l
  items: [b]
- rule: 'bad id'
  description: d
  condition: user.id = 4
  actions: [tag y]
)");
    INFO(joined(e));
    CHECK(e.size() == 4);
    CHECK_THAT(e, HasErrorAt(9, 9, "rule 'a' is already defined at t.yaml:1"));
    CHECK_THAT(e, HasErrorAt(13, 10, "macro 'm' is defined twice"));
    CHECK_THAT(e, HasErrorAt(15, 9, "list 'l' is defined twice"));
    CHECK_THAT(e, HasErrorAt(17, 9, "rule id 'bad id': use letters, digits and _ . : -"));
}

TEST_CASE("rules errors: conditions that can never match", "[rules]") {
    auto rule = [](const std::string& cond) {
        return errors_of("- rule: a\n  description: d\n  condition: " + cond + "\n  actions: [tag x]\n");
    };
    auto never = [&](const std::string& cond, int col, const std::string& why) {
        auto e = rule(cond);
        INFO(cond << ":" << joined(e));
        REQUIRE(e.size() == 1);
        CHECK_THAT(e[0], ErrorAt(3, col, "rule 'a' can never match: " + why));
    };
    never("user.id > 5 and user.id < 3", 14, "user.id cannot be both >= 6 and <= 2");
    never("user.id >= 5 and user.id <= 4", 14, "user.id cannot be both >= 5 and <= 4");
    never("file.mode > 0700 and file.mode < 0701", 14, "file.mode cannot be both");
    never("user.id = 7 and user.id > 10", 14, "user.id cannot have two different values");
    never("not user.id < 10 and user.id < 5", 14, "user.id cannot be both >= 10 and <= 4");
    never("user.name = alice and user.name = bob", 14, "user.name cannot have two different values");
    never("user.name in (a, b) and user.name in (c, d)", 14, "user.name cannot have two different values");
    never("user.name = alice and user.name != alice", 14, "user.name cannot have two different values at once, or a value it is told not to have");
    never("user.name = alice and not user.name in (alice, bob)", 14, "user.name cannot");
}

TEST_CASE("rules errors: can-never-match looks at every alternative of an or", "[rules]") {
    auto ok = [](const std::string& cond) {
        auto e = errors_of("- rule: a\n  description: d\n  condition: " + cond + "\n  actions: [tag x]\n");
        INFO(cond << ":" << joined(e));
        CHECK(e.empty());
    };
    ok("(user.id > 5 and user.id < 3) or user.name = root");
    ok("user.name = root or (user.name = a and user.name = b)");
    ok("user.id > 5 and user.id < 7");
    ok("user.id = 6 and user.id > 5");
    ok("user.name in (a, b) and user.name in (b, c)");
    ok("user.name = a and user.effective.name = b");
    ok("event.type = creation and event.type = deletion");  // a list field: both can hold
    ok("user.id = 0 and user.id = 00");                     // the same number
    // Every alternative contradictory: reported once, at the condition.
    auto e = errors_of(
        "- rule: a\n  description: d\n  condition: (user.id > 5 and user.id < 3) or (user.name = a and user.name != a)\n"
        "  actions: [tag x]\n");
    INFO(joined(e));
    REQUIRE(e.size() == 1);
    CHECK_THAT(e[0], ErrorAt(3, 15, "rule 'a' can never match: user.id cannot be both >= 6 and <= 2"));
}

TEST_CASE("rules errors: a rule whose events a drop rule all removes can never act", "[rules]") {
    const std::string rules = R"(- rule: quiet
  description: d
  condition: process.executable = /usr/bin/dpkg or user.id = 33
  actions: [drop]
- rule: loud
  description: d
  condition: process.executable = /usr/bin/dpkg and file.path startswith /etc/
  actions: [tag x, severity 50]
- rule: www
  description: d
  condition: user.id = 33 and event.action = created-file
  actions: ["alert 5 within 1m"]
- rule: fine
  description: d
  condition: file.path startswith /etc/
  actions: [tag y]
)";
    auto e = errors_of(rules);
    INFO(joined(e));
    CHECK(e.size() == 2);
    CHECK_THAT(e, HasErrorAt(5, 9, "rule 'loud' can never act: every event it matches is dropped by rule 'quiet' (t.yaml:1)"));
    CHECK_THAT(e, HasErrorAt(9, 9, "rule 'www' can never act"));
    // With a keep rule anywhere, a drop may not happen: no error.
    CHECK(errors_of(rules + "- rule: k\n  description: d\n  condition: user.name = root\n  actions: [keep]\n").empty());
}

TEST_CASE("rules errors: every error of every file and rule is reported at once", "[rules]") {
    char tmpl[] = "/tmp/ktrail-rules-unit-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    const std::string dir = tmpl;
    struct Cleanup {
        std::string d;
        ~Cleanup() { std::filesystem::remove_all(d); }
    } cleanup{dir};
    std::ofstream(dir + "/a.yaml") << R"(- rule: a1
  description: d
  condition: user.nme = x
  actions: [tag x]
- rule: a2
  description: d
  condition: user.id = root
  actions: [severity 200]
- macro: shared
  condition: user.id = 0 and file.pth = /x
)";
    std::ofstream(dir + "/b.yml") << R"(- rule: b1
  description: d
  condition: shared or user.id = 1
  actions: [tag y]
- rule: a1
  description: d
  condition: nosuch
  actions: [tag y]
)";
    std::ofstream(dir + "/c.yaml") << "- rule: c1\n  description: [oops\n";
    std::ofstream(dir + "/ignored.txt") << "not a rule file\n";
    auto r = load_rules({dir, dir + "/missing.yaml"});
    std::vector<std::string> e;
    for (const auto& d : r.errors) e.push_back(d.to_string());
    INFO(joined(e));
    CHECK(r.set == nullptr);
    CHECK(e.size() == 8);
    CHECK_THAT(e, HasErrorAt(3, 14, "unknown field 'user.nme'", dir + "/a.yaml"));
    CHECK_THAT(e, HasErrorAt(7, 24, "user.id is a number; 'root' is not", dir + "/a.yaml"));
    CHECK_THAT(e, HasErrorAt(8, 22, "severity takes a number", dir + "/a.yaml"));
    CHECK_THAT(e, HasErrorAt(10, 30, "unknown field 'file.pth'", dir + "/a.yaml"));
    CHECK_THAT(e, HasErrorAt(5, 9, "rule 'a1' is already defined at " + dir + "/a.yaml:1", dir + "/b.yml"));
    CHECK_THAT(e, HasErrorAt(7, 14, "unknown macro 'nosuch'", dir + "/b.yml"));
    CHECK_THAT(e, HasErrorAt(3, 1, "YAML: end of sequence flow not found", dir + "/c.yaml"));
    CHECK_THAT(e, HasErrorAt(1, 1, "cannot read the file", dir + "/missing.yaml"));
    // The error in macro 'shared' is reported where it is written, not again
    // at the rule that uses it in another file.
    for (const auto& s : e) CHECK_FALSE((s.starts_with(dir + "/b.yml") && s.find("file.pth") != std::string::npos));
}

// --- the engine --------------------------------------------------------------

TEST_CASE("rules engine: drop, and keep overriding drop", "[rules]") {
    Engine engine(load(R"(- rule: no-tmp
  description: d
  condition: file.path startswith /tmp/
  actions: [drop]
- rule: keep-alice-txt
  description: d
  condition: user.name = alice and file.name endswith .txt
  actions: [keep, tag kept]
- rule: tag-all
  description: d
  condition: event.kind = event
  actions: [tag seen]
)"));
    std::vector<const Rule*> hits;
    Event kept = file_event();
    CHECK(engine.apply(kept, hits));
    Event dropped = file_event();
    dropped.mutable_user()->set_name("bob");
    CHECK_FALSE(engine.apply(dropped, hits));
    Event other = file_event();
    other.mutable_file()->set_path("/etc/x");
    other.mutable_user()->set_name("bob");
    CHECK(engine.apply(other, hits));
    CHECK(engine.stats().dropped == 1);
    CHECK(engine.stats().evaluated == 3);
    // A kept event gets the keep rule's other actions, and the other rules'.
    CHECK(std::vector<std::string>(kept.tags().begin(), kept.tags().end()) ==
          std::vector<std::string>{"audit-key", "second", "kept", "seen"});
    CHECK(kept.rule().id() == "keep-alice-txt");
    CHECK(std::vector<std::string>(other.tags().begin(), other.tags().end()) ==
          std::vector<std::string>{"audit-key", "second", "seen"});
    CHECK(other.rule().id() == "tag-all");
}

TEST_CASE("rules engine: tags accumulate without duplicates; severity is the highest, naming its rule", "[rules]") {
    Engine engine(load(R"(- rule: first
  name: First rule
  description: d
  condition: user.name = alice
  actions: [tag a, tag audit-key]
- rule: low
  name: Low rule
  description: d
  condition: event.action = created-file
  actions: [tag b, severity 30, technique T1000]
- rule: high
  name: High rule
  description: d
  condition: file.name = a.txt
  actions: [tag a, tag c, severity 70, technique T2000.001]
- rule: middle
  description: d
  condition: user.id = 1000
  actions: [tag c, severity 50]
- rule: other
  description: d
  condition: user.id = 5
  actions: [tag z, severity 99, technique T3000]
)"));
    Event ev = file_event();  // tags [audit-key, second] already
    std::vector<const Rule*> hits;
    REQUIRE(engine.apply(ev, hits));
    CHECK(std::vector<std::string>(ev.tags().begin(), ev.tags().end()) ==
          std::vector<std::string>{"audit-key", "second", "a", "b", "c"});
    CHECK(ev.severity() == 70);
    CHECK(ev.rule().id() == "high");
    CHECK(ev.rule().name() == "High rule");
    CHECK(ev.technique_id() == "T1000");  // the first matching rule's
    CHECK(hits.empty());

    // No severity anywhere: the first matching rule names the event.
    Event login = login_event();
    REQUIRE(engine.apply(login, hits));
    CHECK(login.rule().id() == "first");
    CHECK(login.rule().name() == "First rule");
    CHECK_FALSE(login.has_severity());
    CHECK(login.technique_id().empty());
    CHECK(std::vector<std::string>(login.tags().begin(), login.tags().end()) ==
          std::vector<std::string>{"a", "audit-key"});
}

TEST_CASE("rules engine: an event that matches nothing is untouched", "[rules]") {
    Engine engine(load(R"(- rule: r
  description: d
  condition: user.name = nobody-here
  actions: [tag x, severity 90, technique T1098, alert 1 within 1m]
- rule: q
  description: d
  condition: file.path startswith /nowhere/
  actions: [drop]
)"));
    for (Event ev : {file_event(), login_event()}) {
        const std::string before = ev.SerializeAsString();
        std::vector<const Rule*> hits;
        CHECK(engine.apply(ev, hits));
        CHECK(hits.empty());
        CHECK(ev.SerializeAsString() == before);
        CHECK_FALSE(ev.has_rule());
        CHECK_FALSE(ev.has_severity());
    }
}

namespace {

const std::string kBruteForce = R"(- rule: brute
  name: Brute force
  description: Five failed logins for one account within a minute
  condition: event.action = authenticated and event.outcome = failure
  actions: ["alert 5 within 60s by user.name", severity 60, technique T1110.001, tag brute]
)";

// Applies and counts one event as the agent does; the alerts it raised.
std::vector<Event> feed(Engine& engine, Event ev) {
    std::vector<const Rule*> hits;
    REQUIRE(engine.apply(ev, hits));
    std::vector<Event> alerts;
    engine.count(ev, hits, alerts);
    return alerts;
}

std::vector<std::string> ids(const Event& alert) {
    return {alert.ktrail().alert().event_ids().begin(), alert.ktrail().alert().event_ids().end()};
}

}  // namespace

TEST_CASE("rules alerts: the 5th event within the window raises one alert naming the 5, then the count restarts",
          "[rules]") {
    Engine engine(load(kBruteForce));
    for (int i = 1; i <= 4; ++i) CHECK(feed(engine, login_event("alice", 1000 + i, i)).empty());
    auto alerts = feed(engine, login_event("alice", 1005, 5));
    REQUIRE(alerts.size() == 1);
    const Event& a = alerts[0];
    CHECK(a.kind() == "alert");
    CHECK(a.rule().id() == "brute");
    CHECK(a.rule().name() == "Brute force");
    CHECK(a.severity() == 60);
    CHECK(a.technique_id() == "T1110.001");
    CHECK(a.time_ns() == 1005 * kSec);
    CHECK(a.user().name() == "alice");
    CHECK(std::vector<std::string>(a.tags().begin(), a.tags().end()) == std::vector<std::string>{"brute"});
    CHECK(a.ktrail().alert().count() == 5);
    CHECK(a.ktrail().alert().window_ns() == static_cast<uint64_t>(60 * kSec));
    CHECK(ids(a) == std::vector<std::string>{"agent-x:1", "agent-x:2", "agent-x:3", "agent-x:4", "agent-x:5"});
    REQUIRE(a.ktrail().alert().group().size() == 1);
    CHECK(a.ktrail().alert().group().at("user.name") == "alice");
    CHECK(engine.stats().alerts == 1);

    // Starts again: four more are not enough, the fifth is.
    for (int i = 6; i <= 9; ++i) CHECK(feed(engine, login_event("alice", 1000 + i, i)).empty());
    alerts = feed(engine, login_event("alice", 1010, 10));
    REQUIRE(alerts.size() == 1);
    CHECK(ids(alerts[0]) == std::vector<std::string>{"agent-x:6", "agent-x:7", "agent-x:8", "agent-x:9", "agent-x:10"});
    // A success does not count.
    Event ok = login_event("alice", 1011, 11);
    ok.set_outcome("success");
    CHECK(feed(engine, ok).empty());
    CHECK(engine.stats().alerts == 2);
}

TEST_CASE("rules alerts: events older than the window fall out", "[rules]") {
    Engine engine(load(kBruteForce));
    CHECK(feed(engine, login_event("alice", 0, 1)).empty());
    CHECK(feed(engine, login_event("alice", 10, 2)).empty());
    CHECK(feed(engine, login_event("alice", 20, 3)).empty());
    CHECK(feed(engine, login_event("alice", 30, 4)).empty());
    // At 61 s the first (at 0 s) is out of the 60 s window: 4 remain.
    CHECK(feed(engine, login_event("alice", 61, 5)).empty());
    auto alerts = feed(engine, login_event("alice", 62, 6));
    REQUIRE(alerts.size() == 1);
    CHECK(ids(alerts[0]) == std::vector<std::string>{"agent-x:2", "agent-x:3", "agent-x:4", "agent-x:5", "agent-x:6"});
    // Five spread over more than a minute: none.
    Engine slow(load(kBruteForce));
    for (int i = 0; i < 10; ++i) CHECK(feed(slow, login_event("bob", i * 20, i)).empty());
}

TEST_CASE("rules alerts: groups are counted apart", "[rules]") {
    Engine engine(load(kBruteForce));
    int id = 0;
    for (int i = 0; i < 4; ++i) {
        CHECK(feed(engine, login_event("alice", 100 + i, ++id)).empty());
        CHECK(feed(engine, login_event("bob", 100 + i, ++id)).empty());
    }
    auto alerts = feed(engine, login_event("bob", 105, ++id));
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0].ktrail().alert().group().at("user.name") == "bob");
    CHECK(ids(alerts[0]) == std::vector<std::string>{"agent-x:2", "agent-x:4", "agent-x:6", "agent-x:8", "agent-x:9"});
    alerts = feed(engine, login_event("alice", 106, ++id));
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0].ktrail().alert().group().at("user.name") == "alice");
    CHECK(ids(alerts[0]) == std::vector<std::string>{"agent-x:1", "agent-x:3", "agent-x:5", "agent-x:7", "agent-x:10"});
    CHECK(engine.alert_groups() == 2);
}

TEST_CASE("rules alerts: a group by two fields", "[rules]") {
    Engine engine(load(R"(- rule: spray
  description: d
  condition: event.action = authenticated and event.outcome = failure
  actions: ["alert 3 within 1m by user.name, source.ip"]
)"));
    int id = 0;
    // alice from two addresses, bob from the first: three groups.
    for (int i = 0; i < 2; ++i) {
        CHECK(feed(engine, login_event("alice", 10 + i, ++id, "192.0.2.1")).empty());
        CHECK(feed(engine, login_event("alice", 10 + i, ++id, "192.0.2.2")).empty());
        CHECK(feed(engine, login_event("bob", 10 + i, ++id, "192.0.2.1")).empty());
    }
    CHECK(engine.alert_groups() == 3);
    auto alerts = feed(engine, login_event("alice", 20, ++id, "192.0.2.2"));
    REQUIRE(alerts.size() == 1);
    const auto& group = alerts[0].ktrail().alert().group();
    CHECK(group.size() == 2);
    CHECK(group.at("user.name") == "alice");
    CHECK(group.at("source.ip") == "192.0.2.2");
    CHECK(ids(alerts[0]) == std::vector<std::string>{"agent-x:2", "agent-x:5", "agent-x:7"});
    CHECK(alerts[0].severity() == 0);
    CHECK_FALSE(alerts[0].has_severity());
}

TEST_CASE("rules alerts: without 'by' every matching event counts together", "[rules]") {
    Engine engine(load(R"(- rule: any
  description: d
  condition: event.outcome = failure
  actions: [alert 2 within 10s]
)"));
    CHECK(feed(engine, login_event("alice", 1, 1)).empty());
    auto alerts = feed(engine, login_event("bob", 2, 2));
    REQUIRE(alerts.size() == 1);
    CHECK(ids(alerts[0]) == std::vector<std::string>{"agent-x:1", "agent-x:2"});
    CHECK(alerts[0].ktrail().alert().group().empty());
}

// --- kernel drop planning ----------------------------------------------------

namespace {
const ktrail::rules::KernelDropPlan::Decision* decision(const ktrail::rules::KernelDropPlan& p, const std::string& rule) {
    for (const auto& d : p.decisions)
        if (d.rule == rule) return &d;
    return nullptr;
}
std::string drop_rule(const std::string& id, const std::string& cond) {
    return "- rule: " + id + "\n  description: d\n  condition: " + cond + "\n  actions: [drop]\n";
}
}  // namespace

TEST_CASE("rules: which drops the kernel makes", "[rules]") {
    auto set = load(drop_rule("paths", "file.path startswith /var/") +
                    drop_rule("more-paths", "file.path startswith (/etc/, /usr/sh) or file.path startswith /tmp/") +
                    drop_rule("exes", "process.executable in (/usr/bin/dpkg, /usr/bin/apt)") +
                    drop_rule("exe", "process.executable = /usr/sbin/cron") +
                    drop_rule("uids", "user.id in (33, 34) or user.name = root") +
                    drop_rule("syscalls", "ktrail.syscall in (chmod, fchmodat) or ktrail.syscall = chown") +
                    drop_rule("mixed", "file.path startswith /a/ or user.id = 5") +
                    drop_rule("and", "file.path startswith /b/ and user.id = 5") +
                    drop_rule("not", "not file.path startswith /c/") +
                    drop_rule("other-field", "file.name = core") +
                    drop_rule("other-op", "file.path = /d/x") +
                    drop_rule("exe-prefix", "process.executable startswith /opt/") +
                    drop_rule("uid-range", "user.id > 60000") +
                    drop_rule("no-account", "user.name = no-such-account-here") +
                    drop_rule("relative", "process.executable = dpkg") +
                    drop_rule("no-dir", "file.path startswith /no-such-dir-ktrail/") +
                    drop_rule("long", "file.path startswith /" + std::string(300, 'x')) +
                    drop_rule("relative-path", "file.path startswith tmp/") +
                    "- rule: tagged\n  description: d\n  condition: user.id = 7\n  actions: [tag t]\n");
    auto plan = plan_kernel_drops(*set);
    CHECK(plan.decisions.size() == 18);  // one per drop rule
    // A '/'-ended prefix of an existing directory, or any prefix of bytes.
    CHECK(plan.paths == std::vector<std::string>{"/var/", "/etc/", "/usr/sh", "/tmp/"});
    CHECK(plan.executables == std::vector<std::string>{"/usr/bin/dpkg", "/usr/bin/apt", "/usr/sbin/cron"});
    CHECK(plan.uids == std::vector<uint32_t>{33, 34, 0});
    CHECK(plan.syscalls == std::vector<std::string>{"chmod", "fchmodat", "chown"});
    for (const char* pushed : {"paths", "more-paths", "exes", "exe", "uids", "syscalls"}) {
        INFO(pushed);
        auto* d = decision(plan, pushed);
        REQUIRE(d);
        CHECK(d->pushed);
        CHECK(d->what.starts_with("in the kernel: "));
    }
    CHECK(decision(plan, "paths")->what == "in the kernel: paths /var/");
    CHECK(decision(plan, "uids")->what == "in the kernel: uids 33, 34, 0");
    for (const char* kept : {"mixed", "and", "not", "other-field", "other-op", "exe-prefix", "uid-range", "no-account",
                             "relative", "no-dir", "long", "relative-path"}) {
        INFO(kept);
        auto* d = decision(plan, kept);
        REQUIRE(d);
        CHECK_FALSE(d->pushed);
        CHECK(d->what.starts_with("in userspace: "));
    }
    CHECK(decision(plan, "no-account")->what == "in userspace: a user name has no account here");
    CHECK(decision(plan, "relative")->what == "in userspace: an executable is not an absolute path");
    // The kernel would also drop /no-such-dir-ktrail2/...: not pushed.
    CHECK(decision(plan, "no-dir")->what ==
          "in userspace: a prefix ending in '/' names no directory yet (the kernel would match more)");
    // The kernel's filter would refuse it, and with it the whole set.
    CHECK(decision(plan, "long")->what == "in userspace: a prefix is longer than the kernel's path filter takes (255 bytes)");
    CHECK(decision(plan, "tagged") == nullptr);
}

TEST_CASE("rules: with a keep rule every drop stays in userspace", "[rules]") {
    auto set = load(drop_rule("paths", "file.path startswith /var/cache/") +
                    drop_rule("uids", "user.id = 33") +
                    "- rule: k\n  description: d\n  condition: file.name = important\n  actions: [keep]\n");
    auto plan = plan_kernel_drops(*set);
    CHECK(plan.paths.empty());
    CHECK(plan.uids.empty());
    REQUIRE(plan.decisions.size() == 2);
    for (const auto& d : plan.decisions) {
        CHECK_FALSE(d.pushed);
        CHECK(d.what == "in userspace: keep rules exist, and the kernel cannot tell what they would keep");
    }
}

TEST_CASE("rules: a reload carries the counts of rules that keep their id", "[rules]") {
    auto rule = [](const std::string& id, const std::string& cond) {
        return "- rule: " + id + "\n  description: d\n  condition: " + cond + "\n  actions: [tag " + id + "]\n";
    };
    Engine before(load(rule("kept", "event.action = created-file") + rule("gone", "event.module = bpf")));
    for (int i = 0; i < 3; ++i) {
        Event ev = file_event();
        std::vector<const Rule*> hits;
        REQUIRE(before.apply(ev, hits));
    }
    Engine after(load(rule("new", "event.module = bpf") + rule("kept", "event.action = created-file")));
    after.carry_counts(before);
    Event ev = file_event();
    std::vector<const Rule*> hits;
    REQUIRE(after.apply(ev, hits));
    const auto& counts = after.rule_counts();
    REQUIRE(counts.size() == 2);
    CHECK(counts[0].matched == 1);  // new: from zero
    CHECK(counts[1].matched == 4);  // kept: 3 before the reload, 1 after
    CHECK(counts[1].evaluated == 4);
    CHECK(after.stats().evaluated == before.stats().evaluated + 1);
}
