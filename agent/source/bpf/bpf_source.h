// The eBPF source: owns the loaded programs, their links and the ring buffer
// (RAII: destroying a BpfSource detaches everything; links are file
// descriptors, so a crashed agent leaves nothing attached either).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ktrail/wire.h"
#include "util/error.h"

struct ktrail_bpf;
struct bpf_link;
struct ring_buffer;

namespace ktrail::bpf {

struct PathFilterEntry;

struct BpfOptions {
    size_t ringbuf_bytes = 16u << 20;  // power of two, >= page size
    std::vector<std::string> watch;    // capture here, reads included
    std::vector<std::string> exclude;  // capture nothing here
    bool watched_only = false;         // capture only under `watch`
    std::vector<pid_t> exclude_pids;   // besides the agent itself
    std::vector<std::string> disable;  // kinds not captured at all (see kKinds)
};

// The kinds --disable takes: exec, fork, exit (process records) and the
// syscall families file, cred, module.
inline constexpr const char* kKinds[] = {"exec", "fork", "exit", "file", "cred", "module"};

// Produced / dropped / filtered per record kind, summed over CPUs.
struct KernelCounters {
    std::array<std::array<uint64_t, KT_CNT__MAX>, KT_KIND__MAX> by_kind{};
    uint64_t total(kt_counter c) const;
};

// What the agent's rules drop, stopped in the kernel so it is never copied
// out. Applied on top of the BpfOptions given to start(), which stay.
struct KernelDrops {
    // (The {} let callers name only the fields they set: {.uids = {65534}}.)
    std::vector<std::string> paths{};        // path prefixes: nothing opened under them (as --exclude)
    std::vector<std::string> syscalls{};     // syscall_table() names (x86_64 and ia32 entries of the name)
    std::vector<std::string> executables{};  // absolute paths, stat'ed when applied; missing ones skipped
    std::vector<uint32_t> uids{};            // real uids
    std::vector<std::string> watch{};        // and where reads are captured too (as --watch)
    bool empty() const {
        return paths.empty() && syscalls.empty() && executables.empty() && uids.empty() && watch.empty();
    }
};

using RecordHandler = std::function<void(std::span<const uint8_t>)>;

class BpfSource {
public:
    // Loads and attaches every program. Fails with a one-line cause and fix.
    static Result<std::unique_ptr<BpfSource>> start(const BpfOptions& options, RecordHandler on_record);
    ~BpfSource();
    BpfSource(const BpfSource&) = delete;
    BpfSource& operator=(const BpfSource&) = delete;

    // The fd to wait on (epoll); readable once enough data is waiting.
    int wait_fd() const;
    // Waits up to timeout_ms, then hands every waiting record to the handler.
    // Returns the number of records consumed.
    Result<int> poll(int timeout_ms);
    // Detaches the programs: nothing more is produced; waiting records stay readable.
    void detach();
    KernelCounters counters() const;
    // Bytes written to the ring buffer and not yet consumed, and its size
    // (the producer and consumer positions, read through read-only maps of
    // their pages: libbpf 1.1 has no call for it).
    struct RingFill {
        uint64_t used = 0, size = 0;
    };
    RingFill ring_fill() const;
    // Names of the attached programs (for logs and `status`).
    std::vector<std::string> attached() const;

    // Replaces the drops applied before (none at start) with `drops`, while
    // capture runs. Only what differs is changed, in an order (path prefixes:
    // new before stale) that never stops a record neither set drops; records
    // that only one of them drops may or may not be produced meanwhile.
    // Executables are identified by (dev, inode) now: replace a binary and
    // apply again. Unknown syscall names and missing executables are skipped
    // with a warning. On error (a bad path, too many entries: nothing
    // changed; a map update failed: part changed) drops() is not updated, and
    // the kernel filters a mix of both sets; applying again repairs it.
    Result<void> apply_drops(const KernelDrops& drops);
    // The drops last applied successfully, as given.
    const KernelDrops& drops() const { return drops_; }

private:
    BpfSource() = default;
    Result<void> configure(const BpfOptions& options);
    Result<void> attach_all();
    // Makes kt_path_filter hold `entries`, changing only what differs; sets
    // *changed when anything did.
    Result<void> sync_path_filter(const std::vector<PathFilterEntry>& entries, bool* changed);
    Result<void> sync_dropped_syscalls(const std::set<uint32_t>& slots);
    Result<void> sync_excluded_exes(const std::set<std::pair<uint64_t, uint32_t>>& exes);
    Result<void> sync_excluded_uids(const std::set<uint32_t>& uids);
    // Sets kt_config's has_* flags from what the maps hold and, when the path
    // filter changed, bumps its generation: cached directory verdicts go.
    void publish_config(bool filter_changed);

    struct SkelDeleter {
        void operator()(ktrail_bpf* s) const;
    };
    struct LinkDeleter {
        void operator()(bpf_link* l) const;
    };
    struct RingDeleter {
        void operator()(ring_buffer* r) const;
    };
    std::unique_ptr<ktrail_bpf, SkelDeleter> skel_;
    std::vector<std::pair<std::string, std::unique_ptr<bpf_link, LinkDeleter>>> links_;
    std::unique_ptr<ring_buffer, RingDeleter> ring_;
    RecordHandler on_record_;
    // The ring's consumer and producer position pages, mapped read-only.
    const volatile uint64_t* ring_consumer_ = nullptr;
    const volatile uint64_t* ring_producer_ = nullptr;
    uint64_t ring_size_ = 0;

    // The options given to start() (drops come on top) and what the kernel
    // maps hold now, so a re-apply changes only what differs.
    BpfOptions base_;
    std::vector<int> off_families_;                       // disabled kt_family values
    KernelDrops drops_;
    std::map<std::string, kt_prefix_value> filter_;       // kt_path_filter
    std::set<uint32_t> dropped_slots_;                    // kt_syscalls entries with dropped = 1
    std::set<std::pair<uint64_t, uint32_t>> exes_;        // kt_excluded_exes (ino, dev)
    std::set<uint32_t> uids_;                             // kt_excluded_uids
    kt_config* live_config_ = nullptr;                    // kt_config_map, mmap'ed
    size_t live_config_len_ = 0;
};

// Checks that the kernel can run ktrail (root, BTF); the error names the fix.
Result<void> check_prerequisites();

}  // namespace ktrail::bpf
