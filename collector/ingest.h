// Batch ingest: everything the collector checks before a batch reaches the
// store, then one store transaction, then the Ack.
//
// check_batch() is the stateless half (no store): decode, the certificate's
// host binding, every event's sequence / agent / host, the hash chain across
// the batch and the checkpoint signatures. Ingestor::submit() adds the half
// that needs the store: the agent's registered key (trust on first use), the
// link to the stored chain, replays, and the commit.
#pragma once

#include <cstdint>
#include <expected>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "forward/batch_codec.h"
#include "ktrail/v1/collector.pb.h"
#include "spool/chain.h"
#include "store/store.h"

namespace ktrail::collector {

// The gRPC status codes ingest can end with (same numbers as grpc::StatusCode).
enum class Code : int {
    ok = 0,
    invalid_argument = 3,     // malformed: retrying the same batch cannot help
    already_exists = 6,       // a replay whose content differs from what is stored
    permission_denied = 7,    // another host's events, or another key for a known agent
    failed_precondition = 9,  // the batch does not link to the stored chain
    unavailable = 14,         // the store failed: retry later
};
const char* code_name(Code code);  // "INVALID_ARGUMENT", ...

struct IngestError {
    Code code = Code::invalid_argument;
    std::string message;  // names the agent, the host and the sequences
};

using IngestOutcome = std::expected<v1::Ack, IngestError>;

// A batch that passed the stateless checks, ready for the store.
struct CheckedBatch {
    store::AgentInfo agent;
    uint64_t first = 0;  // first_sequence
    uint64_t last = 0;   // the last event's sequence; first - 1 without events
    // The chain hash at first - 1 when known: prev_hash, or genesis for a
    // chain that starts here. Unset when the batch is anchored by first_hash
    // (the events before it were lost on the agent).
    std::optional<chain::Hash> prev;
    std::vector<store::Row> rows;  // one per event, in order, raw bytes moved in
    std::vector<store::Checkpoint> checkpoints;
    // A signed checkpoint whose head is not the chain computed here. Reported
    // by submit() after the link to the stored chain, whose break (a wrong
    // prev_hash) would explain it; a caller without a store treats it as the
    // refusal it is.
    std::optional<IngestError> head_mismatch;
    std::string where;  // "agent A (host H) sequences F-L", for messages
};

// The stateless checks. `peer_host` is the CN of the client's certificate.
std::expected<CheckedBatch, IngestError> check_batch(const v1::CompressedBatch& compressed,
                                                     std::string_view peer_host,
                                                     size_t max_raw = forward::kMaxRawBatch);
std::expected<CheckedBatch, IngestError> check_batch(v1::Batch batch, std::string_view peer_host);

class Ingestor {
public:
    explicit Ingestor(store::Store& store, size_t max_raw = forward::kMaxRawBatch) : store_(store), max_raw_(max_raw) {}

    // Thread-safe: the stateless checks run concurrently, the store part
    // one batch at a time.
    IngestOutcome submit(const v1::CompressedBatch& compressed, std::string_view peer_host);
    IngestOutcome submit(CheckedBatch checked);

    // Whoever else uses the same store from another thread (retention)
    // holds this while they do.
    std::mutex& store_mutex() { return store_mu_; }

private:
    store::Store& store_;
    size_t max_raw_;
    std::mutex store_mu_;
};

}  // namespace ktrail::collector
