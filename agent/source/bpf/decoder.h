// Decodes ring-buffer records into Events. Every size and string bound is
// checked against the record: a malformed record is refused with a reason
// (the caller counts it), never read past.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>

#include "enrich/task_ref.h"
#include "ktrail/v1/event.pb.h"
#include "util/boot_clock.h"

namespace ktrail::bpf {

enum class DecodeError {
    kShort,          // smaller than its header or its kind's fixed part
    kSizeMismatch,   // header size differs from the record's
    kUnknownKind,
    kBadString,      // a string lies outside the record
    kUnknownSyscall, // syscall number or op not in the table
};
std::string_view to_string(DecodeError e);

// What the decoder learnt that is not part of the event.
struct Decoded {
    // A file event whose paths were given as names: the kernel could not
    // filter it by path, the agent must (AgentPathFilter).
    bool needs_path_filter = false;
    TaskRef task;  // the acting process (the child, for a fork)
    Lifecycle lifecycle = Lifecycle::kNone;
};

struct DecodeContext {
    // Names passed by processes in the host's mount namespace are resolved
    // on disk, under the host's root (util/host_root.h: ktraild's own
    // namespace may differ); other processes' names, or every name when
    // host_root_fd is kLexicalOnly, lexically (source/bpf/path_resolver.h).
    uint32_t host_mnt_ns = 0;
    int host_root_fd = -1;  // not owned
    const BootClock* clock = nullptr;
};

class Decoder {
public:
    explicit Decoder(DecodeContext ctx) : ctx_(std::move(ctx)) {}
    // Fills `ev` (cleared first) from one record.
    std::expected<Decoded, DecodeError> decode(std::span<const uint8_t> rec, v1::Event& ev) const;

private:
    DecodeContext ctx_;
};

}  // namespace ktrail::bpf
