// Decoding made-up records: every record kind and op, and every way a record
// can be malformed (counted and skipped by the agent, never a crash).
#include <catch2/catch.hpp>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <random>
#include <vector>

#include "ktrail/wire.h"
#include "source/bpf/decoder.h"
#include "source/bpf/path_resolver.h"
#include "source/bpf/syscall_table.h"

using ktrail::bpf::DecodeError;
using ktrail::bpf::Decoder;

namespace {

// Builds a record: the fixed struct, then strings appended after it.
template <typename T>
struct Builder {
    T fixed{};
    std::vector<uint8_t> tail;
    Builder(uint16_t kind) {
        fixed.hdr.kind = kind;
        fixed.task.pid = 100;
        fixed.task.tid = 101;
        fixed.task.ppid = 1;
        fixed.task.uid = 1000;
        fixed.task.euid = 0;
        fixed.task.gid = 1000;
        fixed.task.auid = 1000;
        fixed.task.sessionid = 7;
        fixed.task.start_ns = 5'000'000'000;
        memcpy(fixed.task.comm, "vim", 4);
    }
    kt_str str(std::string_view s, bool nul = true) {
        kt_str out{static_cast<uint16_t>(sizeof(T) + tail.size()), static_cast<uint16_t>(s.size())};
        tail.insert(tail.end(), s.begin(), s.end());
        if (nul) tail.push_back(0);
        return out;
    }
    std::vector<uint8_t> bytes() {
        fixed.hdr.size = static_cast<uint16_t>(sizeof(T) + tail.size());
        std::vector<uint8_t> b(sizeof(T));
        memcpy(b.data(), &fixed, sizeof(T));
        b.insert(b.end(), tail.begin(), tail.end());
        return b;
    }
};

Builder<kt_syscall_record> syscall_rec(uint32_t nr, int64_t result = 0) {
    Builder<kt_syscall_record> b(KT_KIND_SYSCALL);
    b.fixed.syscall_nr = nr;
    b.fixed.op = ktrail::bpf::find_syscall(nr)->desc.op;
    b.fixed.result = result;
    return b;
}

Decoder decoder() { return Decoder({0, ktrail::bpf::kLexicalOnly /* no fs lookups */, nullptr}); }

ktrail::v1::Event decode_ok(const std::vector<uint8_t>& bytes) {
    ktrail::v1::Event ev;
    auto r = decoder().decode(bytes, ev);
    INFO("error: " << (r ? "none" : std::string(ktrail::bpf::to_string(r.error()))));
    REQUIRE(r.has_value());
    return ev;
}

DecodeError decode_err(const std::vector<uint8_t>& bytes) {
    ktrail::v1::Event ev;
    auto r = decoder().decode(bytes, ev);
    REQUIRE_FALSE(r.has_value());
    return r.error();
}

}  // namespace

TEST_CASE("every traced syscall decodes to its action with the actor's identity", "[decoder]") {
    for (const auto& info : ktrail::bpf::syscall_table()) {
        auto b = syscall_rec(info.nr);
        for (int i = 0; i < 2; ++i) {
            if (info.desc.path_mode[i] == KT_PATH_FD) b.fixed.path[i].base = b.str("/srv/file");
            if (info.desc.path_mode[i] == KT_PATH_AT) b.fixed.path[i].name = b.str("/srv/name");
            if (info.desc.path_mode[i] == KT_PATH_USTR) b.fixed.path[i].name = b.str("text");
        }
        auto ev = decode_ok(b.bytes());
        INFO(info.name);
        CHECK(ev.ktrail().syscall() == info.name);
        CHECK(ev.module() == "bpf");
        CHECK(ev.outcome() == "success");
        CHECK_FALSE(ev.action().empty());
        CHECK(ev.action() != "unknown");
        CHECK(ev.process().pid() == 100);
        CHECK(ev.process().thread_id() == 101);
        CHECK(ev.process().name() == "vim");
        CHECK(ev.process().parent().pid() == 1);
        CHECK(ev.user().id() == 1000);
        CHECK(ev.user().effective().id() == 0);
        CHECK(ev.user().audit().id() == 1000);
        CHECK(ev.session().id() == 7);
    }
}

