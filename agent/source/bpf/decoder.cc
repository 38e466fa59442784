#include "source/bpf/decoder.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>

#include "ktrail/wire.h"
#include "source/bpf/path_resolver.h"
#include "source/bpf/syscall_table.h"

namespace ktrail::bpf {
namespace {

constexpr uint32_t kUnset = 0xffffffffu;  // loginuid / sessionid not set
constexpr uint64_t kAtRemovedir = 0x200;

using Err = std::unexpected<DecodeError>;

// A record with bounds-checked access.
class Record {
public:
    explicit Record(std::span<const uint8_t> b) : b_(b) {}
    size_t size() const { return b_.size(); }
    template <typename T>
    T fixed() const {
        T v;
        memcpy(&v, b_.data(), sizeof(T));
        return v;
    }
    // Absent strings (off 0) are empty; out-of-bounds ones are errors.
    std::expected<std::string_view, DecodeError> str(kt_str s, size_t fixed_size) const {
        if (s.off == 0) return std::string_view();
        if (s.off < fixed_size || size_t(s.off) + s.len > b_.size()) return Err(DecodeError::kBadString);
        return std::string_view(reinterpret_cast<const char*>(b_.data()) + s.off, s.len);
    }

private:
    std::span<const uint8_t> b_;
};

struct OpInfo {
    const char* action;
    const char* category;
    const char* type;
};

OpInfo op_info(uint16_t op, const kt_syscall_record& r) {
    switch (op) {
    case KT_OP_OPEN:
        if (r.flags & KT_F_CREATED) return {"created-file", "file", "creation"};
        return {"opened-file", "file", (r.arg[0] & 3) || (r.arg[0] & 01000) ? "change" : "access"};
    case KT_OP_UNLINK:
    case KT_OP_RMDIR: return {"deleted", "file", "deletion"};
    case KT_OP_RENAME: return {"renamed", "file", "change"};
    case KT_OP_LINK: return {"linked", "file", "creation"};
    case KT_OP_SYMLINK: return {"symlinked", "file", "creation"};
    case KT_OP_MKDIR: return {"created-directory", "file", "creation"};
    case KT_OP_MKNOD: return {"make-device", "file", "creation"};
    case KT_OP_CHMOD: return {"changed-file-permissions-of", "file", "change"};
    case KT_OP_CHOWN: return {"changed-file-ownership-of", "file", "change"};
    case KT_OP_TRUNCATE: return {"truncated-file", "file", "change"};
    case KT_OP_SETXATTR:
    case KT_OP_REMOVEXATTR: return {"changed-file-attributes-of", "file", "change"};
    case KT_OP_MOUNT: return {"mounted", "file", "creation"};
    case KT_OP_UMOUNT: return {"unmounted", "file", "deletion"};
    case KT_OP_SETUID:
    case KT_OP_SETGID:
    case KT_OP_SETGROUPS: return {"changed-identity-of", "process", "change"};
    case KT_OP_CAPSET: return {"changed-capabilities-of", "process", "change"};
    case KT_OP_MODULE_LOAD: return {"loaded-kernel-module", "driver", "start"};
    case KT_OP_MODULE_UNLOAD: return {"unloaded-kernel-module", "driver", "end"};
    case KT_OP_EXEC: return {"executed", "process", "start"};
    default: return {"unknown", "host", "info"};
    }
}

void add_open_flags(uint64_t flags, v1::Ktrail* k) {
    static const std::pair<uint64_t, const char*> names[] = {
        {00000100, "O_CREAT"},  {00000200, "O_EXCL"},     {00001000, "O_TRUNC"},
        {00002000, "O_APPEND"}, {00200000, "O_DIRECTORY"}, {00400000, "O_NOFOLLOW"},
        {020000000, "O_TMPFILE"},
    };
    switch (flags & 3) {
    case 0: k->add_flags("O_RDONLY"); break;
    case 1: k->add_flags("O_WRONLY"); break;
    default: k->add_flags("O_RDWR"); break;
    }
    for (const auto& [bit, name] : names)
        if ((flags & bit) == bit) k->add_flags(name);
}

// The acting task's ids; the enricher adds what the process table knows.
TaskRef fill_task(const DecodeContext& ctx, const kt_task& t, v1::Event& ev) {
    auto* p = ev.mutable_process();
    p->set_pid(t.pid);
    p->set_thread_id(t.tid);
    p->set_name(std::string(t.comm, strnlen(t.comm, sizeof(t.comm))));
    if (ctx.clock) p->set_start_ns(ctx.clock->to_unix_ns(t.start_ns));
    if (t.ppid) p->mutable_parent()->set_pid(t.ppid);

    auto* u = ev.mutable_user();
    u->set_id(t.uid);
    u->mutable_effective()->set_id(t.euid);
    u->mutable_group()->set_id(t.gid);
    if (t.auid != kUnset) u->mutable_audit()->set_id(t.auid);
    if (t.sessionid != kUnset) ev.mutable_session()->set_id(t.sessionid);
    return {t.pid, t.ppid, t.start_ns, t.parent_start_ns, t.cgroup_id};
}

void set_outcome(int64_t result, v1::Event& ev) {
    if (result >= 0) {
        ev.set_outcome("success");
        return;
    }
    ev.set_outcome("failure");
    const char* name = strerrorname_np(static_cast<int>(-result));
    ev.set_reason(name ? name : "E" + std::to_string(-result));
}

std::expected<Decoded, DecodeError> decode_syscall(const DecodeContext& ctx, const Record& rec, v1::Event& ev) {
    if (rec.size() < sizeof(kt_syscall_record)) return Err(DecodeError::kShort);
    auto r = rec.fixed<kt_syscall_record>();
    const SyscallInfo* info = find_syscall(r.syscall_nr);
    if (!info || info->desc.op != r.op) return Err(DecodeError::kUnknownSyscall);

    std::string_view raw[2][2];
    for (int i = 0; i < 2; ++i) {
        auto base = rec.str(r.path[i].base, sizeof(r));
        auto name = rec.str(r.path[i].name, sizeof(r));
        if (!base || !name) return Err(DecodeError::kBadString);
        raw[i][0] = *base;
        raw[i][1] = *name;
    }
    auto aux = rec.str(r.aux, sizeof(r));
    if (!aux) return Err(DecodeError::kBadString);

    Decoded out;
    out.task = fill_task(ctx, r.task, ev);
    ev.set_module("bpf");
    ev.set_kind("event");
    set_outcome(r.result, ev);
    auto* k = ev.mutable_ktrail();
    k->set_syscall(std::string(info->name));
    if (info->ia32) k->set_arch("i386");

    OpInfo op = op_info(r.op, r);
    bool denied = r.result == -EACCES || r.result == -EPERM;
    ev.set_action(denied ? "denied-access-to" : op.action);
    ev.add_category(op.category);
    ev.add_type(denied ? "denied" : op.type);

    // Paths: a kernel-resolved fd path is final; (dir, name) pairs and plain
    // strings are finished here. Only the object path (the first (dir, name)
    // pair) follows a final symlink, and only when the call did.
    int root_fd = r.task.mnt_ns == ctx.host_mnt_ns ? ctx.host_root_fd : kLexicalOnly;
    bool follow = follows_final_symlink(*info, r.arg);
    std::string path[2];
    bool follow_used = false;
    for (int i = 0; i < 2; ++i) {
        switch (info->desc.path_mode[i]) {
        case KT_PATH_AT:
            if (r.op == KT_OP_OPEN && r.result >= 0) {
                path[i] = raw[i][0];  // from the opened file: already canonical
                break;
            }
            path[i] = resolve_path(raw[i][0], raw[i][1], follow && !follow_used, root_fd);
            follow_used = true;
            break;
        case KT_PATH_FD: path[i] = raw[i][0]; break;
        case KT_PATH_USTR: path[i] = raw[i][1]; break;
        default: break;
        }
    }

    auto* f = ev.mutable_file();
    switch (r.op) {
    case KT_OP_LINK:  // path[0] existing -> path[1] new name
    case KT_OP_SYMLINK:  // path[0] target string -> path[1] new link
        f->set_path(path[1]);
        f->set_target_path(path[0]);
        break;
    case KT_OP_MOUNT:  // mount: path[0] source, path[1] mount point
        f->set_path(path[1]);
        k->set_mount_source(path[0]);
        k->set_mount_fstype(std::string(*aux));
        break;
    case KT_OP_SETXATTR:
    case KT_OP_REMOVEXATTR:
        f->set_path(path[0]);
        k->set_xattr_name(path[1]);
        break;
    case KT_OP_MODULE_LOAD:
        if (!path[0].empty()) {
            f->set_path(path[0]);
            std::string_view leaf = std::string_view(path[0]).substr(path[0].rfind('/') + 1);
            k->set_module_name(std::string(leaf.substr(0, leaf.find(".ko"))));
        }
        break;
    case KT_OP_MODULE_UNLOAD: k->set_module_name(path[0]); break;
    default:
        if (!path[0].empty()) f->set_path(path[0]);
        if (!path[1].empty()) f->set_target_path(path[1]);
        break;
    }

    switch (r.op) {
    case KT_OP_OPEN:
        add_open_flags(r.arg[0], k);
        if (r.arg[0] & 0100) f->set_mode(r.arg[1] & 07777);
        break;
    case KT_OP_UNLINK:
        if (r.arg[0] & kAtRemovedir) k->add_flags("AT_REMOVEDIR");
        break;
    case KT_OP_MKDIR:
    case KT_OP_CHMOD: f->set_mode(r.arg[0] & 07777); break;
    case KT_OP_MKNOD: f->set_mode(r.arg[0] & 0177777); break;
    case KT_OP_CHOWN:
        if (static_cast<uint32_t>(r.arg[0]) != kUnset) f->set_uid(static_cast<uint32_t>(r.arg[0]));
        if (static_cast<uint32_t>(r.arg[1]) != kUnset) f->set_gid(static_cast<uint32_t>(r.arg[1]));
        break;
    case KT_OP_SETUID:
    case KT_OP_SETGID:
        for (int i = 0; i < 4 && info->desc.num_arg[i] >= 0; ++i) k->add_args(static_cast<uint32_t>(r.arg[i]));
        break;
    case KT_OP_SETGROUPS: k->add_args(r.arg[0]); break;
    case KT_OP_CAPSET:
        k->set_capabilities_effective(r.arg[0]);
        k->set_capabilities_permitted(r.arg[1]);
        break;
    case KT_OP_TRUNCATE: k->add_args(r.arg[0]); break;
    default: break;
    }
    if ((r.flags & KT_F_HAS_INODE) && r.result >= 0) {
        f->set_inode(r.ino);
        f->set_device(makedev(r.dev >> 20, r.dev & 0xfffff));
        if (!f->has_mode()) f->set_mode(r.mode & 07777);
    }
    if (f->path().empty() && f->target_path().empty() && !f->has_mode() && !f->has_uid() && !f->has_gid())
        ev.clear_file();
    if (r.flags & KT_F_TRUNCATED) k->add_flags("TRUNCATED");
    if (r.flags & KT_F_PATH_LOST) k->add_flags("PATH_LOST");
    bool file_family = info->desc.family == KT_FAM_OPEN || info->desc.family == KT_FAM_FILE;
    bool named = info->desc.path_mode[0] == KT_PATH_AT || info->desc.path_mode[1] == KT_PATH_AT;
    bool opened = r.op == KT_OP_OPEN && r.result >= 0;  // decided in the kernel from the file
    out.needs_path_filter = file_family && named && !opened;
    return out;
}

// argv as the kernel stores it: NUL-separated, the last NUL possibly missing.
void split_args(std::string_view argv, uint32_t argc, v1::Process* p) {
    size_t i = 0;
    while (i < argv.size() && static_cast<uint32_t>(p->args_size()) < argc) {
        size_t j = argv.find('\0', i);
        if (j == std::string_view::npos) j = argv.size();
        p->add_args(std::string(argv.substr(i, j - i)));
        i = j + 1;
    }
}

std::expected<Decoded, DecodeError> decode_exec(const DecodeContext& ctx, const Record& rec, v1::Event& ev) {
    if (rec.size() < sizeof(kt_exec_record)) return Err(DecodeError::kShort);
    auto r = rec.fixed<kt_exec_record>();
    auto exe = rec.str(r.exe, sizeof(r));
    auto argv = rec.str(r.argv, sizeof(r));
    auto cwd = rec.str(r.cwd, sizeof(r));
    auto filename = rec.str(r.filename, sizeof(r));
    if (!exe || !argv || !cwd || !filename) return Err(DecodeError::kBadString);

    Decoded out{.task = fill_task(ctx, r.task, ev), .lifecycle = Lifecycle::kExec};
    ev.set_module("bpf");
    ev.set_kind("event");
    ev.set_outcome("success");
    ev.set_action("executed");
    ev.add_category("process");
    ev.add_type("start");
    auto* p = ev.mutable_process();
    p->set_executable(std::string(*exe));
    p->set_working_directory(std::string(*cwd));
    split_args(*argv, r.argc, p);
    p->set_args_truncated((r.flags & KT_F_TRUNCATED) || static_cast<uint32_t>(p->args_size()) < r.argc);
    auto* f = ev.mutable_file();
    f->set_path(std::string(*exe));
    f->set_inode(r.ino);
    f->set_device(makedev(r.dev >> 20, r.dev & 0xfffff));
    ev.mutable_ktrail()->set_syscall("execve");
    return out;
}

std::expected<Decoded, DecodeError> decode_fork(const DecodeContext& ctx, const Record& rec, v1::Event& ev) {
    if (rec.size() < sizeof(kt_fork_record)) return Err(DecodeError::kShort);
    auto r = rec.fixed<kt_fork_record>();
    // The event is the child's start: the child is the process, the forking
    // task its parent.
    kt_task child = r.task;
    child.ppid = r.task.pid;
    child.parent_start_ns = r.task.start_ns;
    child.pid = r.child_pid;
    child.tid = r.child_tid;
    child.start_ns = r.child_start_ns;
    Decoded out{.task = fill_task(ctx, child, ev), .lifecycle = Lifecycle::kFork};
    ev.set_module("bpf");
    ev.set_kind("event");
    ev.set_outcome("success");
    ev.set_action("forked");
    ev.add_category("process");
    ev.add_type("start");
    return out;
}

std::expected<Decoded, DecodeError> decode_exit(const DecodeContext& ctx, const Record& rec, v1::Event& ev) {
    if (rec.size() < sizeof(kt_exit_record)) return Err(DecodeError::kShort);
    auto r = rec.fixed<kt_exit_record>();
    Decoded out{.task = fill_task(ctx, r.task, ev), .lifecycle = Lifecycle::kExit};
    ev.set_module("bpf");
    ev.set_kind("event");
    ev.set_action("exited");
    ev.add_category("process");
    ev.add_type("end");
    // Wait status: exit code in bits 8..15, killing signal in bits 0..6.
    int sig = r.exit_code & 0x7f;
    int code = (r.exit_code >> 8) & 0xff;
    ev.mutable_process()->set_exit_code(sig ? 128 + sig : code);
    ev.set_outcome(sig == 0 && code == 0 ? "success" : "failure");
    if (sig) {
        const char* name = sigabbrev_np(sig);
        ev.set_reason(name ? std::string("SIG") + name : "signal " + std::to_string(sig));
    }
    return out;
}

}  // namespace

std::string_view to_string(DecodeError e) {
    switch (e) {
    case DecodeError::kShort: return "short";
    case DecodeError::kSizeMismatch: return "size-mismatch";
    case DecodeError::kUnknownKind: return "unknown-kind";
    case DecodeError::kBadString: return "bad-string";
    case DecodeError::kUnknownSyscall: return "unknown-syscall";
    }
    return "unknown";
}

std::expected<Decoded, DecodeError> Decoder::decode(std::span<const uint8_t> bytes, v1::Event& ev) const {
    ev.Clear();
    if (bytes.size() < sizeof(kt_hdr)) return Err(DecodeError::kShort);
    Record rec(bytes);
    auto hdr = rec.fixed<kt_hdr>();
    if (hdr.size != bytes.size()) return Err(DecodeError::kSizeMismatch);
    if (ctx_.clock) ev.set_time_ns(ctx_.clock->to_unix_ns(hdr.ktime_ns));
    switch (hdr.kind) {
    case KT_KIND_SYSCALL: return decode_syscall(ctx_, rec, ev);
    case KT_KIND_EXEC: return decode_exec(ctx_, rec, ev);
    case KT_KIND_FORK: return decode_fork(ctx_, rec, ev);
    case KT_KIND_EXIT: return decode_exit(ctx_, rec, ev);
    default: return Err(DecodeError::kUnknownKind);
    }
}

}  // namespace ktrail::bpf
