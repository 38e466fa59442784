// Store benchmark: ingest rate through Store::ingest (batches of 2000
// realistic rows, as the collector commits them) into SQLite and PostgreSQL,
// then how long `ktrail query`'s "last hour, one filter" takes over that many
// rows. Only the store calls are timed, not making the events.
//
//   store_bench [--events N] [--batch N] [--pg URL | --no-pg] [--dir DIR]
//
// Without --pg it starts its own PostgreSQL (root only; see
// tests/support/postgres_server.h).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "postgres_server.h"
#include "store/store.h"

using namespace ktrail;
using bench::Clock;

namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int kAgents = 20;

struct Agent {
    std::string id, host, machine;
    uint64_t seq = 0;
    chain::Hash head = chain::kGenesis;
};

const char* kUsers[] = {"root", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
                        "judy", "mallory", "oscar", "peggy", "trent", "victor", "walter", "www-data", "postgres",
                        "nobody"};
struct ActionKind {
    const char* action;
    const char* category;
    const char* type;
    int weight;
};
const ActionKind kActions[] = {{"opened-file", "file", "access", 40},        {"wrote-to-file", "file", "change", 15},
                               {"executed", "process", "start", 15},         {"created-file", "file", "creation", 8},
                               {"deleted", "file", "deletion", 6},           {"renamed", "file", "change", 5},
                               {"changed-file-permissions-of", "file", "change", 3},
                               {"changed-file-ownership-of", "file", "change", 2},
                               {"logged-in", "authentication", "start", 2},   {"ran-command", "process", "info", 2},
                               {"exited", "process", "end", 2}};
const char* kExes[] = {"/usr/bin/bash", "/usr/bin/python3.11", "/usr/sbin/nginx", "/usr/bin/vim", "/usr/bin/cp",
                       "/usr/lib/postgresql/15/bin/postgres", "/usr/bin/rsync", "/usr/bin/git", "/usr/bin/sudo",
                       "/usr/sbin/sshd"};
const char* kDirs[] = {"/etc", "/etc/ssh", "/var/log/nginx", "/home/{}/project/src", "/home/{}/.ssh",
                       "/var/lib/postgresql/15/main/base/16384", "/usr/lib/x86_64-linux-gnu", "/tmp", "/srv/www/html",
                       "/opt/app/releases/2026-11-26/config"};

std::string hex_id(uint64_t& rng, size_t n) {
    std::string s;
    while (s.size() < n) s += fmt::format("{:016x}", bench::xorshift(rng));
    return s.substr(0, n);
}

// One event as the agent would make it (~400-600 bytes serialized).
v1::Event make_event(uint64_t& rng, Agent& a, int64_t time_ns) {
    v1::Event ev;
    int total = 0;
    for (const auto& k : kActions) total += k.weight;
    int pick = static_cast<int>(bench::xorshift(rng) % static_cast<uint64_t>(total));
    const ActionKind* kind = &kActions[0];
    for (const auto& k : kActions) {
        if (pick < k.weight) {
            kind = &k;
            break;
        }
        pick -= k.weight;
    }
    const char* user = kUsers[bench::xorshift(rng) % std::size(kUsers)];
    const char* exe = kExes[bench::xorshift(rng) % std::size(kExes)];
    std::string dir = fmt::format(fmt::runtime(kDirs[bench::xorshift(rng) % std::size(kDirs)]), user);
    std::string path = fmt::format("{}/file{:05}.{}", dir, bench::xorshift(rng) % 20000,
                                   bench::xorshift(rng) % 2 ? "conf" : "log");
    uint32_t pid = 1000 + static_cast<uint32_t>(bench::xorshift(rng) % 60000);
    ev.set_time_ns(time_ns);
    ev.set_sequence(++a.seq);
    ev.set_id(fmt::format("{}:{}", a.id, a.seq));
    ev.set_kind("event");
    ev.add_category(kind->category);
    ev.add_type(kind->type);
    ev.set_action(kind->action);
    ev.set_outcome(bench::xorshift(rng) % 20 ? "success" : "failure");
    if (ev.outcome() == "failure") ev.set_reason("EACCES");
    ev.set_module("bpf");
    ev.mutable_host()->set_id(a.machine);
    ev.mutable_host()->set_name(a.host);
    ev.mutable_host()->set_boot_id("7c1e2f54-6a3b-4d8e-9f10-2b3c4d5e6f70");
    ev.mutable_agent()->set_id(a.id);
    ev.mutable_agent()->set_version("0.1.0");
    auto* p = ev.mutable_process();
    p->set_pid(pid);
    p->set_thread_id(pid);
    p->set_entity_id(hex_id(rng, 22));
    p->set_executable(exe);
    p->set_name(std::strrchr(exe, '/') + 1);
    p->add_args(exe);
    p->add_args("--config");
    p->add_args(path);
    p->set_working_directory(fmt::format("/home/{}", user));
    p->set_start_ns(time_ns - 5 * kSec);
    auto* parent = p->mutable_parent();
    parent->set_pid(pid - 1);
    parent->set_entity_id(hex_id(rng, 22));
    parent->set_executable("/usr/bin/bash");
    p->add_ancestry(parent->entity_id());
    p->add_ancestry(hex_id(rng, 22));
    auto* u = ev.mutable_user();
    u->set_id(1000 + static_cast<uint32_t>(user[0]));
    u->set_name(user);
    u->mutable_effective()->set_id(u->id());
    u->mutable_effective()->set_name(user);
    u->mutable_group()->set_id(u->id());
    u->mutable_group()->set_name(user);
    u->mutable_audit()->set_id(u->id());
    u->mutable_audit()->set_name(user);
    auto* s = ev.mutable_session();
    s->set_id(static_cast<uint32_t>(bench::xorshift(rng) % 500));
    s->set_login_user(user);
    s->set_remote_ip("10.20.30.40");
    s->set_tty("pts/1");
    s->set_start_ns(time_ns - 3600 * kSec);
    if (std::strcmp(kind->category, "file") == 0) {
        auto* f = ev.mutable_file();
        f->set_path(path);
        f->set_mode(0100644);
        f->set_uid(u->id());
        f->set_gid(u->id());
        f->set_owner(user);
        f->set_group(user);
        f->set_inode(bench::xorshift(rng) % 10'000'000);
        f->set_device(2049);
    }
    ev.add_tags("file-watch");
    ev.mutable_rule()->set_id("ktrail-0012");
    ev.mutable_rule()->set_name("config file access");
    return ev;
}