TEST_CASE("rename, link and symlink put their paths in path and target_path", "[decoder]") {
    auto rn = syscall_rec(SYS_renameat);
    rn.fixed.path[0].base = rn.str("/home/a");
    rn.fixed.path[0].name = rn.str("old");
    rn.fixed.path[1].name = rn.str("/home/b/../c/new");
    auto e = decode_ok(rn.bytes());
    CHECK(e.action() == "renamed");
    CHECK(e.file().path() == "/home/a/old");
    CHECK(e.file().target_path() == "/home/c/new");

    auto sl = syscall_rec(SYS_symlink);
    sl.fixed.path[0].name = sl.str("../target");
    sl.fixed.path[1].base = sl.str("/var/tmp");
    sl.fixed.path[1].name = sl.str("link");
    e = decode_ok(sl.bytes());
    CHECK(e.action() == "symlinked");
    CHECK(e.file().path() == "/var/tmp/link");
    CHECK(e.file().target_path() == "../target");

    auto ln = syscall_rec(SYS_link);
    ln.fixed.path[0].name = ln.str("/etc/shadow");
    ln.fixed.path[1].name = ln.str("/tmp/x");
    e = decode_ok(ln.bytes());
    CHECK(e.action() == "linked");
    CHECK(e.file().path() == "/tmp/x");
    CHECK(e.file().target_path() == "/etc/shadow");
}

TEST_CASE("chmod, chown and open report mode, owner and flags", "[decoder]") {
    auto ch = syscall_rec(SYS_fchownat);
    ch.fixed.path[0].name = ch.str("/etc/passwd");
    ch.fixed.arg[0] = 0;
    ch.fixed.arg[1] = 0xffffffff;  // unchanged
    auto e = decode_ok(ch.bytes());
    CHECK(e.action() == "changed-file-ownership-of");
    CHECK(e.file().uid() == 0);
    CHECK_FALSE(e.file().has_gid());

    auto cm = syscall_rec(SYS_chmod);
    cm.fixed.path[0].name = cm.str("/usr/bin/x");
    cm.fixed.arg[0] = 04755;
    e = decode_ok(cm.bytes());
    CHECK(e.file().mode() == 04755);

    auto op = syscall_rec(SYS_openat, 3);
    op.fixed.path[0].base = op.str("/etc/shadow");
    op.fixed.arg[0] = 01 | 0100 | 01000;  // O_WRONLY|O_CREAT|O_TRUNC
    op.fixed.arg[1] = 0600;
    op.fixed.flags = KT_F_CREATED | KT_F_HAS_INODE;
    op.fixed.ino = 42;
    op.fixed.dev = (8u << 20) | 1;
    e = decode_ok(op.bytes());
    CHECK(e.action() == "created-file");
    CHECK(e.file().path() == "/etc/shadow");
    CHECK(e.file().mode() == 0600);
    CHECK(e.file().inode() == 42);
    CHECK(e.file().device() == makedev(8, 1));
    REQUIRE(e.ktrail().flags_size() == 3);
    CHECK(e.ktrail().flags(0) == "O_WRONLY");
}

TEST_CASE("file events named by the caller are marked for the agent's path filter", "[decoder]") {
    auto named = syscall_rec(SYS_unlinkat);
    named.fixed.path[0].name = named.str("/tmp/x");
    ktrail::v1::Event ev;
    auto d = decoder().decode(named.bytes(), ev);
    REQUIRE(d.has_value());
    CHECK(d->needs_path_filter);

    auto opened = syscall_rec(SYS_openat, 3);  // decided in the kernel from the open file
    opened.fixed.path[0].base = opened.str("/tmp/x");
    d = decoder().decode(opened.bytes(), ev);
    REQUIRE(d.has_value());
    CHECK_FALSE(d->needs_path_filter);

    auto by_fd = syscall_rec(SYS_fchmod);  // fd: decided in the kernel
    by_fd.fixed.path[0].base = by_fd.str("/tmp/x");
    d = decoder().decode(by_fd.bytes(), ev);
    REQUIRE(d.has_value());
    CHECK_FALSE(d->needs_path_filter);

    auto cred = syscall_rec(SYS_setuid);
    d = decoder().decode(cred.bytes(), ev);
    REQUIRE(d.has_value());
    CHECK_FALSE(d->needs_path_filter);
}

