#include "ingest.h"

#include <fmt/format.h>

#include <limits>
#include <system_error>
#include <thread>
#include <utility>

namespace ktrail::collector {
namespace {

std::unexpected<IngestError> refuse(Code code, std::string message) {
    return std::unexpected(IngestError{code, std::move(message)});
}

// A name the peer chose, fit for a message and a log line: control
// characters escaped (no forged log lines), at most 100 bytes.
std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char ch : s.substr(0, 100)) {
        if (ch < 0x20 || ch == 0x7f) out += fmt::format("\\x{:02x}", ch);
        else out += static_cast<char>(ch);
    }
    if (s.size() > 100) out += "...";
    return out;
}

// From this many events on, a batch is parsed by two threads.
constexpr uint64_t kParallelEvents = 256;

// Enough of a hash to tell two apart in a message.
std::string short_hex(const chain::Hash& h) { return chain::to_hex(h).substr(0, 16); }

// A 32-byte hash field: absent (empty), present, or malformed.
std::expected<std::optional<chain::Hash>, std::string> hash_field(const std::string& bytes, const char* name) {
    if (bytes.empty()) return std::nullopt;
    chain::Hash h;
    if (!chain::from_bytes(bytes, h)) return std::unexpected(fmt::format("{} has {} bytes, not 32", name, bytes.size()));
    return h;
}

}  // namespace

const char* code_name(Code code) {
    switch (code) {
        case Code::ok: return "OK";
        case Code::invalid_argument: return "INVALID_ARGUMENT";
        case Code::already_exists: return "ALREADY_EXISTS";
        case Code::permission_denied: return "PERMISSION_DENIED";
        case Code::failed_precondition: return "FAILED_PRECONDITION";
        case Code::unavailable: return "UNAVAILABLE";
    }
    return "UNKNOWN";
}

std::expected<CheckedBatch, IngestError> check_batch(const v1::CompressedBatch& compressed,
                                                     std::string_view peer_host, size_t max_raw) {
    auto batch = forward::decompress(compressed, max_raw);
    if (!batch)
        return refuse(Code::invalid_argument,
                      fmt::format("batch from host {}: {}", printable(peer_host), batch.error().message));
    return check_batch(std::move(*batch), peer_host);
}

