// What the store and verify tests share. The test bodies take their store
// from fresh_store_url(), so the same checks run on SQLite (unit_tests, the
// definition in store_test.cc) and on a real PostgreSQL (store_e2e_tests, the
// definition in tests/e2e/store_pg_e2e_test.cc).
#pragma once

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ktrail/v1/event.pb.h"
#include "spool/chain.h"
#include "store/store.h"

namespace ktrail::store_test {

// A new, empty store: sqlite:/tmp/.../N.db or postgresql://.../tN.
std::string fresh_store_url();

inline bool is_pg(const std::string& url) { return url.starts_with("postgres"); }

constexpr int64_t kSec = 1'000'000'000LL;
inline int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline std::unique_ptr<store::Store> open_test_store(const std::string& url) {
    auto s = store::open_store(url);
    INFO((s ? std::string() : s.error().message));
    REQUIRE(s);
    return std::move(*s);
}

// An event as the agent makes it (sequence and ids are set by TestChain).
struct EventSpec {
    int64_t time_ns = 0;
    std::string action = "opened-file";
    std::string outcome = "success";
    std::string user = "alice";
    std::string path = "/etc/passwd";
    std::string exe = "/usr/bin/cat";
    int64_t session = 3;  // -1: none
};

inline v1::Event make_event(const EventSpec& s) {
    v1::Event ev;
    ev.set_time_ns(s.time_ns);
    ev.set_kind("event");
    ev.add_category("file");
    ev.add_type("access");
    ev.set_action(s.action);
    ev.set_outcome(s.outcome);
    ev.set_module("bpf");
    auto* p = ev.mutable_process();
    p->set_pid(4242);
    p->set_thread_id(4242);
    p->set_entity_id("e-4242");
    p->set_executable(s.exe);
    p->set_name(s.exe.substr(s.exe.rfind('/') + 1));
    p->add_args(s.exe);
    p->add_args(s.path);
    p->set_working_directory("/home/" + s.user);
    auto* u = ev.mutable_user();
    u->set_id(1000);
    u->set_name(s.user);
    if (s.session >= 0) {
        ev.mutable_session()->set_id(static_cast<uint32_t>(s.session));
        ev.mutable_session()->set_login_user(s.user);
    }
    if (!s.path.empty()) ev.mutable_file()->set_path(s.path);
    return ev;
}

// One agent's events on a real hash chain with real signed checkpoints,
// exactly as the agent and the collector would store them.
struct TestChain {
    std::string agent_id, host_name, host_id;
    chain::SigningKey key;
    chain::Hash head = chain::kGenesis;
    uint64_t sequence = 0;
    std::vector<store::Row> rows;
    std::vector<store::Checkpoint> checkpoints;

    TestChain(std::string agent, std::string host)
        : agent_id(std::move(agent)), host_name(std::move(host)), host_id("m-" + host_name), key(*chain::SigningKey::generate()) {}

    store::AgentInfo info() const { return {agent_id, host_id, host_name, key.public_key()}; }

    // Appends the event as the next sequence; its row.
    const store::Row& add(v1::Event ev) {
        ++sequence;
        ev.set_sequence(sequence);
        ev.set_id(agent_id + ":" + std::to_string(sequence));
        ev.mutable_agent()->set_id(agent_id);
        ev.mutable_agent()->set_version("0.1.0");
        ev.mutable_host()->set_id(host_id);
        ev.mutable_host()->set_name(host_name);
        std::string raw = ev.SerializeAsString();
        head = chain::next(head, raw);
        rows.push_back(store::make_row(ev, std::move(raw), head));
        return rows.back();
    }
    const store::Row& add(const EventSpec& s) { return add(make_event(s)); }

    // Signs the current head (signed by `with`, or the agent's own key).
    store::Checkpoint checkpoint(const chain::SigningKey* with = nullptr) {
        store::Checkpoint c{agent_id, sequence, head, rows.empty() ? now_ns() : rows.back().time_ns + 1000, {}};
        c.signature = (with ? *with : key).sign(chain::checkpoint_message(agent_id, c.sequence, c.head, c.time_ns));
        checkpoints.push_back(c);
        return c;
    }
};

// Runs one SQL statement on the store's database directly (what someone with
// write access to the database could do), with blob parameters $1, $2, ...
inline void exec_sql(const std::string& url, const std::string& sql, const std::vector<std::string>& blobs = {}) {
    INFO(sql);
    if (is_pg(url)) {
        std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(url.c_str()), PQfinish);
        REQUIRE(PQstatus(c.get()) == CONNECTION_OK);
        std::vector<const char*> values;
        std::vector<int> lengths, formats;
        for (const auto& b : blobs) {
            values.push_back(b.data());
            lengths.push_back(static_cast<int>(b.size()));
            formats.push_back(1);
        }
        PGresult* r = PQexecParams(c.get(), sql.c_str(), static_cast<int>(blobs.size()), nullptr, values.data(),
                                   lengths.data(), formats.data(), 0);
        std::string err = PQresultErrorMessage(r);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        INFO(err);
        REQUIRE(ok);
    } else {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(url.substr(7).c_str(), &db) == SQLITE_OK);
        sqlite3_stmt* s = nullptr;
        int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
        INFO(sqlite3_errmsg(db));
        REQUIRE(rc == SQLITE_OK);
        for (size_t i = 0; i < blobs.size(); ++i)
            sqlite3_bind_blob(s, static_cast<int>(i + 1), blobs[i].data(), static_cast<int>(blobs[i].size()),
                              SQLITE_TRANSIENT);
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
        sqlite3_close(db);
        REQUIRE(rc == SQLITE_DONE);
    }
}

struct CliResult {
    int status = -1;  // exit status
    std::string out, err;
};

inline std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

#ifdef KTRAIL_CLI
// Runs the real `ktrail` binary with these arguments.
inline CliResult run_ktrail(const std::vector<std::string>& args) {
    char tmpl[] = "/tmp/ktrail-cli-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    std::string dir = tmpl, out = dir + "/out", err = dir + "/err";
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        std::vector<char*> argv{const_cast<char*>(KTRAIL_CLI)};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(KTRAIL_CLI, argv.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CliResult r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
    unlink(out.c_str());
    unlink(err.c_str());
    rmdir(dir.c_str());
    return r;
}
#endif

}  // namespace ktrail::store_test
