#include "forward/batch_codec.h"

#include <fmt/format.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <climits>
#include <memory>

namespace ktrail::forward {
namespace {

struct CCtxFree {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
    void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

Result<v1::CompressedBatch> compress(const v1::Batch& batch, int level) {
    // One context per thread: the forwarder compresses a batch at a time.
    static thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
    if (!cctx) return fail("zstd: cannot allocate a compression context");
    std::string raw;
    if (!batch.SerializeToString(&raw))
        return fail(fmt::format("cannot serialize a batch of {} events (over 2 GiB?)", batch.events_size()));
    v1::CompressedBatch out;
    std::string* z = out.mutable_zstd();
    z->resize(ZSTD_compressBound(raw.size()));
    size_t n = ZSTD_compressCCtx(cctx.get(), z->data(), z->size(), raw.data(), raw.size(), level);
    if (ZSTD_isError(n)) return fail(fmt::format("zstd: cannot compress a batch: {}", ZSTD_getErrorName(n)));
    z->resize(n);
    out.set_raw_size(raw.size());
    return out;
}

Result<v1::Batch> decompress(const v1::CompressedBatch& compressed, size_t max_raw) {
    static thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
    if (!dctx) return fail("zstd: cannot allocate a decompression context");
    const uint64_t raw_size = compressed.raw_size();
    if (max_raw > INT_MAX) max_raw = INT_MAX;  // protobuf parses at most 2 GiB
    if (raw_size > max_raw)
        return fail(fmt::format("batch raw_size {} is over the limit of {} bytes; send smaller batches", raw_size,
                                max_raw));
    const std::string& z = compressed.zstd();
    // A frame that states its size must state raw_size: refuse before allocating.
    unsigned long long stated = ZSTD_getFrameContentSize(z.data(), z.size());
    if (stated == ZSTD_CONTENTSIZE_ERROR) return fail("batch data is not a zstd frame");
    if (stated != ZSTD_CONTENTSIZE_UNKNOWN && stated != raw_size)
        return fail(fmt::format("batch raw_size {} does not match the zstd frame's size {}", raw_size, stated));
    auto buf = std::make_unique_for_overwrite<char[]>(raw_size ? raw_size : 1);
    size_t n = ZSTD_decompressDCtx(dctx.get(), buf.get(), raw_size, z.data(), z.size());
    if (ZSTD_isError(n)) {
        if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
            return fail(fmt::format("batch decompresses to more than its raw_size {}", raw_size));
        return fail(fmt::format("batch data is not valid zstd: {}", ZSTD_getErrorName(n)));
    }
    if (n != raw_size)
        return fail(fmt::format("batch decompresses to {} bytes, not its raw_size {}", n, raw_size));
    v1::Batch batch;
    if (!batch.ParseFromArray(buf.get(), static_cast<int>(raw_size)))
        return fail(fmt::format("batch data ({} bytes after zstd) is not a ktrail.v1.Batch", raw_size));
    return batch;
}

}  // namespace ktrail::forward