std::expected<CheckedBatch, IngestError> check_batch(v1::Batch batch, std::string_view peer_host) {
    CheckedBatch c;
    const std::string& agent_id = batch.agent_id();
    const std::string& host = batch.host_name();
    const uint64_t first = batch.first_sequence();
    const uint64_t n = static_cast<uint64_t>(batch.events_size());
    c.first = first;
    c.last = first + n - 1;  // first - 1 without events
    c.where = n ? fmt::format("agent {} (host {}) sequences {}-{}", printable(agent_id), printable(host), first,
                              c.last)
                : fmt::format("agent {} (host {}) checkpoints before sequence {}", printable(agent_id),
                              printable(host), first);

    if (host != peer_host)
        return refuse(Code::permission_denied,
                      fmt::format("{}: the batch is for host '{}' but the client certificate is for host '{}'; an "
                                  "agent may only send its own host's events",
                                  c.where, printable(host), printable(peer_host)));
    if (agent_id.empty()) return refuse(Code::invalid_argument, fmt::format("{}: the batch has no agent_id", c.where));
    if (batch.public_key().size() != 32)
        return refuse(Code::invalid_argument, fmt::format("{}: public_key has {} bytes, not the 32 of an Ed25519 key",
                                                          c.where, batch.public_key().size()));
    if (first == 0)
        return refuse(Code::invalid_argument, fmt::format("{}: first_sequence is 0; sequences start at 1", c.where));
    if (n > 0 && first > std::numeric_limits<uint64_t>::max() - n)
        return refuse(Code::invalid_argument, fmt::format("{}: the sequences overflow 64 bits", c.where));

    auto prev = hash_field(batch.prev_hash(), "prev_hash");
    if (!prev) return refuse(Code::invalid_argument, fmt::format("{}: {}", c.where, prev.error()));
    auto anchor = hash_field(batch.first_hash(), "first_hash");
    if (!anchor) return refuse(Code::invalid_argument, fmt::format("{}: {}", c.where, anchor.error()));
    if (first == 1) {
        if (*prev && **prev != chain::kGenesis)
            return refuse(Code::failed_precondition,
                          fmt::format("{}: chain break: the chain starts at sequence 1, so prev_hash must be 32 zero "
                                      "bytes, not {}",
                                      c.where, short_hex(**prev)));
        *prev = chain::kGenesis;
    }
    if (!*prev && !*anchor)
        return refuse(Code::invalid_argument,
                      fmt::format("{}: the batch has neither prev_hash nor first_hash to link it to the chain", c.where));
    if (*anchor && n == 0)
        return refuse(Code::invalid_argument, fmt::format("{}: first_hash is set but the batch has no events", c.where));
    c.prev = *prev;

    c.agent.agent_id = agent_id;
    c.agent.host_id = batch.host_id();
    c.agent.host_name = host;
    c.agent.public_key = batch.public_key();

    // Each event is parsed once, its bytes moved into its row. A big batch
    // is parsed in two halves at once (the second on another core); then the
    // chain is hashed in order.
    auto parse = [&](uint64_t from, uint64_t to) -> std::optional<IngestError> {
        v1::Event ev;
        for (uint64_t i = from; i < to; ++i) {
            const uint64_t seq = first + i;
            std::string& raw = *batch.mutable_events(static_cast<int>(i));
            ev.Clear();
            if (!ev.ParseFromString(raw))
                return IngestError{Code::invalid_argument, fmt::format("{}: event {} ({} bytes) is not a "
                                                                       "ktrail.v1.Event",
                                                                       c.where, seq, raw.size())};
            if (ev.sequence() != seq)
                return IngestError{Code::invalid_argument,
                                   fmt::format("{}: the event at position {} has sequence {}, expected {}", c.where,
                                               i, ev.sequence(), seq)};
            if (ev.agent().id() != agent_id)
                return IngestError{Code::invalid_argument,
                                   fmt::format("{}: event {} has agent.id '{}', not the batch's", c.where, seq,
                                               printable(ev.agent().id()))};
            if (ev.host().name() != host)
                return IngestError{Code::permission_denied,
                                   fmt::format("{}: event {} has host.name '{}'; an agent may only send its own "
                                               "host's events",
                                               c.where, seq, printable(ev.host().name()))};
            c.rows[i] = store::make_row(ev, std::move(raw), chain::kGenesis);
        }
        return std::nullopt;
    };
    c.rows.resize(n);
    std::optional<IngestError> err;
    std::thread second;
    std::optional<IngestError> second_err;
    if (n >= kParallelEvents) {
        try {
            second = std::thread([&] { second_err = parse(n / 2, n); });
        } catch (const std::system_error&) {
            // no thread to be had: parse it all here
        }
    }
    err = parse(0, second.joinable() ? n / 2 : n);
    if (second.joinable()) second.join();
    if (!err) err = std::move(second_err);
    if (err) return std::unexpected(std::move(*err));

    chain::Hash h = c.prev.value_or(chain::kGenesis);
    for (uint64_t i = 0; i < n; ++i) {
        store::Row& row = c.rows[i];
        if (i == 0 && !c.prev) {
            h = **anchor;  // after a gap: the agent's recorded hash of this event
        } else {
            h = chain::next(h, row.raw);
            if (i == 0 && *anchor && h != **anchor)
                return refuse(Code::invalid_argument,
                              fmt::format("{}: first_hash {} is not the chain hash of event {} ({})", c.where,
                                          short_hex(**anchor), first, short_hex(h)));
        }
        row.hash = h;
    }

    c.checkpoints.reserve(batch.checkpoints_size());
    for (const v1::SignedCheckpoint& cp : batch.checkpoints()) {
        const uint64_t s = cp.sequence();
        chain::Hash head;
        if (!chain::from_bytes(cp.chain_head(), head))
            return refuse(Code::invalid_argument, fmt::format("{}: the checkpoint at sequence {} has a {}-byte head, "
                                                              "not 32",
                                                              c.where, s, cp.chain_head().size()));
        if (!chain::verify_signature(batch.public_key(), chain::checkpoint_message(agent_id, s, head, cp.time_ns()),
                                     cp.signature()))
            return refuse(Code::permission_denied,
                          fmt::format("{}: the signature of the checkpoint at sequence {} does not verify with the "
                                      "agent's key",
                                      c.where, s));
        if (s > c.last)
            return refuse(Code::invalid_argument,
                          fmt::format("{}: the checkpoint at sequence {} is past the batch's last event", c.where, s));
        std::optional<chain::Hash> expect;
        if (s >= first)
            expect = c.rows[s - first].hash;
        else if (s == first - 1)
            expect = c.prev;
        else if (s == 0)
            expect = chain::kGenesis;
        if (expect && *expect != head && !c.head_mismatch)
            c.head_mismatch = IngestError{
                Code::invalid_argument, fmt::format("{}: the checkpoint at sequence {} signs head {} but the chain "
                                                    "there is {}",
                                                    c.where, s, short_hex(head), short_hex(*expect))};
        c.checkpoints.push_back(store::Checkpoint{agent_id, s, head, cp.time_ns(), cp.signature()});
    }
    return c;
}

