#include "source/bpf/bpf_source.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <fmt/format.h>
#include <mutex>

#include "ktrail_bpf.skel.h"
#include "source/bpf/path_filter.h"
#include "source/bpf/syscall_table.h"

namespace ktrail::bpf {
namespace {

// libbpf's messages: debug chatter to spdlog's debug level; warnings kept so
// that a failed load can say why (the verifier's last lines).
std::string g_last_libbpf_warning;
std::mutex g_libbpf_mu;

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    std::string line(n > 0 ? n : 0, '\0');
    if (n > 0) vsnprintf(line.data(), line.size() + 1, fmt, args);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    if (level == LIBBPF_DEBUG) {
        spdlog::debug("libbpf: {}", line);
    } else {
        std::lock_guard lock(g_libbpf_mu);
        g_last_libbpf_warning = line;
        spdlog::debug("libbpf: {}", line);
    }
    return 0;
}

std::string last_libbpf_warning() {
    std::lock_guard lock(g_libbpf_mu);
    return g_last_libbpf_warning;
}

int on_ring_record(void* ctx, void* data, size_t size) {
    auto* handler = static_cast<RecordHandler*>(ctx);
    (*handler)(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
    return 0;
}

Result<void> map_update(bpf_map* map, const void* key, const void* value, const char* what) {
    if (bpf_map_update_elem(bpf_map__fd(map), key, value, BPF_ANY) != 0)
        return fail(fmt::format("cannot fill the BPF map {}: {}", what, strerror(errno)));
    return {};
}

Result<void> map_delete(bpf_map* map, const void* key, const char* what) {
    if (bpf_map_delete_elem(bpf_map__fd(map), key) != 0 && errno != ENOENT)
        return fail(fmt::format("cannot remove an entry from the BPF map {}: {}", what, strerror(errno)));
    return {};
}

kt_prefix_key prefix_key(const std::string& prefix) {
    kt_prefix_key key{};
    key.prefixlen = static_cast<uint32_t>(prefix.size() * 8);
    memcpy(key.path, prefix.data(), std::min(prefix.size(), sizeof(key.path)));
    return key;
}

bool same_value(const kt_prefix_value& a, const kt_prefix_value& b) {
    return a.verdict == b.verdict && a.len == b.len && a.flags == b.flags;
}

kt_exe_key exe_key(const std::pair<uint64_t, uint32_t>& exe) {
    kt_exe_key key{};
    key.ino = exe.first;
    key.dev = exe.second;
    return key;
}


}  // namespace

uint64_t KernelCounters::total(kt_counter c) const {
    uint64_t t = 0;
    for (const auto& k : by_kind) t += k[c];
    return t;
}

void BpfSource::SkelDeleter::operator()(ktrail_bpf* s) const { ktrail_bpf__destroy(s); }
void BpfSource::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }
void BpfSource::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

