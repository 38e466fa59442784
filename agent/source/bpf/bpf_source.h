// The eBPF source: owns the loaded programs, their links and the ring buffer
// (RAII: destroying a BpfSource detaches everything; links are file
// descriptors, so a crashed agent leaves nothing attached either).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ktrail/wire.h"
#include "util/error.h"

struct ktrail_bpf;
struct bpf_link;
struct ring_buffer;

namespace ktrail::bpf {

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
    // Names of the attached programs (for logs and `status`).
    std::vector<std::string> attached() const;

private:
    BpfSource() = default;
    Result<void> configure(const BpfOptions& options);
    Result<void> attach_all();

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
};

// Checks that the kernel can run ktrail (root, BTF); the error names the fix.
Result<void> check_prerequisites();

}  // namespace ktrail::bpf
