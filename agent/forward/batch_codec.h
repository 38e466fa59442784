// The wire form of a Batch: its protobuf bytes compressed with zstd, with the
// raw size beside them so the receiver can bound memory before it inflates.
// Shared by the agent (compress) and the collector (decompress).
#pragma once

#include <cstddef>

#include "ktrail/v1/collector.pb.h"
#include "util/error.h"

namespace ktrail::forward {

// The largest decompressed batch the collector accepts by default.
inline constexpr size_t kMaxRawBatch = size_t{64} << 20;

Result<v1::CompressedBatch> compress(const v1::Batch& batch, int level = 3);

// Refuses (each with its own message) a raw_size over `max_raw`, data that
// is not one zstd frame, a decompressed size other than raw_size, and bytes
// that are not a ktrail.v1.Batch.
Result<v1::Batch> decompress(const v1::CompressedBatch& compressed, size_t max_raw = kMaxRawBatch);

}  // namespace ktrail::forward