Result<void> check_prerequisites() {
    if (geteuid() != 0)
        return fail("ktraild needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) to load its BPF programs: run it with sudo");
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return fail("this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): ktrail needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
    return {};
}

Result<std::unique_ptr<BpfSource>> BpfSource::start(const BpfOptions& options, RecordHandler on_record) {
    if (auto ok = check_prerequisites(); !ok) return std::unexpected(ok.error());
    libbpf_set_print(libbpf_log);

    std::unique_ptr<BpfSource> src(new BpfSource());
    src->on_record_ = std::move(on_record);
    src->skel_.reset(ktrail_bpf__open());
    if (!src->skel_) return fail(fmt::format("cannot open the BPF object: {}", strerror(errno)));

    size_t rb = options.ringbuf_bytes;
    if (rb < 4096 || (rb & (rb - 1)) != 0)
        return fail(fmt::format("ring buffer size {} must be a power of two of at least 4096 bytes", rb));
    bpf_map__set_max_entries(src->skel_->maps.kt_events, rb);

    if (int err = ktrail_bpf__load(src->skel_.get()); err != 0) {
        return fail(fmt::format("the kernel refused ktrail's BPF programs ({}): {}; run with --log-level debug for the verifier log",
                                strerror(-err), last_libbpf_warning()));
    }
    if (auto ok = src->configure(options); !ok) return std::unexpected(ok.error());
    if (auto ok = src->attach_all(); !ok) return std::unexpected(ok.error());

    src->ring_.reset(ring_buffer__new(bpf_map__fd(src->skel_->maps.kt_events), on_ring_record,
                                      &src->on_record_, nullptr));
    if (!src->ring_) return fail(fmt::format("cannot map the BPF ring buffer: {}", strerror(errno)));
    // For the fill gauge only: without these maps it reads 0 of 0.
    int fd = bpf_map__fd(src->skel_->maps.kt_events);
    long page = sysconf(_SC_PAGESIZE);
    void* cons = mmap(nullptr, static_cast<size_t>(page), PROT_READ, MAP_SHARED, fd, 0);
    void* prod = mmap(nullptr, static_cast<size_t>(page), PROT_READ, MAP_SHARED, fd, page);
    if (cons != MAP_FAILED && prod != MAP_FAILED) {
        src->ring_consumer_ = static_cast<const volatile uint64_t*>(cons);
        src->ring_producer_ = static_cast<const volatile uint64_t*>(prod);
        src->ring_size_ = rb;
    } else {
        if (cons != MAP_FAILED) munmap(cons, static_cast<size_t>(page));
        if (prod != MAP_FAILED) munmap(prod, static_cast<size_t>(page));
        spdlog::debug("ring buffer positions not mapped ({}): its fill is not reported", strerror(errno));
    }
    return src;
}

BpfSource::RingFill BpfSource::ring_fill() const {
    if (!ring_consumer_) return {};
    uint64_t consumed = __atomic_load_n(ring_consumer_, __ATOMIC_ACQUIRE);
    uint64_t produced = __atomic_load_n(ring_producer_, __ATOMIC_ACQUIRE);
    return {produced >= consumed ? produced - consumed : 0, ring_size_};
}

Result<void> BpfSource::configure(const BpfOptions& options) {
    auto* maps = &skel_->maps;
    base_ = options;
    kt_config cfg{};
    cfg.agent_pid = static_cast<uint32_t>(getpid());
    cfg.watched_only = options.watched_only ? 1 : 0;
    cfg.has_excluded_pids = !options.exclude_pids.empty();
    for (const auto& kind : options.disable) {
        if (kind == "exec") cfg.disabled |= KT_DISABLE_EXEC;
        else if (kind == "fork") cfg.disabled |= KT_DISABLE_FORK;
        else if (kind == "exit") cfg.disabled |= KT_DISABLE_EXIT;
        else if (kind == "file") off_families_.insert(off_families_.end(), {KT_FAM_OPEN, KT_FAM_FILE});
        else if (kind == "cred") off_families_.push_back(KT_FAM_CRED);
        else if (kind == "module") off_families_.push_back(KT_FAM_MODULE);
        else return fail(fmt::format("unknown event kind '{}': use exec, fork, exit, file, cred or module", kind));
    }
    if (cfg.disabled & KT_DISABLE_EXEC) off_families_.push_back(KT_FAM_EXEC_FAIL);
    // Wake the reader when a quarter of the buffer is waiting; it polls on a
    // short timer for anything less.
    cfg.wakeup_bytes = options.ringbuf_bytes / 4;

    for (const auto& info : syscall_table()) {
        // A family that is off has no descriptors: the dispatcher returns at once.
        if (std::ranges::find(off_families_, info.desc.family) != off_families_.end()) continue;
        uint32_t nr = info.nr;
        if (auto ok = map_update(maps->kt_syscalls, &nr, &info.desc, "kt_syscalls"); !ok) return ok;
    }
    const std::pair<kt_family, bpf_program*> families[] = {
        {KT_FAM_OPEN, skel_->progs.kt_file_open},       {KT_FAM_FILE, skel_->progs.kt_file_change},
        {KT_FAM_CRED, skel_->progs.kt_cred_change},     {KT_FAM_MODULE, skel_->progs.kt_module_change},
        {KT_FAM_EXEC_FAIL, skel_->progs.kt_exec_refused},
    };
    for (const auto& [family, prog] : families) {
        uint32_t key = family;
        int fd = bpf_program__fd(prog);
        if (auto ok = map_update(maps->kt_family_progs, &key, &fd, "kt_family_progs"); !ok) return ok;
    }
    auto filter = build_path_filter(options.watch, options.exclude);
    if (!filter) return std::unexpected(filter.error());
    bool changed = false;
    if (auto ok = sync_path_filter(*filter, &changed); !ok) return ok;
    cfg.has_path_filter = !filter_.empty();
    uint8_t one = 1;
    for (pid_t pid : options.exclude_pids) {
        uint32_t key = static_cast<uint32_t>(pid);
        if (auto ok = map_update(maps->kt_excluded_pids, &key, &one, "kt_excluded_pids"); !ok) return ok;
    }
    uint32_t zero = 0;
    if (auto ok = map_update(maps->kt_config_map, &zero, &cfg, "kt_config_map"); !ok) return ok;

    // Drops change single fields of the config while the programs run.
    size_t len = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* live = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(maps->kt_config_map), 0);
    if (live == MAP_FAILED) return fail(fmt::format("cannot map the BPF map kt_config_map: {}", strerror(errno)));
    live_config_ = static_cast<kt_config*>(live);
    live_config_len_ = len;
    return {};
}

