// A private PostgreSQL server for tests and benchmarks (root only): initdb
// into a fresh directory owned by `postgres`, started with pg_ctl on
// 127.0.0.1 and a free port (unix socket in that directory, fsync off),
// stopped and removed when the object goes, or, if the test process dies
// first, by a watchdog process that notices.
//
//   ktrail::test::PostgresServer pg;                  // ~1-2 s
//   std::string url = pg.create_database("mine");     // postgresql://postgres@127.0.0.1:PORT/mine
//
// KTRAIL_TEST_PG_URL=postgresql://USER@HOST:PORT/DB uses that server instead
// (databases are created and dropped there; nothing is started).
#pragma once

#include <sys/types.h>

#include <string>

namespace ktrail::test {

class PostgresServer {
public:
    // Starts the server; throws std::runtime_error that says what failed (with
    // the end of initdb's or the server's log).
    PostgresServer();
    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    // One server per test process, started on first use, stopped at exit.
    static PostgresServer& shared();

    int port() const { return port_; }
    const std::string& dir() const { return dir_; }  // data in dir()/data, log in dir()/server.log
    // postgresql://postgres@127.0.0.1:PORT/ktrail: the database made at start.
    std::string url() const { return url("ktrail"); }
    std::string url(const std::string& database) const;
    // Creates the database (dropping one of that name first); its URL.
    std::string create_database(const std::string& name);
    // A new, uniquely named database; its URL.
    std::string fresh_database();
    // The server's log so far (for a failing test's message).
    std::string log() const;

private:
    void start();
    void stop();
    void exec_sql(const std::string& database, const std::string& sql);

    std::string bin_;   // directory of initdb, pg_ctl, postgres
    std::string dir_;   // empty when using KTRAIL_TEST_PG_URL
    std::string external_;  // KTRAIL_TEST_PG_URL without the database
    int port_ = 0;
    int watchdog_fd_ = -1;  // closing it (or dying) tells the watchdog to clean up
    pid_t watchdog_ = -1;
    unsigned counter_ = 0;
};

}  // namespace ktrail::test
