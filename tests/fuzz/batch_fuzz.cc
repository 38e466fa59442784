// libFuzzer target: what an agent (or anyone holding an agent certificate)
// can send the collector. The first byte picks the layer the rest feeds:
//   0: the wire message, a serialized CompressedBatch (zstd framing, sizes)
//   1: a serialized Batch, which the harness zstd-compresses, so that
//      mutations reach the Batch and Event parsing and every ingest check
// Either way it goes through Ingestor::submit over an in-memory SQLite store,
// as the gRPC handler calls it, peer host "web-1".
#include <google/protobuf/stubs/logging.h>
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "ingest.h"
#include "store/store.h"

namespace {

ktrail::store::Store* g_store = nullptr;
ktrail::collector::Ingestor* g_ingestor = nullptr;
bool g_verbose = false;  // BATCH_FUZZ_VERBOSE=1: print each outcome (to check seeds)

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // Protobuf logs every invalid UTF-8 string it refuses; the fuzzer makes many.
    google::protobuf::SetLogHandler(nullptr);
    g_verbose = getenv("BATCH_FUZZ_VERBOSE") != nullptr;
    auto s = ktrail::store::open_store("sqlite::memory:");
    if (!s) {
        fprintf(stderr, "batch_fuzz: %s\n", s.error().message.c_str());
        abort();
    }
    g_store = s->release();
    g_ingestor = new ktrail::collector::Ingestor(*g_store, 1 << 20);  // 1 MiB: keep each input cheap
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t mode = data[0] & 1;
    ++data;
    --size;
    ktrail::v1::CompressedBatch wire;
    if (mode == 0) {
        if (!wire.ParseFromArray(data, static_cast<int>(size))) return 0;
    } else {
        std::string z(ZSTD_compressBound(size), '\0');
        size_t n = ZSTD_compress(z.data(), z.size(), data, size, 1);
        if (ZSTD_isError(n)) abort();
        z.resize(n);
        wire.set_zstd(std::move(z));
        wire.set_raw_size(size);
    }
    auto out = g_ingestor->submit(wire, "web-1");
    if (g_verbose)
        fprintf(stderr, "batch_fuzz: %s\n",
                out ? ("ack through " + std::to_string(out->committed_through()) + ", " +
                       std::to_string(out->inserted()) + " inserted")
                          .c_str()
                    : (std::string(ktrail::collector::code_name(out.error().code)) + ": " + out.error().message)
                          .c_str());
    if (out) {
        // An accepted batch is acked for what it holds, and only that.
        if (out->inserted() + out->duplicates() > (1u << 20)) abort();
    } else if (out.error().message.empty() || out.error().code == ktrail::collector::Code::ok) {
        abort();  // every refusal says why, with a real code
    }
    return 0;
}