TEST_CASE("refused calls are denied-access-to failures with the errno name", "[decoder]") {
    auto b = syscall_rec(SYS_unlink, -13);
    b.fixed.path[0].name = b.str("/var/log/auth.log");
    auto e = decode_ok(b.bytes());
    CHECK(e.action() == "denied-access-to");
    CHECK(e.outcome() == "failure");
    CHECK(e.reason() == "EACCES");
    CHECK(e.type(0) == "denied");
    CHECK(e.file().path() == "/var/log/auth.log");

    auto m = syscall_rec(SYS_finit_module, -38);
    m.fixed.path[0].base = m.str("/tmp/rootkit.ko.xz");
    e = decode_ok(m.bytes());
    CHECK(e.action() == "loaded-kernel-module");
    CHECK(e.reason() == "ENOSYS");
    CHECK(e.ktrail().module_name() == "rootkit");
}

TEST_CASE("exec records split arguments and flag truncation", "[decoder]") {
    Builder<kt_exec_record> b(KT_KIND_EXEC);
    b.fixed.exe = b.str("/usr/bin/vim");
    std::string argv("vim\0-R\0/etc/shadow", 19);  // the kernel's last NUL may be missing
    b.fixed.argv = b.str(argv, false);
    b.fixed.argc = 3;
    b.fixed.cwd = b.str("/root");
    auto e = decode_ok(b.bytes());
    CHECK(e.action() == "executed");
    CHECK(e.process().executable() == "/usr/bin/vim");
    REQUIRE(e.process().args_size() == 3);
    CHECK(e.process().args(2) == "/etc/shadow");
    CHECK_FALSE(e.process().args_truncated());
    CHECK(e.process().working_directory() == "/root");

    b.fixed.argc = 5;  // more arguments than were copied
    e = decode_ok(b.bytes());
    CHECK(e.process().args_truncated());
}

TEST_CASE("fork and exit records", "[decoder]") {
    Builder<kt_fork_record> f(KT_KIND_FORK);
    f.fixed.child_pid = 200;
    f.fixed.child_tid = 200;
    f.fixed.child_start_ns = 6'000'000'000;
    auto e = decode_ok(f.bytes());
    CHECK(e.action() == "forked");
    CHECK(e.process().pid() == 200);
    CHECK(e.process().parent().pid() == 100);
}

