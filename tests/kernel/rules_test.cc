// ktrail rules on the real kernel: a drop rule's path prefix, planned by
// plan_kernel_drops and applied with apply_drops as ktraild does, stops the
// quiet file's record in the kernel (it is never produced) while the loud
// file's arrives; the engine drops the same event in userspace as well; and
// the kernel never drops what the rule would keep.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "capture.h"
#include "rules/analysis.h"
#include "rules/engine.h"
#include "rules/rule_set.h"

using namespace ktrail::test;
using ktrail::rules::Engine;
using ktrail::rules::load_rules_text;
using ktrail::rules::plan_kernel_drops;

namespace {

std::shared_ptr<const ktrail::rules::RuleSet> load(const std::string& text) {
    auto r = load_rules_text(text, "kernel.yaml");
    std::string errors;
    for (const auto& e : r.errors) errors += "\n  " + e.to_string();
    INFO(text << errors);
    REQUIRE(r.set);
    return r.set;
}

// The drops of a rule set applied to the kernel, as ktraild applies them.
void apply(Capture& cap, const ktrail::rules::RuleSet& set) {
    auto plan = plan_kernel_drops(set);
    auto ok = cap.source().apply_drops({plan.paths, plan.syscalls, plan.executables, plan.uids});
    INFO((ok ? std::string() : ok.error().message));
    REQUIRE(ok);
}

// How much the produced counter (all kinds) grows while a child, already
// forked and not yet exited, runs `action` and nothing else.
uint64_t produced_around(Capture& cap, const std::function<bool()>& action) {
    int go[2], done[2];
    REQUIRE(pipe(go) == 0);
    REQUIRE(pipe(done) == 0);
    pid_t pid = cap.spawn([&] {
        close(go[1]);
        close(done[0]);
        char c;
        if (read(go[0], &c, 1) != 1) return 95;
        bool ok = action();
        if (write(done[1], "x", 1) != 1) return 96;
        return ok ? 0 : 98;
    });
    close(go[0]);
    close(done[1]);
    uint64_t before = cap.source().counters().total(KT_CNT_PRODUCED);
    REQUIRE(write(go[1], "x", 1) == 1);
    char c;
    REQUIRE(read(done[0], &c, 1) == 1);
    uint64_t after = cap.source().counters().total(KT_CNT_PRODUCED);
    close(go[1]);
    close(done[0]);
    cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    return after - before;
}

std::string drop_rule(const std::string& prefix) {
    return "- rule: quiet\n  description: d\n  condition: file.path startswith " + prefix + "\n  actions: [drop]\n";
}

}  // namespace

TEST_CASE("a drop rule's path prefix is stopped in the kernel; the engine drops it too", "[rules]") {
    TempDir dir;
    for (const char* d : {"quiet", "loud"}) std::filesystem::create_directory(dir / d);
    auto set = load(drop_rule(dir.path + "/quiet/"));
    auto plan = plan_kernel_drops(*set);
    REQUIRE(plan.decisions.size() == 1);
    CHECK(plan.decisions[0].pushed);
    CHECK(plan.decisions[0].what == "in the kernel: paths " + dir.path + "/quiet/");
    CHECK(plan.paths == std::vector<std::string>{dir.path + "/quiet/"});

    Capture cap;
    apply(cap, *set);
    uint64_t filtered_before = cap.source().counters().by_kind[KT_KIND_SYSCALL][KT_CNT_FILTERED];

    // Around the quiet file's creation the produced counter does not grow
    // (other processes on the host may add records meanwhile: the least
    // growth of some tries counts); around the loud file's it does, every time.
    uint64_t quiet_least = UINT64_MAX, loud_least = UINT64_MAX;
    int tries = 0;
    for (; tries < 50 && quiet_least != 0; ++tries) {
        std::string name = std::to_string(tries);
        quiet_least = std::min(quiet_least, produced_around(cap, [&] { return create_file(dir / ("quiet/" + name)); }));
        loud_least = std::min(loud_least, produced_around(cap, [&] { return create_file(dir / ("loud/" + name)); }));
    }
    INFO(tries << " tries");
    CHECK(quiet_least == 0);
    CHECK(loud_least >= 1);
    CHECK(cap.source().counters().by_kind[KT_KIND_SYSCALL][KT_CNT_FILTERED] - filtered_before >= static_cast<uint64_t>(tries));

    // A child that only creates the quiet file: its only records are its
    // process records; the same child for the loud file has its creation.
    pid_t quiet = cap.spawn([&] { return create_file(dir / "quiet/only") ? 0 : 98; });
    auto quiet_events = cap.events_of(quiet);
    REQUIRE(cap.exit_status(quiet) == 0);
    REQUIRE(std::filesystem::exists(dir / "quiet/only"));
    INFO("quiet child:\n" << describe(quiet_events));
    for (const auto& e : quiet_events) CHECK(is_process_record(e));
    pid_t loud = cap.spawn([&] { return create_file(dir / "loud/only") ? 0 : 98; });
    auto loud_events = cap.events_of(loud);
    REQUIRE(cap.exit_status(loud) == 0);
    const auto& loud_created = one(loud_events, "created-file", dir / "loud/only");
    CHECK(loud_events.size() == quiet_events.size() + 1);

    // The engine keeps the loud event and drops one for the quiet path.
    Engine engine(set);
    std::vector<const ktrail::rules::Rule*> hits;
    ktrail::v1::Event kept = loud_created;
    CHECK(engine.apply(kept, hits));
    ktrail::v1::Event moved = loud_created;
    moved.mutable_file()->set_path(dir / "quiet/only");
    CHECK_FALSE(engine.apply(moved, hits));

    // Every record produced was delivered: the quiet ones were never produced.
    cap.stop_and_drain();
    auto k = cap.source().counters();
    CHECK(k.total(KT_CNT_DROPPED) == 0);
    CHECK(k.total(KT_CNT_PRODUCED) == cap.delivered());
    CHECK(cap.malformed() == 0);
    for (const auto& e : cap.all()) CHECK_FALSE(e.file().path().starts_with(dir / "quiet/"));
}