IngestOutcome Ingestor::submit(const v1::CompressedBatch& compressed, std::string_view peer_host) {
    auto checked = check_batch(compressed, peer_host, max_raw_);
    if (!checked) return std::unexpected(std::move(checked.error()));
    return submit(std::move(*checked));
}

IngestOutcome Ingestor::submit(CheckedBatch c) {
    std::lock_guard lock(store_mu_);
    const std::string& id = c.agent.agent_id;
    auto store_failed = [&](const Error& e) {
        return refuse(Code::unavailable, fmt::format("{}: the store failed: {}", c.where, e.message));
    };

    // The agent's key: trust on first use, the same key ever after.
    auto known = store_.agent(id);
    if (!known) return store_failed(known.error());
    if (*known) {
        const store::AgentInfo& k = **known;
        if (k.public_key != c.agent.public_key)
            return refuse(Code::permission_denied,
                          fmt::format("{}: the agent presents a different public key than the one it registered "
                                      "with; if its key was replaced on purpose, remove the agent from the store",
                                      c.where));
        if (k.host_name != c.agent.host_name)
            return refuse(Code::permission_denied,
                          fmt::format("{}: the agent is registered for host '{}'; give the renamed host a new "
                                      "agent id (or remove the agent from the store)",
                                      c.where, printable(k.host_name)));
    } else if (auto r = store_.register_agent(c.agent); !r) {
        return store_failed(r.error());
    }

    // What the store holds at first - 1 (the link) and in [first, last] (replays).
    const uint64_t lo = c.first > 1 ? c.first - 1 : 1;
    std::vector<std::pair<uint64_t, chain::Hash>> stored;
    if (c.last >= lo) {
        auto got = store_.hashes(id, lo, c.last);
        if (!got) return store_failed(got.error());
        stored = std::move(*got);
    }
    for (const auto& [seq, h] : stored) {
        if (seq + 1 != c.first) continue;
        if (c.prev && *c.prev != h)
            return refuse(Code::failed_precondition,
                          fmt::format("{}: chain break: prev_hash {} is not the stored hash {} of event {}", c.where,
                                      short_hex(*c.prev), short_hex(h), seq));
        if (!c.prev && chain::next(h, c.rows.front().raw) != c.rows.front().hash)
            return refuse(Code::failed_precondition,
                          fmt::format("{}: chain break: first_hash {} does not follow the stored event {}", c.where,
                                      short_hex(c.rows.front().hash), seq));
    }
    if (c.head_mismatch) return std::unexpected(std::move(*c.head_mismatch));

    // Events already stored: the same hash is a retry, another is a conflict.
    std::vector<char> dup;
    size_t duplicates = 0;
    for (const auto& [seq, h] : stored) {
        if (seq < c.first || seq > c.last) continue;
        const store::Row& row = c.rows[seq - c.first];
        if (row.hash != h)
            return refuse(Code::already_exists,
                          fmt::format("{}: conflicting replay: event {} is stored with hash {}, the batch has {}; "
                                      "nothing was stored",
                                      c.where, seq, short_hex(h), short_hex(row.hash)));
        if (dup.empty()) dup.assign(c.rows.size(), 0);
        if (!dup[seq - c.first]) ++duplicates;
        dup[seq - c.first] = 1;
    }

    // Checkpoints over events before the batch: checked against the store.
    for (const store::Checkpoint& cp : c.checkpoints) {
        if (cp.sequence == 0 || cp.sequence >= c.first || (cp.sequence == c.first - 1 && c.prev)) continue;
        auto got = store_.hashes(id, cp.sequence, cp.sequence);
        if (!got) return store_failed(got.error());
        for (const auto& [seq, h] : *got)
            if (seq == cp.sequence && h != cp.head)
                return refuse(Code::failed_precondition,
                              fmt::format("{}: the checkpoint at sequence {} signs head {} but the stored chain "
                                          "there is {}",
                                          c.where, cp.sequence, short_hex(cp.head), short_hex(h)));
    }

    if (duplicates) {
        size_t out = 0;
        for (size_t i = 0; i < c.rows.size(); ++i)
            if (!dup[i]) {
                if (out != i) c.rows[out] = std::move(c.rows[i]);
                ++out;
            }
        c.rows.resize(out);
    }
    auto result = store_.ingest(c.rows, c.checkpoints);
    if (!result) return store_failed(result.error());

    v1::Ack ack;
    ack.set_committed_through(c.last);
    ack.set_inserted(static_cast<uint32_t>(result->inserted));
    ack.set_duplicates(static_cast<uint32_t>(duplicates + result->duplicates));
    return ack;
}

}  // namespace ktrail::collector
