#include "ktraild_harness.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <regex>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace ktrail::e2e {

TempDir::TempDir() : TempDir("/tmp") {}

TempDir::TempDir(const std::string& parent) {
    std::string tmpl = parent + "/ktrail-e2e-XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()));
    path = fs::canonical(tmpl).string();
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<json> read_events(const std::string& path) {
    std::vector<json> out;
    std::istringstream in(slurp(path));
    std::string line;
    while (std::getline(in, line)) {
        INFO("line: " << line);
        REQUIRE_NOTHROW(out.push_back(json::parse(line)));
    }
    return out;
}

Agent start_agent(const TempDir& dir, std::vector<std::string> extra, bool as_nobody,
                  const std::function<std::string()>& before_exec) {
    Agent a;
    a.out = dir / "events.json";
    a.err = dir / "agent.log";
    std::vector<std::string> args = {KTRAILD, "--output", "file:" + a.out, "--state", dir / "state"};
    args.insert(args.end(), extra.begin(), extra.end());
    fflush(nullptr);
    a.pid = fork();
    REQUIRE(a.pid >= 0);
    if (a.pid == 0) {
        int fd = open(a.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, STDERR_FILENO);
        // Held across before_exec(): a mount namespace it makes may hide the
        // build tree (a clone under /tmp, with PrivateTmp=).
        int exe = open(KTRAILD, O_PATH | O_CLOEXEC);
        if (before_exec) {
            if (std::string e = before_exec(); !e.empty()) {
                dprintf(STDERR_FILENO, "before exec: %s\n", e.c_str());
                _exit(96);
            }
        }
        if (as_nobody && (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)) _exit(99);
        std::vector<char*> argv;
        for (auto& s : args) argv.push_back(s.data());
        argv.push_back(nullptr);
        syscall(SYS_execveat, exe, "", argv.data(), environ, AT_EMPTY_PATH);
        dprintf(STDERR_FILENO, "cannot run %s: %s\n", KTRAILD, strerror(errno));
        _exit(98);
    }
    return a;
}

void wait_started(const Agent& a) {
    for (int i = 0; i < 200; ++i) {
        if (slurp(a.out).find("agent-started") != std::string::npos) return;
        int status;
        if (waitpid(a.pid, &status, WNOHANG) == a.pid) FAIL("ktraild exited early: " << slurp(a.err));
        std::this_thread::sleep_for(50ms);
    }
    FAIL("ktraild did not start: " << slurp(a.err));
}

int stop_agent(const Agent& a, int sig) {
    kill(a.pid, sig);
    int status = 0;
    REQUIRE(waitpid(a.pid, &status, 0) == a.pid);
    return status;
}

int run(const std::vector<std::string>& cmd) {
    fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        std::vector<char*> argv;
        for (auto s : cmd) argv.push_back(strdup(s.c_str()));
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

const json* find(const std::vector<json>& events, const std::string& action, const std::string& path) {
    for (const auto& e : events)
        if (e["event"]["action"] == action && e.contains("file") && e["file"].value("path", "") == path) return &e;
    return nullptr;
}

const json* wait_for(const Agent& a, std::vector<json>& events, const std::function<bool(const json&)>& want) {
    for (int i = 0; i < 400; ++i) {
        events = read_events(a.out);
        for (const auto& e : events)
            if (want(e)) return &e;
        std::this_thread::sleep_for(50ms);
    }
    return nullptr;
}

bool is_file_event(const json& e, const std::string& action, const std::string& path) {
    return e["event"]["action"] == action && e.contains("file") && e["file"].value("path", "") == path;
}

std::string str(const json& e, std::initializer_list<const char*> path) {
    const json* j = &e;
    for (const char* k : path) {
        if (!j->is_object() || !j->contains(k)) return "";
        j = &(*j)[k];
    }
    return j->is_string() ? j->get<std::string>() : j->dump();
}

std::string scrape_metrics(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    std::string req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    REQUIRE(send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
    std::string got;
    char buf[8192];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
    close(fd);
    REQUIRE(got.starts_with("HTTP/1.1 200 OK"));
    return got.substr(got.find("\r\n\r\n") + 4);
}

double metric_value(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
    return -1;
}

uint16_t metrics_port_in_log(const std::string& log_path) {
    static const std::regex re("metrics on 127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 100; ++i) {
        std::smatch m;
        std::string log = slurp(log_path);
        if (std::regex_search(log, m, re)) return static_cast<uint16_t>(std::stoi(m[1]));
        std::this_thread::sleep_for(50ms);
    }
    FAIL("no 'metrics on' line in the log: " << slurp(log_path));
    return 0;
}

}  // namespace ktrail::e2e