Result<void> BpfSource::sync_path_filter(const std::vector<PathFilterEntry>& entries, bool* changed) {
    auto* map = skel_->maps.kt_path_filter;
    std::map<std::string, kt_prefix_value> want;
    for (const auto& e : entries) want.emplace(e.prefix, e.value);
    // The verdict of a path is that of its longest prefix in the trie. New
    // and changed entries go in longest first, then stale ones go shortest
    // first: a lookup meanwhile finds either the old or the new filter's
    // verdict for its path (and the verdict that directory's files share),
    // never a mix that would stop what neither stops.
    std::vector<std::string> upserts;
    for (const auto& [prefix, value] : want) {
        auto it = filter_.find(prefix);
        if (it == filter_.end() || !same_value(it->second, value)) upserts.push_back(prefix);
    }
    std::ranges::stable_sort(upserts, std::greater<>{}, &std::string::size);
    for (const auto& prefix : upserts) {
        kt_prefix_key key = prefix_key(prefix);
        if (auto ok = map_update(map, &key, &want[prefix], "kt_path_filter"); !ok) return ok;
        filter_[prefix] = want[prefix];
        *changed = true;
    }
    std::vector<std::string> stale;
    for (const auto& [prefix, value] : filter_)
        if (!want.contains(prefix)) stale.push_back(prefix);
    std::ranges::stable_sort(stale, std::less<>{}, &std::string::size);
    for (const auto& prefix : stale) {
        kt_prefix_key key = prefix_key(prefix);
        if (auto ok = map_delete(map, &key, "kt_path_filter"); !ok) return ok;
        filter_.erase(prefix);
        *changed = true;
    }
    return {};
}

Result<void> BpfSource::sync_dropped_syscalls(const std::set<uint32_t>& slots) {
    // Each entry changes in its `dropped` byte alone, so a program reading it
    // meanwhile sees the old or the new descriptor, whole.
    auto set = [&](uint32_t nr, bool dropped) -> Result<void> {
        const SyscallInfo* info = find_syscall(nr);
        if (!info) return {};
        kt_syscall_desc desc = info->desc;
        desc.dropped = dropped ? 1 : 0;
        if (auto ok = map_update(skel_->maps.kt_syscalls, &nr, &desc, "kt_syscalls"); !ok) return ok;
        if (dropped) dropped_slots_.insert(nr);
        else dropped_slots_.erase(nr);
        return {};
    };
    for (uint32_t nr : slots)
        if (!dropped_slots_.contains(nr))
            if (auto ok = set(nr, true); !ok) return ok;
    std::vector<uint32_t> stale;
    std::ranges::set_difference(dropped_slots_, slots, std::back_inserter(stale));
    for (uint32_t nr : stale)
        if (auto ok = set(nr, false); !ok) return ok;
    return {};
}

