// Real things on this host for root-tier tests: users with passwords, a real
// sshd on 127.0.0.1, and a guard that puts the audit state back as found.
// Each removes what it made.
#pragma once

#include <cstdint>
#include <string>

#include "source/audit/audit_source.h"

namespace ktrail::test {

// `sh -c cmd`; its wait status.
int run_shell(const std::string& cmd);
// The first line `sh -c cmd` prints, without the newline.
std::string shell_line(const std::string& cmd);

// The audit state a test found, put back whatever happens. Fails the test
// if an audit daemon is registered: these tests need the audit stream.
struct AuditStateGuard {
    AuditStateGuard();
    ~AuditStateGuard();
    audit::AuditStatus found;
};

// A user with a password for the duration of a test (no home directory).
struct TempUser {
    TempUser();
    ~TempUser();
    TempUser(const TempUser&) = delete;
    TempUser& operator=(const TempUser&) = delete;
    // usermod -l: the account keeps its uid under a new name.
    void rename(const std::string& to);
    // Lets the user run anything through sudo without a password.
    void allow_sudo();
    std::string name, password;
    uint32_t uid = 0, gid = 0;

private:
    std::string sudoers_;
};

// Runs `su - user -c true` as nobody (uid 65534) on a pseudo-terminal,
// answering the password prompt with `password`: a real PAM authentication
// (a success or a failure in the audit stream). Returns su's wait status.
int su_as_nobody(const std::string& user, const std::string& password);

// Debian's sshd on 127.0.0.1:port with password logins through PAM (so
// pam_loginuid opens a real audit session), stopped with the test.
struct Sshd {
    explicit Sshd(const std::string& dir);
    ~Sshd();
    // ssh user@127.0.0.1 COMMAND with a password (on a pty); ssh's status.
    int login(const TempUser& u, const std::string& password, const std::string& command = "true") const;
    int port;
    int pid = -1;
};

}  // namespace ktrail::test
