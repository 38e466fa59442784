#include "host_fixtures.h"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <libaudit.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

using namespace std::chrono_literals;

namespace ktrail::test {
namespace {

int free_port() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    close(s);
    return ntohs(a.sin_port);
}

bool port_open(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(s);
    return ok;
}

}  // namespace

int run_shell(const std::string& cmd) { return system(cmd.c_str()); }

std::string shell_line(const std::string& cmd) {
    FILE* p = popen(cmd.c_str(), "r");
    char buf[512] = {};
    if (p && !fgets(buf, sizeof(buf), p)) buf[0] = 0;
    if (p) pclose(p);
    std::string s = buf;
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

AuditStateGuard::AuditStateGuard() {
    auto s = audit::read_audit_status();
    REQUIRE(s.has_value());
    found = *s;
    INFO("an audit daemon (pid " << found.pid << ") is registered: stop it to run the audit tests");
    REQUIRE(found.pid == 0);
}

AuditStateGuard::~AuditStateGuard() {
    int fd = audit_open();
    auto now = audit::read_audit_status();
    if (now && now->pid != 0 && now->pid != found.pid) audit_set_pid(fd, 0, WAIT_YES);
    if (now && now->enabled != found.enabled && now->enabled != 2) audit_set_enabled(fd, found.enabled);
    if (now && now->backlog_limit != found.backlog_limit) audit_set_backlog_limit(fd, found.backlog_limit);
    audit_close(fd);
}

TempUser::TempUser() {
    std::mt19937 rng(std::random_device{}());
    name = "ktrailt" + std::to_string(rng() % 100000);
    password = "Pw-" + std::to_string(rng());
    REQUIRE(run_shell("useradd -M -s /bin/sh " + name) == 0);
    REQUIRE(run_shell("echo '" + name + ":" + password + "' | chpasswd") == 0);
    uid = static_cast<uint32_t>(std::stoul(shell_line("id -u " + name)));
    gid = static_cast<uint32_t>(std::stoul(shell_line("id -g " + name)));
}

TempUser::~TempUser() {
    if (!sudoers_.empty()) unlink(sudoers_.c_str());
    run_shell("userdel " + name + " 2>/dev/null");
    // useradd made a group of the user's name; userdel removes it unless
    // the user was renamed (the group keeps the old name).
    std::string group = shell_line("getent group " + std::to_string(gid) + " | cut -d: -f1");
    if (group.starts_with("ktrailt")) run_shell("groupdel " + group + " 2>/dev/null");
}

void TempUser::rename(const std::string& to) {
    REQUIRE(run_shell("usermod -l " + to + " " + name) == 0);
    name = to;
}

void TempUser::allow_sudo() {
    sudoers_ = "/etc/sudoers.d/ktrail-test-" + name;
    std::ofstream(sudoers_) << "#" << uid << " ALL=(ALL) NOPASSWD: ALL\n";
    chmod(sudoers_.c_str(), 0440);
}

Sshd::Sshd(const std::string& dir) : port(free_port()) {
    mkdir("/run/sshd", 0755);  // privilege separation directory
    REQUIRE(run_shell("ssh-keygen -q -t ed25519 -N '' -f " + dir + "/host_key") == 0);
    std::ofstream(dir + "/sshd_config") << "Port " << port << "\nListenAddress 127.0.0.1\nHostKey " << dir
                                        << "/host_key\nPidFile " << dir << "/sshd.pid\n"
                                        << "PasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
                                        << "UsePAM yes\nPermitRootLogin no\nStrictModes no\n";
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        std::string cfg = dir + "/sshd_config", log = dir + "/sshd.log";
        execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-f", cfg.c_str(), "-E", log.c_str(), nullptr);
        _exit(127);
    }
    for (int i = 0; i < 100 && !port_open(port); ++i) std::this_thread::sleep_for(50ms);
    REQUIRE(port_open(port));
}

Sshd::~Sshd() {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
}

int Sshd::login(const TempUser& u, const std::string& password, const std::string& command) const {
    return run_shell("sshpass -p '" + password +
                     "' ssh -q -tt -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                     "-o PubkeyAuthentication=no -o PreferredAuthentications=password -o NumberOfPasswordPrompts=1 "
                     "-p " + std::to_string(port) + " " + u.name + "@127.0.0.1 \"" + command + "\"");
}

int su_as_nobody(const std::string& user, const std::string& password) {
    int master = -1;
    pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(99);
        execl("/usr/bin/su", "su", "-", user.c_str(), "-c", "true", nullptr);
        _exit(98);
    }
    std::string seen;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    bool answered = false;
    char buf[256];
    while (std::chrono::steady_clock::now() < deadline) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(master, &fds);
        timeval tv{0, 100000};
        if (select(master + 1, &fds, nullptr, nullptr, &tv) > 0) {
            ssize_t n = read(master, buf, sizeof(buf));
            if (n <= 0) {  // EIO: su and its children closed the terminal
                int status = 0;
                waitpid(pid, &status, 0);
                close(master);
                INFO("su said: " << seen);
                REQUIRE(answered);
                return status;
            }
            seen.append(buf, static_cast<size_t>(n));
        }
        if (!answered && seen.find("assword") != std::string::npos) {
            std::string line = password + "\n";
            REQUIRE(write(master, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
            answered = true;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            close(master);
            INFO("su said: " << seen);
            REQUIRE(answered);
            return status;
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(master);
    FAIL("su did not finish; it said: " << seen);
    return -1;
}

}  // namespace ktrail::test