// Excluded executables and uids are independent keys: lifting a stale one
// first loses nothing (it only lets through what the new set lets through
// too) and keeps the map within its size whatever the overlap.
Result<void> BpfSource::sync_excluded_exes(const std::set<std::pair<uint64_t, uint32_t>>& exes) {
    auto* map = skel_->maps.kt_excluded_exes;
    std::vector<std::pair<uint64_t, uint32_t>> stale;
    std::ranges::set_difference(exes_, exes, std::back_inserter(stale));
    for (const auto& exe : stale) {
        kt_exe_key key = exe_key(exe);
        if (auto ok = map_delete(map, &key, "kt_excluded_exes"); !ok) return ok;
        exes_.erase(exe);
    }
    uint8_t one = 1;
    for (const auto& exe : exes) {
        if (exes_.contains(exe)) continue;
        kt_exe_key key = exe_key(exe);
        if (auto ok = map_update(map, &key, &one, "kt_excluded_exes"); !ok) return ok;
        exes_.insert(exe);
    }
    return {};
}

Result<void> BpfSource::sync_excluded_uids(const std::set<uint32_t>& uids) {
    auto* map = skel_->maps.kt_excluded_uids;
    std::vector<uint32_t> stale;
    std::ranges::set_difference(uids_, uids, std::back_inserter(stale));
    for (uint32_t uid : stale) {
        if (auto ok = map_delete(map, &uid, "kt_excluded_uids"); !ok) return ok;
        uids_.erase(uid);
    }
    uint8_t one = 1;
    for (uint32_t uid : uids) {
        if (uids_.contains(uid)) continue;
        if (auto ok = map_update(map, &uid, &one, "kt_excluded_uids"); !ok) return ok;
        uids_.insert(uid);
    }
    return {};
}

void BpfSource::publish_config(bool filter_changed) {
    // Single bytes, and an atomic add that a program's concurrent bump
    // (a rename) cannot undo, into the map the programs read.
    __atomic_store_n(&live_config_->has_path_filter, filter_.empty() ? 0 : 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&live_config_->has_excluded_exes, exes_.empty() ? 0 : 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&live_config_->has_excluded_uids, uids_.empty() ? 0 : 1, __ATOMIC_SEQ_CST);
    // After every map change: a verdict cached under the new generation was
    // computed from the new filter.
    if (filter_changed) __atomic_fetch_add(&live_config_->generation, 1, __ATOMIC_SEQ_CST);
}