struct Options {
    uint64_t events = 1'000'000;
    size_t batch = 2000;
    std::optional<std::string> pg_url;
    bool pg = true;
    std::string dir = "/var/tmp";
};

void run(const std::string& name, const std::string& url, const Options& o) {
    auto opened = store::open_store(url);
    if (!opened) {
        fprintf(stderr, "store_bench %s: %s\n", name.c_str(), opened.error().message.c_str());
        return;
    }
    auto& s = **opened;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    std::vector<Agent> agents;
    for (int i = 0; i < kAgents; ++i) {
        agents.push_back({hex_id(rng, 8) + "-" + hex_id(rng, 4) + "-" + hex_id(rng, 12), fmt::format("web{}", i),
                          hex_id(rng, 32)});
        auto key = chain::SigningKey::generate();
        if (!key || !s.register_agent({agents.back().id, agents.back().machine, agents.back().host, key->public_key()})) {
            fprintf(stderr, "store_bench %s: cannot register agent\n", name.c_str());
            return;
        }
    }
    // The events span the last two hours, oldest first.
    int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    int64_t start = now - 2 * 3600 * kSec;
    int64_t step = std::max<int64_t>(1, (2 * 3600 * kSec) / static_cast<int64_t>(o.events));
    std::vector<store::Row> rows;
    rows.reserve(o.batch);
    uint64_t raw_bytes = 0, made = 0;
    double ingest_s = 0;
    Clock::duration worst{};
    while (made < o.events) {
        rows.clear();
        for (size_t i = 0; i < o.batch && made < o.events; ++i, ++made) {
            Agent& a = agents[made % kAgents];
            v1::Event ev = make_event(rng, a, start + static_cast<int64_t>(made) * step);
            std::string raw = ev.SerializeAsString();
            raw_bytes += raw.size();
            a.head = chain::next(a.head, raw);
            rows.push_back(store::make_row(ev, std::move(raw), a.head));
        }
        auto t0 = Clock::now();
        auto r = s.ingest(rows, {});
        auto t1 = Clock::now();
        if (!r || r->inserted != rows.size()) {
            fprintf(stderr, "store_bench %s: ingest failed: %s\n", name.c_str(),
                    r ? "not every row inserted" : r.error().message.c_str());
            return;
        }
        worst = std::max(worst, t1 - t0);
        ingest_s += std::chrono::duration<double>(t1 - t0).count();
    }
    double rate = static_cast<double>(o.events) / ingest_s;
    printf("store ingest %s: %.0f events/s (target >= 100000: %s)  [%llu events in batches of %zu, %.1f s, "
           "raw %.0f bytes/event, slowest batch %.1f ms]\n",
           name.c_str(), rate, rate >= 100000 ? "PASS" : "MISS", static_cast<unsigned long long>(o.events), o.batch,
           ingest_s, static_cast<double>(raw_bytes) / static_cast<double>(o.events),
           std::chrono::duration<double, std::milli>(worst).count());
    // A retried batch (every row a duplicate) costs about as much.
    {
        auto t0 = Clock::now();
        auto r = s.ingest(rows, {});
        auto t1 = Clock::now();
        if (r)
            printf("store ingest %s, a retried batch of %zu: %.1f ms, %llu duplicates\n", name.c_str(), rows.size(),
                   std::chrono::duration<double, std::milli>(t1 - t0).count(),
                   static_cast<unsigned long long>(r->duplicates));
    }

    // `ktrail query --since 1h` with one filter, default limit 100.
    struct Case {
        std::string what;
        store::Query q;
    };
    std::vector<Case> cases;
    auto base = [&] {
        store::Query q;
        q.since_ns = now - 3600 * kSec;
        return q;
    };
    cases.push_back({"(no filter)", base()});
    {
        auto q = base();
        q.host = "web7";
        cases.push_back({"--host web7", q});
    }
    {
        auto q = base();
        q.user = "mallory";
        cases.push_back({"--user mallory", q});
    }
    {
        auto q = base();
        q.action = "changed-file-ownership-of";
        cases.push_back({"--action changed-file-ownership-of", q});
    }
    {
        auto q = base();
        q.path_glob = "/etc/ssh/*";
        cases.push_back({"--path '/etc/ssh/*'", q});
    }
    {
        auto q = base();
        q.path_glob = "*/file00042.conf";
        cases.push_back({"--path '*/file00042.conf'", q});
    }
    {
        auto q = base();
        q.session_id = 123;
        cases.push_back({"--session 123", q});
    }
    {
        auto q = base();
        q.outcome = "failure";
        cases.push_back({"--outcome failure", q});
    }
    {
        auto q = base();
        q.host = "web7";
        q.limit = 0;
        cases.push_back({"--host web7 --limit 0 (every match)", q});
    }
    double slowest = 0;
    std::string slowest_what;
    for (const auto& c : cases) {
        std::vector<double> ms;
        size_t n = 0;
        for (int i = 0; i < 3; ++i) {
            auto t0 = Clock::now();
            auto r = s.query(c.q);
            auto t1 = Clock::now();
            if (!r) {
                fprintf(stderr, "store_bench %s: query failed: %s\n", name.c_str(), r.error().message.c_str());
                return;
            }
            n = r->size();
            ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        printf("store query %s, last hour of %llu events, %s: %.1f ms (%zu rows)\n", name.c_str(),
               static_cast<unsigned long long>(o.events), c.what.c_str(), ms[1], n);
        if (c.q.limit && ms[1] > slowest) {
            slowest = ms[1];
            slowest_what = c.what;
        }
    }
    printf("store query %s: slowest one-filter query (limit 100) %.1f ms, %s (target < 1000 ms: %s)\n", name.c_str(),
           slowest, slowest_what.c_str(), slowest < 1000 ? "PASS" : "MISS");
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                fprintf(stderr, "store_bench: %s needs a value\n", a.c_str());
                exit(2);
            }
            return argv[++i];
        };
        if (a == "--events")
            o.events = std::stoull(value());
        else if (a == "--batch")
            o.batch = std::stoull(value());
        else if (a == "--pg")
            o.pg_url = value();
        else if (a == "--no-pg")
            o.pg = false;
        else if (a == "--dir")
            o.dir = value();
        else {
            fprintf(stderr, "usage: store_bench [--events N] [--batch N] [--pg URL | --no-pg] [--dir DIR]\n");
            return 2;
        }
    }
    std::string tmpl = o.dir + "/ktrail-store-bench-XXXXXX";
    if (!mkdtemp(tmpl.data())) {
        perror("mkdtemp");
        return 1;
    }
    run("sqlite", "sqlite:" + tmpl + "/events.db", o);
    std::filesystem::remove_all(tmpl);
    if (!o.pg) return 0;
    if (o.pg_url) {
        run("postgresql", *o.pg_url, o);
        return 0;
    }
    try {
        test::PostgresServer pg;
        run("postgresql", pg.create_database("store_bench"), o);
    } catch (const std::exception& e) {
        fprintf(stderr, "store_bench: no PostgreSQL: %s (pass --pg URL, or --no-pg)\n", e.what());
        return 1;
    }
    return 0;
}
