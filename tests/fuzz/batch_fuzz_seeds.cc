// Writes batch_fuzz's seed corpus into DIR: valid batches and a few near
// misses, in both of the target's input modes (see batch_fuzz.cc).
#include <cstdio>
#include <fstream>
#include <string>

#include "batch_maker.h"
#include "forward/batch_codec.h"

using namespace ktrail;

namespace {

bool write(const std::string& dir, const std::string& name, char mode, const std::string& bytes) {
    std::ofstream out(dir + "/" + name, std::ios::binary);
    out.put(mode);
    out << bytes;
    return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    std::string dir = argv[1];
    auto a = testing::make_agent("web-1", "fuzz-agent");
    bool ok = true;

    v1::Batch first = a.next_batch(3);  // 1..3, with a checkpoint
    ok &= write(dir, "raw-valid", 1, first.SerializeAsString());
    ok &= write(dir, "wire-valid", 0, forward::compress(first)->SerializeAsString());

    v1::Batch next = a.next_batch(2, false);  // 4..5, linked by prev_hash
    ok &= write(dir, "raw-next", 1, next.SerializeAsString());

    v1::Batch cps = a.header(a.last + 1);  // checkpoints only
    a.add_checkpoint(cps, a.last, a.head);
    ok &= write(dir, "raw-checkpoint-only", 1, cps.SerializeAsString());

    a.next_batch(2, false);  // lost on the agent
    chain::Hash before = a.head;
    v1::Batch anchored = a.next_batch(2);
    anchored.clear_prev_hash();
    anchored.set_first_hash(std::string(chain::as_bytes(chain::next(before, anchored.events(0)))));
    ok &= write(dir, "raw-first-hash", 1, anchored.SerializeAsString());

    auto other = testing::make_agent("db-2", "fuzz-agent-2");
    ok &= write(dir, "raw-other-host", 1, other.next_batch(2).SerializeAsString());

    v1::Batch bad_prev = testing::make_agent("web-1", "fuzz-agent-3").next_batch(2);
    bad_prev.set_prev_hash(std::string(32, '\x42'));
    ok &= write(dir, "raw-bad-prev", 1, bad_prev.SerializeAsString());

    auto z = *forward::compress(first);
    z.set_raw_size(z.raw_size() + 1);
    ok &= write(dir, "wire-bad-size", 0, z.SerializeAsString());
    if (!ok) {
        fprintf(stderr, "cannot write the seeds into %s\n", dir.c_str());
        return 1;
    }
    return 0;
}
