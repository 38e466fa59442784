#include "collector_harness.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;

namespace ktrail::e2e {
namespace {

// An idle gRPC client notices the collector's GOAWAY only on its backup
// poll, every 5 s by default, and the collector's graceful stop waits for
// it: poll faster in tests (read once, when gRPC starts).
const bool kFastClientPoll = setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", 0) == 0;

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

int run_argv(const std::vector<std::string>& args, const std::string& log) {
    fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        std::vector<char*> argv;
        for (auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

}  // namespace

DevCerts make_dev_certs(const std::string& dir, const std::vector<std::string>& hosts) {
    std::vector<std::string> args = {"/bin/bash", std::string(KTRAIL_SCRIPTS) + "/dev-certs.sh", dir};
    args.insert(args.end(), hosts.begin(), hosts.end());
    std::string log = dir + ".dev-certs.log";
    int status = run_argv(args, log);
    INFO("dev-certs.sh: " << read_all(log));
    unlink(log.c_str());
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    return DevCerts{dir};
}

Collector::Collector(std::string dir, DevCerts certs, CollectorOptions options)
    : dir_(std::move(dir)), certs_(std::move(certs)), options_(std::move(options)) {
    store_url_ = options_.store_url.empty() ? "sqlite:" + dir_ + "/collector.db" : options_.store_url;
}

Collector::~Collector() {
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
}

std::string Collector::log() const { return read_all(log_path()); }

void Collector::spawn(const std::string& listen) {
    REQUIRE(pid_ <= 0);
    std::vector<std::string> args = {KTRAIL_COLLECTOR, "--listen", listen, "--store", store_url_};
    // The tests run as root and keep their files root's; the package's
    // unprivileged collector is tested in package_e2e_test.cc.
    if (geteuid() == 0) args.push_back("--allow-root");
    if (options_.tls) {
        for (const auto& [flag, file] : {std::pair{"--tls-ca", certs_.ca()}, std::pair{"--tls-cert", certs_.collector_cert()},
                                        std::pair{"--tls-key", certs_.collector_key()}}) {
            args.push_back(flag);
            args.push_back(file);
        }
    }
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    log_seen_ = log().size();
    fflush(nullptr);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
        int fd = open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        std::vector<char*> argv;
        for (auto& s : args) argv.push_back(s.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
}

void Collector::start() {
    spawn(options_.listen);
    static const std::string kMark = "listening on ";
    for (int i = 0; i < 400; ++i) {
        std::string out = log().substr(log_seen_);
        if (auto at = out.find(kMark); at != std::string::npos) {
            auto end = out.find_first_of(", \n", at + kMark.size());
            if (end != std::string::npos) {
                std::string addr = out.substr(at + kMark.size(), end - at - kMark.size());
                port_ = std::stoi(addr.substr(addr.rfind(':') + 1));
                REQUIRE(port_ > 0);
                return;
            }
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            FAIL("ktrail-collector exited at start (status " << status << "): " << out);
        }
        std::this_thread::sleep_for(50ms);
    }
    FAIL("ktrail-collector did not say it was listening within 20 s: " << log().substr(log_seen_));
}

int Collector::start_expecting_exit() {
    spawn(options_.listen);
    int status = 0;
    for (int i = 0; i < 400; ++i) {
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return status;
        }
        std::this_thread::sleep_for(50ms);
    }
    FAIL("ktrail-collector kept running; expected it to refuse to start: " << log().substr(log_seen_));
    return -1;
}

int Collector::stop(int sig) {
    REQUIRE(pid_ > 0);
    kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return status;
        }
        std::this_thread::sleep_for(50ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    FAIL("ktrail-collector did not stop within 10 s of signal " << sig << ": " << log().substr(log_seen_));
    return status;
}

void Collector::restart() {
    int port = port_;
    int status = stop();
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    std::string listen = options_.listen;
    if (port > 0) listen = listen.substr(0, listen.rfind(':') + 1) + std::to_string(port);
    auto saved = options_.listen;
    options_.listen = listen;
    start();
    options_.listen = saved;
}

forward::ClientOptions Collector::client_options(const std::string& host) const {
    forward::ClientOptions o;
    o.target = target();
    o.tls = {certs_.ca(), certs_.agent_cert(host), certs_.agent_key(host)};
    o.deadline = std::chrono::seconds(10);
    return o;
}

}  // namespace ktrail::e2e