TEST_CASE("with the kernel drop lifted, the engine still drops the real event (defense in depth)", "[rules]") {
    TempDir dir;
    for (const char* d : {"quiet", "loud"}) std::filesystem::create_directory(dir / d);
    auto set = load(drop_rule(dir.path + "/quiet/"));
    Capture cap;
    apply(cap, *set);
    REQUIRE(cap.source().apply_drops({}));  // as if the kernel had let it through
    pid_t pid = cap.spawn([&] { return create_file(dir / "quiet/a") && create_file(dir / "loud/b") ? 0 : 98; });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    ktrail::v1::Event quiet = one(events, "created-file", dir / "quiet/a");
    ktrail::v1::Event loud = one(events, "created-file", dir / "loud/b");
    Engine engine(set);
    std::vector<const ktrail::rules::Rule*> hits;
    CHECK_FALSE(engine.apply(quiet, hits));
    CHECK(engine.apply(loud, hits));
    CHECK(engine.stats().dropped == 1);
}

TEST_CASE("the kernel never drops what a path rule keeps: names that only share the prefix's letters", "[rules]") {
    TempDir dir;
    // later/ does not exist yet when the rule is applied.
    auto set = load(drop_rule(dir.path + "/later/"));
    Capture cap;
    apply(cap, *set);
    pid_t pid = cap.spawn([&] {
        bool ok = create_file(dir / "later") && create_file(dir / "later-sibling") && unlink((dir / "later").c_str()) == 0;
        if (ok) std::filesystem::create_directory(dir / "later");
        return ok && create_file(dir / "later/inside") ? 0 : 98;
    });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    Engine engine(set);
    std::vector<const ktrail::rules::Rule*> hits;
    // The rule keeps these two: so must the kernel.
    for (const char* kept : {"later", "later-sibling"}) {
        auto found = with_action(events, "created-file", dir / kept);
        INFO(kept << " in:\n" << describe(events));
        REQUIRE(found.size() == 1);
        ktrail::v1::Event ev = *found[0];
        CHECK(engine.apply(ev, hits));
    }
    // This one the rule drops, in the kernel or in the engine.
    for (const auto* e : with_action(events, "created-file", dir / "later/inside")) {
        ktrail::v1::Event ev = *e;
        CHECK_FALSE(engine.apply(ev, hits));
    }
}


TEST_CASE("a path rule longer than the kernel's filter takes is applied in userspace, not refused", "[rules]") {
    TempDir dir;
    // An existing directory whose path is longer than KT_PREFIX_MAX.
    std::string deep = dir.path;
    while (deep.size() <= KT_PREFIX_MAX + 20) deep += "/" + std::string(40, 'd');
    std::filesystem::create_directories(deep);
    auto set = load(drop_rule(deep + "/") + drop_rule(deep + "/x").replace(8, 5, "quiet-x"));
    auto plan = plan_kernel_drops(*set);
    REQUIRE(plan.decisions.size() == 2);
    for (const auto& d : plan.decisions) {
        INFO(d.rule << ": " << d.what);
        CHECK_FALSE(d.pushed);
    }
    Capture cap;
    apply(cap, *set);  // ktraild would refuse to start if this failed
    pid_t pid = cap.spawn([&] { return create_file(deep + "/f") ? 0 : 98; });
    auto events = cap.events_of(pid);
    REQUIRE(cap.exit_status(pid) == 0);
    ktrail::v1::Event ev = one(events, "created-file", deep + "/f");
    Engine engine(set);
    std::vector<const ktrail::rules::Rule*> hits;
    CHECK_FALSE(engine.apply(ev, hits));
}
