// Kernel-tier harness: loads the real BPF programs, runs the syscalls under
// test in a child process, and returns the events of that child only,
// decoded and enriched as the agent does.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "enrich/enricher.h"
#include "ktrail/v1/event.pb.h"
#include "source/bpf/bpf_source.h"
#include "source/bpf/decoder.h"
#include "util/boot_clock.h"
#include "util/host_root.h"

namespace ktrail::test {

// A fresh directory (canonical path), removed with everything in it.
struct TempDir {
    TempDir();
    ~TempDir();
    std::string path;
    std::string operator/(std::string_view leaf) const { return path + "/" + std::string(leaf); }
};

class Capture {
public:
    explicit Capture(bpf::BpfOptions options = {});
    // Runs fn in a child process; the child exits with fn's return value.
    pid_t spawn(const std::function<int()>& fn);
    // Waits for the process to exit and for its exit event to arrive, then
    // returns every event of that process (fork, exec, syscalls, exit).
    std::vector<v1::Event> events_of(pid_t pid);
    // Reads everything waiting in the ring buffer.
    void drain();
    // Detaches the programs, lets the ones still running on other CPUs
    // finish, and reads what they left: the counters are final.
    void stop_and_drain();
    bpf::BpfSource& source() { return *source_; }
    uint64_t delivered() const { return delivered_; }
    uint64_t malformed() const { return malformed_; }
    const std::vector<v1::Event>& all() const { return events_; }
    int exit_status(pid_t pid) const;

private:
    BootClock clock_;
    HostRoot host_root_ = HostRoot::open();  // as ktraild: names resolved under the host's root
    std::unique_ptr<bpf::Decoder> decoder_;
    std::unique_ptr<Enricher> enricher_;
    std::unique_ptr<bpf::BpfSource> source_;
    std::vector<v1::Event> events_;
    std::vector<std::pair<pid_t, int>> statuses_;
    uint64_t delivered_ = 0;
    uint64_t malformed_ = 0;
};

// The events with this action (and, if given, file.path).
std::vector<const v1::Event*> with_action(const std::vector<v1::Event>& events, std::string_view action,
                                          std::string_view path = {});
// The single event with this action and path; fails the test otherwise.
const v1::Event& one(const std::vector<v1::Event>& events, std::string_view action, std::string_view path = {});
// Human-readable list of events for failure messages.
std::string describe(const std::vector<v1::Event>& events);

// After stop_and_drain: every record produced was delivered, so a record
// that was not delivered was never produced (never copied out).
void check_all_delivered(Capture& cap);
// Process start, exec and exit records (which filters never drop).
bool is_process_record(const v1::Event& e);

// Child-side helpers.
bool create_file(const std::string& path);  // O_CREAT, closed at once
// A 32-bit syscall from this 64-bit process: `int 0x80` uses the ia32 table
// and registers, as a 32-bit program would. Pointers must be below 4 GiB:
// low_string copies a string there.
long int80(long nr, long a = 0, long b = 0, long c = 0);
char* low_string(const std::string& s);
void drop_to_nobody();  // setresgid/setresuid 65534, in the child
constexpr uint32_t kNobody = 65534;

}  // namespace ktrail::test