Result<void> BpfSource::apply_drops(const KernelDrops& drops) {
    // Work everything out first: a bad entry changes nothing.
    std::vector<std::string> exclude = base_.exclude;
    exclude.insert(exclude.end(), drops.paths.begin(), drops.paths.end());
    std::vector<std::string> watch = base_.watch;
    watch.insert(watch.end(), drops.watch.begin(), drops.watch.end());
    auto filter = build_path_filter(watch, exclude);
    if (!filter) return fail(fmt::format("cannot set the rules' paths in the kernel: {}", filter.error().message));

    std::set<uint32_t> slots;
    for (const auto& name : drops.syscalls) {
        bool known = false;
        for (const auto& info : syscall_table()) {
            if (info.name != name) continue;
            known = true;
            // A family that is off has no descriptors to drop.
            if (std::ranges::find(off_families_, info.desc.family) == off_families_.end()) slots.insert(info.nr);
        }
        if (!known) spdlog::warn("not dropping syscall '{}' in the kernel: ktrail does not trace it", name);
    }

    std::set<std::pair<uint64_t, uint32_t>> exes;
    for (const auto& path : drops.executables) {
        struct stat st{};
        if (stat(path.c_str(), &st) != 0) {
            spdlog::warn("not dropping executable {} in the kernel: {}", path, strerror(errno));
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            spdlog::warn("not dropping executable {} in the kernel: not a regular file", path);
            continue;
        }
        // The kernel's dev_t: major << 20 | minor.
        exes.emplace(st.st_ino, (major(st.st_dev) << 20) | minor(st.st_dev));
    }
    std::set<uint32_t> uids(drops.uids.begin(), drops.uids.end());
    if (exes.size() > KT_EXCLUDED_MAX || uids.size() > KT_EXCLUDED_MAX)
        return fail(fmt::format("cannot drop {} executables and {} users in the kernel: at most {} of each",
                                exes.size(), uids.size(), KT_EXCLUDED_MAX));

    bool filter_changed = false;
    auto applied = [&]() -> Result<void> {
        if (auto ok = sync_path_filter(*filter, &filter_changed); !ok) return ok;
        if (auto ok = sync_dropped_syscalls(slots); !ok) return ok;
        if (auto ok = sync_excluded_exes(exes); !ok) return ok;
        return sync_excluded_uids(uids);
    }();
    // Even after a failure: the flags must match what the maps now hold.
    publish_config(filter_changed);
    if (!applied) return applied;
    drops_ = drops;
    return {};
}

Result<void> BpfSource::attach_all() {
    bpf_program* progs[] = {skel_->progs.kt_exec, skel_->progs.kt_fork, skel_->progs.kt_exit,
                            skel_->progs.kt_sys_exit};
    for (bpf_program* prog : progs) {
        bpf_link* link = bpf_program__attach(prog);
        if (!link) {
            return fail(fmt::format("the kernel refused to attach {} ({}): ktrail needs BPF raw and BTF tracepoints",
                                    bpf_program__name(prog), strerror(errno)));
        }
        links_.emplace_back(bpf_program__name(prog), std::unique_ptr<bpf_link, LinkDeleter>(link));
    }
    return {};
}

BpfSource::~BpfSource() {
    if (live_config_) munmap(live_config_, live_config_len_);
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (ring_consumer_) munmap(const_cast<uint64_t*>(ring_consumer_), page);
    if (ring_producer_) munmap(const_cast<uint64_t*>(ring_producer_), page);
    ring_.reset();
    links_.clear();
    skel_.reset();
}

int BpfSource::wait_fd() const { return ring_buffer__epoll_fd(ring_.get()); }

Result<int> BpfSource::poll(int timeout_ms) {
    // Producers skip most wake-ups, so whatever epoll says, drain the ring.
    int n = ring_buffer__poll(ring_.get(), timeout_ms);
    if (n < 0 && n != -EINTR) return fail(fmt::format("reading the BPF ring buffer failed: {}", strerror(-n)));
    int m = ring_buffer__consume(ring_.get());
    if (m < 0 && m != -EINTR) return fail(fmt::format("reading the BPF ring buffer failed: {}", strerror(-m)));
    return std::max(n, 0) + std::max(m, 0);
}

void BpfSource::detach() { links_.clear(); }

KernelCounters BpfSource::counters() const {
    KernelCounters out;
    int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> values(ncpu > 0 ? ncpu : 1);
    int fd = bpf_map__fd(skel_->maps.kt_counters);
    for (uint32_t kind = 0; kind < KT_KIND__MAX; ++kind) {
        for (uint32_t c = 0; c < KT_CNT__MAX; ++c) {
            uint32_t idx = kind * KT_CNT__MAX + c;
            if (bpf_map_lookup_elem(fd, &idx, values.data()) != 0) continue;
            uint64_t sum = 0;
            for (uint64_t v : values) sum += v;
            out.by_kind[kind][c] = sum;
        }
    }
    return out;
}

std::vector<std::string> BpfSource::attached() const {
    std::vector<std::string> names;
    for (const auto& [name, link] : links_) names.push_back(name);
    return names;
}

}  // namespace ktrail::bpf
