#include "rsyslog_server.h"
#include "server_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ktrail::test {
namespace {

using namespace std::chrono_literals;




}  // namespace

RsyslogServer::RsyslogServer(RsyslogOptions options) : options_(std::move(options)) {
    if (geteuid() != 0)
        throw std::runtime_error("the rsyslog test server needs root (rsyslogd is run as root); run the test as root");
    if (access(kBinary, X_OK) != 0)
        throw std::runtime_error(std::string("no ") + kBinary + ": apt-get install rsyslog rsyslog-openssl");
    char tmpl[] = "/tmp/ktrail-rsyslog-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/work");
    port_ = free_port();
    try {
        start();
    } catch (...) {
        std::filesystem::remove_all(dir_);
        throw;
    }
}

RsyslogServer::~RsyslogServer() {
    stop();
    if (!getenv("KTRAIL_TEST_KEEP")) std::filesystem::remove_all(dir_);
}

void RsyslogServer::write_config() const {
    std::ofstream c(dir_ + "/rsyslog.conf");
    c << "global(workDirectory=\"" << dir_ << "/work\" maxMessageSize=\"256k\"";
    if (options_.tls)
        c << "\n       defaultNetstreamDriverCAFile=\"" << options_.ca << "\"\n       defaultNetstreamDriverCertFile=\""
          << options_.cert << "\"\n       defaultNetstreamDriverKeyFile=\"" << options_.key << "\"";
    c << ")\n";
    if (options_.tls)
        c << "module(load=\"imtcp\" streamDriver.name=\"ossl\" streamDriver.mode=\"1\" streamDriver.authMode=\""
          << options_.auth_mode << "\")\n";
    else
        c << "module(load=\"imtcp\")\n";
    c << "input(type=\"imtcp\" port=\"" << port_ << "\" address=\"127.0.0.1\" ruleset=\"ktrail\")\n";
    // Every field as rsyslog parsed it, one JSON object per line.
    c << R"(template(name="ktrail_fields" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
}
)";
    c << "ruleset(name=\"ktrail\") {\n"
      << "  if $app-name == \"ktrail\" then action(type=\"omfile\" file=\"" << dir_
      << "/received.jsonl\" template=\"ktrail_fields\")\n"
      << "  else action(type=\"omfile\" file=\"" << dir_ << "/other.log\")\n}\n"
      << "action(type=\"omfile\" file=\"" << dir_ << "/internal.log\")\n";  // rsyslogd's own messages
}

bool RsyslogServer::listening() const {
    // /proc/net/tcp: "sl local_address rem_address st ...", 127.0.0.1 as 0100007F, LISTEN = 0A.
    char want[32];
    snprintf(want, sizeof want, "0100007F:%04X", port_);
    std::ifstream in("/proc/net/tcp");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string sl, local, remote, st;
        f >> sl >> local >> remote >> st;
        if (local == want && st == "0A") return true;
    }
    return false;
}

void RsyslogServer::start() {
    if (running()) return;
    write_config();
    std::string conf = dir_ + "/rsyslog.conf", pidfile = dir_ + "/rsyslogd.pid", out = dir_ + "/rsyslogd.log";
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        if (null >= 0) dup2(null, 0);
        execl(kBinary, kBinary, "-n", "-f", conf.c_str(), "-i", pidfile.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    start_watchdog();
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (!listening()) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            stop_watchdog();
            throw std::runtime_error("rsyslogd exited at start (status " + std::to_string(status) + "):\n" + log());
        }
        if (std::chrono::steady_clock::now() > deadline) {
            stop();
            throw std::runtime_error("rsyslogd does not listen on 127.0.0.1:" + std::to_string(port_) +
                                     " after 15 s:\n" + log());
        }
        std::this_thread::sleep_for(20ms);
    }
}

// rsyslogd must not outlive a test process that dies: a watchdog process
// waits on a pipe only this process writes to and kills rsyslogd when it
// reads EOF. (PR_SET_PDEATHSIG would fire when the forking *thread* ends.)
void RsyslogServer::start_watchdog() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;  // best effort: the destructor still stops it
    pid_t server = pid_;
    watchdog_ = fork();
    if (watchdog_ == 0) {
        close(fds[1]);
        setsid();  // not killed with the test's process group (Ctrl-C)
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
        }
        kill(server, SIGKILL);
        _exit(0);
    }
    close(fds[0]);
    watchdog_fd_ = fds[1];
}

void RsyslogServer::stop_watchdog() {
    // Killed and reaped before rsyslogd is, so it never signals a reused pid.
    if (watchdog_ > 0) {
        kill(watchdog_, SIGKILL);
        waitpid(watchdog_, nullptr, 0);
        watchdog_ = -1;
    }
    if (watchdog_fd_ >= 0) close(watchdog_fd_), watchdog_fd_ = -1;
}

void RsyslogServer::stop() {
    if (!running()) return;
    stop_watchdog();
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
}

void RsyslogServer::restart() {
    stop();
    start();
}

std::vector<std::string> RsyslogServer::lines() const {
    std::string all = slurp(dir_ + "/received.jsonl");
    std::vector<std::string> out;
    size_t at = 0;
    for (size_t nl; (nl = all.find('\n', at)) != std::string::npos; at = nl + 1) out.push_back(all.substr(at, nl - at));
    return out;
}

size_t RsyslogServer::wait_for_lines(size_t n, std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        size_t have = lines().size();
        if (have >= n || std::chrono::steady_clock::now() > deadline) return have;
        std::this_thread::sleep_for(20ms);
    }
}

std::string RsyslogServer::log() const {
    return "--- rsyslogd output:\n" + tail(slurp(dir_ + "/rsyslogd.log")) + "\n--- internal messages:\n" +
           tail(slurp(dir_ + "/internal.log")) + "\n--- other messages:\n" + tail(slurp(dir_ + "/other.log"));
}

}  // namespace ktrail::test