TEST_CASE("the decoder names the acting process and its life event for the process table", "[decoder]") {
    using ktrail::Lifecycle;
    ktrail::v1::Event ev;
    Builder<kt_fork_record> f(KT_KIND_FORK);
    f.fixed.task.start_ns = 5'000'000'000;
    f.fixed.task.cgroup_id = 42;
    f.fixed.child_pid = 200;
    f.fixed.child_start_ns = 6'000'000'000;
    auto d = decoder().decode(f.bytes(), ev);
    REQUIRE(d.has_value());
    CHECK(d->lifecycle == Lifecycle::kFork);
    // The child is the process; the forking task its parent.
    CHECK(d->task.pid == 200);
    CHECK(d->task.start_ns == 6'000'000'000);
    CHECK(d->task.ppid == 100);
    CHECK(d->task.parent_start_ns == 5'000'000'000);
    CHECK(d->task.cgroup_id == 42);

    Builder<kt_exec_record> x(KT_KIND_EXEC);
    x.fixed.exe = x.str("/usr/bin/vim");
    d = decoder().decode(x.bytes(), ev);
    REQUIRE(d.has_value());
    CHECK(d->lifecycle == Lifecycle::kExec);
    CHECK(d->task.pid == 100);

    Builder<kt_exit_record> q(KT_KIND_EXIT);
    d = decoder().decode(q.bytes(), ev);
    REQUIRE(d.has_value());
    CHECK(d->lifecycle == Lifecycle::kExit);

    auto s = syscall_rec(SYS_unlink);
    s.fixed.path[0].name = s.str("/x");
    d = decoder().decode(s.bytes(), ev);
    REQUIRE(d.has_value());
    CHECK(d->lifecycle == Lifecycle::kNone);
    CHECK(d->task.pid == 100);
    CHECK(d->task.start_ns == 5'000'000'000);
}

TEST_CASE("exit records carry the exit code or the killing signal", "[decoder]") {
    ktrail::v1::Event e;

    Builder<kt_exit_record> x(KT_KIND_EXIT);
    x.fixed.exit_code = 9;  // killed by SIGKILL
    e = decode_ok(x.bytes());
    CHECK(e.action() == "exited");
    CHECK(e.process().exit_code() == 137);
    CHECK(e.reason() == "SIGKILL");
    x.fixed.exit_code = 2 << 8;
    e = decode_ok(x.bytes());
    CHECK(e.process().exit_code() == 2);
    CHECK(e.outcome() == "failure");
}

TEST_CASE("malformed records are refused with a reason", "[decoder]") {
    auto good = syscall_rec(SYS_unlink);
    good.fixed.path[0].name = good.str("/x");
    auto bytes = good.bytes();

    CHECK(decode_err({1, 2, 3}) == DecodeError::kShort);
    auto truncated = bytes;
    truncated.resize(bytes.size() - 1);
    CHECK(decode_err(truncated) == DecodeError::kSizeMismatch);
    auto oversized = bytes;
    oversized.push_back(0);
    CHECK(decode_err(oversized) == DecodeError::kSizeMismatch);

    auto unknown = bytes;
    unknown[0] = 99;
    CHECK(decode_err(unknown) == DecodeError::kUnknownKind);

    // A header that claims a syscall record but is only a header long.
    kt_hdr h{KT_KIND_SYSCALL, sizeof(kt_hdr), 0, 0};
    std::vector<uint8_t> short_rec(sizeof(h));
    memcpy(short_rec.data(), &h, sizeof(h));
    CHECK(decode_err(short_rec) == DecodeError::kShort);

    auto bad_str = syscall_rec(SYS_unlink);
    bad_str.fixed.path[0].name = {sizeof(kt_syscall_record), 500};  // past the end
    CHECK(decode_err(bad_str.bytes()) == DecodeError::kBadString);
    auto in_fixed = syscall_rec(SYS_unlink);
    in_fixed.fixed.path[0].name = {8, 4};  // inside the fixed part
    CHECK(decode_err(in_fixed.bytes()) == DecodeError::kBadString);

    auto bad_nr = syscall_rec(SYS_unlink);
    bad_nr.fixed.syscall_nr = 0;  // read(2): not traced
    CHECK(decode_err(bad_nr.bytes()) == DecodeError::kUnknownSyscall);
    auto bad_op = syscall_rec(SYS_unlink);
    bad_op.fixed.op = KT_OP_CAPSET;
    CHECK(decode_err(bad_op.bytes()) == DecodeError::kUnknownSyscall);
}

TEST_CASE("random bytes never crash the decoder", "[decoder]") {
    std::mt19937 rng(1234);
    auto base = syscall_rec(SYS_renameat);
    base.fixed.path[0].name = base.str("/a");
    base.fixed.path[1].name = base.str("/b");
    auto seed = base.bytes();
    int decoded = 0;
    for (int i = 0; i < 20000; ++i) {
        auto b = seed;
        int flips = 1 + static_cast<int>(rng() % 8);
        for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
        if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));
        ktrail::v1::Event ev;
        decoded += decoder().decode(b, ev).has_value();
    }
    CHECK(decoded > 0);  // some mutations leave a valid record
}
