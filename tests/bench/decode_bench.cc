// What decoding a BPF file record costs when its name must be finished in
// user space (agent/source/bpf/path_resolver.cc): the (dir, name) pairs of
// unlink, mkdir, rename and failed opens, resolved against the file system
// (`..`, symlinks), next to the same records of a process in another mount
// namespace (lexical only) as the baseline. Opens that succeed are not here:
// their paths come resolved from the kernel.
//   decode_bench [DIR [CALLS]]   (default /var/tmp, 200000 per case)
// A tree is made in a fresh directory under DIR and removed at the end.
// Prints, in ns per decode (each includes one clock read, see timer_overhead_ns):
//   decode_bench calls=N
//   timer_overhead_ns median=.. p99=..
//   decode_CASE_ns median=.. p99=.. mean=..
// Exits non-zero when the setup fails or a path comes out other than expected.
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "ktrail/v1/event.pb.h"
#include "ktrail/wire.h"
#include "source/bpf/decoder.h"
#include "source/bpf/syscall_table.h"
#include "util/host_root.h"

namespace {

namespace fs = std::filesystem;
using namespace ktrail::bench;

constexpr size_t kWarmup = 20'000;

// A syscall record: the fixed part, then its strings.
struct Record {
    kt_syscall_record fixed{};
    std::vector<uint8_t> tail;
    Record(long nr, int64_t result, uint32_t mnt_ns) {
        fixed.hdr.kind = KT_KIND_SYSCALL;
        fixed.task.pid = fixed.task.tid = 4'200'001;
        fixed.task.ppid = 1;
        fixed.task.mnt_ns = mnt_ns;
        memcpy(fixed.task.comm, "bench", 6);
        fixed.syscall_nr = static_cast<uint32_t>(nr);
        fixed.op = ktrail::bpf::find_syscall(static_cast<uint32_t>(nr))->desc.op;
        fixed.result = result;
    }
    kt_str str(const std::string& s) {
        kt_str out{static_cast<uint16_t>(sizeof(fixed) + tail.size()), static_cast<uint16_t>(s.size())};
        tail.insert(tail.end(), s.begin(), s.end());
        tail.push_back(0);
        return out;
    }
    std::vector<uint8_t> bytes() {
        fixed.hdr.size = static_cast<uint16_t>(sizeof(fixed) + tail.size());
        std::vector<uint8_t> b(sizeof(fixed) + tail.size());
        memcpy(b.data(), &fixed, sizeof(fixed));
        if (!tail.empty()) memcpy(b.data() + sizeof(fixed), tail.data(), tail.size());
        return b;
    }
};

struct Case {
    std::string name;
    std::vector<uint8_t> rec;
    std::string want;  // file.path
};

std::vector<Case> cases(const std::string& d, uint32_t host_ns, uint32_t other_ns) {
    std::vector<Case> out;
    auto one = [&](const std::string& name, long nr, int64_t result, uint32_t ns, const std::string& base,
                   const std::string& leaf, uint64_t arg0, const std::string& want) {
        Record r(nr, result, ns);
        if (!base.empty()) r.fixed.path[0].base = r.str(base);
        r.fixed.path[0].name = r.str(leaf);
        r.fixed.arg[0] = arg0;
        out.push_back({name, r.bytes(), want});
    };
    const std::string deep = d + "/a/b/c/d";
    // unlinkat(dirfd, "file"): the directory from the kernel, a plain leaf.
    one("unlink_leaf", SYS_unlinkat, 0, host_ns, deep, "gone", 0, deep + "/gone");
    // The leaf through `..`.
    one("unlink_dotdot", SYS_unlinkat, 0, host_ns, d + "/a/b/c", "../c/d/gone", 0, deep + "/gone");
    // Through a symlinked directory.
    one("unlink_symlink_dir", SYS_unlinkat, 0, host_ns, d, "link/c/d/gone", 0, deep + "/gone");
    // openat that failed, O_RDONLY through a final symlink: the whole path followed.
    one("open_failed_follow", SYS_openat, -13, host_ns, d, "link/c/d/flink", 0, deep + "/file");
    // Absolute names, no base.
    one("mkdir_absolute", SYS_mkdir, 0, host_ns, "", deep + "/../d/new", 0, deep + "/new");
    // Another mount namespace: lexical only (the baseline).
    one("unlink_symlink_dir_lexical", SYS_unlinkat, 0, other_ns, d, "link/c/d/gone", 0, d + "/link/c/d/gone");
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string parent = argc > 1 ? argv[1] : "/var/tmp";
    size_t calls = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200'000;
    std::string tmpl = parent + "/ktrail-decode-bench-XXXXXX";
    if (!mkdtemp(tmpl.data())) {
        perror("decode_bench: mkdtemp");
        return 1;
    }
    std::string d = fs::canonical(tmpl).string();
    fs::create_directories(d + "/a/b/c/d");
    std::ofstream(d + "/a/b/c/d/file") << "x";
    fs::create_symlink(d + "/a/b/c/d/file", d + "/a/b/c/d/flink");
    fs::create_directory_symlink(d + "/a/b", d + "/link");

    // As ktraild: under the host's root (init's, or what stands for it).
    ktrail::HostRoot host = ktrail::HostRoot::open();
    if (!host.note().empty()) fprintf(stderr, "decode_bench: %s\n", host.note().c_str());
    uint32_t host_ns = host.mnt_ns();
    if (!host_ns || host.fd() < 0) {
        fprintf(stderr, "decode_bench: cannot open the host's root\n");
        return 1;
    }
    ktrail::bpf::Decoder decoder({host_ns, host.fd(), nullptr});
    int bad = 0;
    std::vector<uint32_t> timer(100'000);
    for (auto& t : timer) {
        auto a = Clock::now();
        auto b = Clock::now();
        t = ns_between(a, b);
    }
    Summary tm = summarize(std::move(timer));
    printf("decode_bench calls=%zu\n", calls);
    printf("timer_overhead_ns median=%llu p99=%llu\n", static_cast<unsigned long long>(tm.median),
           static_cast<unsigned long long>(tm.p99));
    ktrail::v1::Event ev;
    for (const Case& c : cases(d, host_ns, host_ns + 1)) {
        std::vector<uint32_t> ns(calls);
        for (size_t i = 0; i < kWarmup + calls; ++i) {
            auto t0 = Clock::now();
            auto r = decoder.decode(c.rec, ev);
            auto t1 = Clock::now();
            if (i == 0 && (!r || ev.file().path() != c.want)) {
                fprintf(stderr, "decode_bench: %s: got '%s', want '%s'\n", c.name.c_str(), ev.file().path().c_str(),
                        c.want.c_str());
                ++bad;
            }
            if (i >= kWarmup) ns[i - kWarmup] = ns_between(t0, t1);
        }
        Summary s = summarize(std::move(ns));
        printf("decode_%s_ns median=%llu p99=%llu mean=%.1f\n", c.name.c_str(),
               static_cast<unsigned long long>(s.median), static_cast<unsigned long long>(s.p99), s.mean);
    }
    std::error_code ec;
    fs::remove_all(d, ec);
    return bad ? 1 : 0;
}
