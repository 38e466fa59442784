#include "postgres_server.h"
#include "server_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ktrail::test {
namespace {

using namespace std::chrono_literals;



// Runs argv with stdout and stderr appended to `log`; its exit status, or -1
// if it ran past `timeout` (then it is killed).
int run(const std::vector<std::string>& argv, const std::string& log, std::chrono::seconds timeout) {
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (null >= 0) dup2(null, 0);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(10ms);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The newest installed server's bin directory.
std::string find_bin() {
    if (const char* env = getenv("KTRAIL_PG_BIN")) return env;
    glob_t g{};
    std::string best;
    if (glob("/usr/lib/postgresql/*/bin/postgres", 0, nullptr, &g) == 0) {
        std::vector<std::string> found(g.gl_pathv, g.gl_pathv + g.gl_pathc);
        std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
            return std::atoi(a.c_str() + 20) < std::atoi(b.c_str() + 20);  // after "/usr/lib/postgresql/"
        });
        best = found.back().substr(0, found.back().size() - std::strlen("/postgres"));
    }
    globfree(&g);
    if (best.empty())
        throw std::runtime_error("no PostgreSQL server found under /usr/lib/postgresql/*/bin: install the "
                                 "postgresql package, or set KTRAIL_PG_BIN (or KTRAIL_TEST_PG_URL)");
    return best;
}


struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
};

}  // namespace

PostgresServer::PostgresServer() {
    if (const char* env = getenv("KTRAIL_TEST_PG_URL"); env && *env) {
        // postgresql://USER@HOST:PORT/DB -> postgresql://USER@HOST:PORT/
        std::string u = env;
        size_t slash = u.find('/', u.find("://") + 3);
        external_ = slash == std::string::npos ? u + "/" : u.substr(0, slash + 1);
        create_database("ktrail");
        return;
    }
    if (geteuid() != 0)
        throw std::runtime_error("the PostgreSQL test server needs root (it runs initdb and the server as the "
                                 "postgres user); run as root or set KTRAIL_TEST_PG_URL");
    struct passwd* pw = getpwnam("postgres");
    if (!pw) throw std::runtime_error("no 'postgres' user: install the postgresql package");
    bin_ = find_bin();
    char tmpl[] = "/tmp/ktrail-pg-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0 || chmod(dir_.c_str(), 0700) != 0) {
        std::filesystem::remove_all(dir_);
        throw std::runtime_error("cannot hand " + dir_ + " to the postgres user");
    }
    try {
        start();
        create_database("ktrail");
    } catch (...) {
        stop();
        throw;
    }
}

void PostgresServer::start() {
    std::string setup_log = dir_ + "/setup.log";
    if (run({"runuser", "-u", "postgres", "--", bin_ + "/initdb", "-D", dir_ + "/data", "-U", "postgres", "-A",
             "trust", "-E", "UTF8", "--locale=C", "--no-sync"},
            setup_log, 120s) != 0)
        throw std::runtime_error("initdb failed:\n" + tail(slurp(setup_log)));

    // The watchdog: when our end of the pipe closes (destructor, or this
    // process dying), it stops the server and removes the directory.
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::string stop_cmd = "runuser -u postgres -- '" + bin_ + "/pg_ctl' -D '" + dir_ +
                           "/data' -m immediate -w -t 30 stop >/dev/null 2>&1; rm -rf '" + dir_ + "'";
    watchdog_ = fork();
    if (watchdog_ < 0) throw std::runtime_error("fork failed");
    if (watchdog_ == 0) {
        dup2(fds[0], 0);
        setsid();  // not killed with the test's process group (Ctrl-C)
        signal(SIGINT, SIG_IGN);
        std::string script = "read _ignored; " + stop_cmd;
        execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(fds[0]);
    watchdog_fd_ = fds[1];

    for (int attempt = 0;; ++attempt) {
        port_ = free_port();
        std::string opts = "-p " + std::to_string(port_) + " -k " + dir_ +
                           " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
                           " -c full_page_writes=off -c max_connections=100 -c shared_buffers=256MB"
                           " -c max_wal_size=4GB -c checkpoint_timeout=30min -c log_min_messages=warning";
        int rc = run({"runuser", "-u", "postgres", "--", bin_ + "/pg_ctl", "-D", dir_ + "/data", "-l",
                      dir_ + "/server.log", "-w", "-t", "60", "-o", opts, "start"},
                     setup_log, 90s);
        if (rc == 0) break;
        if (attempt == 4)
            throw std::runtime_error("the PostgreSQL server did not start:\n" + tail(slurp(setup_log)) + "\nserver log:\n" +
                                     tail(log()));
    }
    // pg_ctl -w waited for it; make sure TCP answers too.
    std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=postgres";
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (PQping(conninfo.c_str()) != PQPING_OK) {
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("the PostgreSQL server does not accept connections on 127.0.0.1:" +
                                     std::to_string(port_) + ":\n" + tail(log()));
        std::this_thread::sleep_for(20ms);
    }
}


void PostgresServer::stop() {
    if (watchdog_fd_ >= 0) {
        close(watchdog_fd_);  // the watchdog stops the server and removes dir_
        watchdog_fd_ = -1;
        int status;
        waitpid(watchdog_, &status, 0);
        watchdog_ = -1;
    } else if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
}

PostgresServer::~PostgresServer() { stop(); }

PostgresServer& PostgresServer::shared() {
    static PostgresServer server;
    return server;
}

std::string PostgresServer::url(const std::string& database) const {
    if (!external_.empty()) return external_ + database;
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PostgresServer::log() const { return dir_.empty() ? std::string() : slurp(dir_ + "/server.log"); }

void PostgresServer::exec_sql(const std::string& database, const std::string& sql) {
    std::unique_ptr<PGconn, ConnDeleter> c(PQconnectdb(url(database).c_str()));
    if (PQstatus(c.get()) != CONNECTION_OK)
        throw std::runtime_error("cannot connect to " + url(database) + ": " + PQerrorMessage(c.get()));
    PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);  // "does not exist, skipping"
    PGresult* r = PQexec(c.get(), sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string err = ok ? "" : PQresultErrorMessage(r);
    PQclear(r);
    if (!ok) throw std::runtime_error(sql + ": " + err);
}

std::string PostgresServer::create_database(const std::string& name) {
    exec_sql("postgres", "DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)");
    exec_sql("postgres", "CREATE DATABASE \"" + name + "\"");
    return url(name);
}

std::string PostgresServer::fresh_database() {
    return create_database("t" + std::to_string(getpid()) + "_" + std::to_string(++counter_));
}

}  // namespace ktrail::test
