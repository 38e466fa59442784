// Tamper evidence: the per-agent SHA-256 hash chain over the exact event
// bytes, and the Ed25519-signed checkpoints over its head.
//
//   hash_n = SHA-256(hash_{n-1} || bytes of event n),  hash_0 = 32 zero bytes
//
// A checkpoint signs "ktrail-checkpoint-v1\0" || agent id || \0 ||
// sequence (u64 big-endian) || head (32 bytes) || time_ns (i64 big-endian).
// The agent, the collector and `ktrail verify` all use this one definition.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/error.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace ktrail::chain {

using Hash = std::array<uint8_t, 32>;
inline constexpr Hash kGenesis{};  // the chain hash "at sequence 0"

Hash next(const Hash& prev, std::string_view event_bytes);

std::string checkpoint_message(std::string_view agent_id, uint64_t sequence, const Hash& head, int64_t time_ns);

std::string to_hex(std::string_view bytes);
inline std::string to_hex(const Hash& h) { return to_hex(std::string_view(reinterpret_cast<const char*>(h.data()), h.size())); }
// A Hash from 32 raw bytes; false if the size is wrong.
bool from_bytes(std::string_view bytes, Hash& out);
inline std::string_view as_bytes(const Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

// The agent's Ed25519 key, kept as PEM (mode 0600) in the state directory.
class SigningKey {
public:
    // Loads PATH, or creates it (and the key) on first start.
    static Result<SigningKey> load_or_create(const std::string& path);
    // A fresh key that is never stored (tests, and the tampering checks).
    static Result<SigningKey> generate();
    std::string sign(std::string_view message) const;  // 64 bytes
    const std::string& public_key() const { return public_key_; }  // 32 raw bytes

private:
    static Result<SigningKey> from_pkey(evp_pkey_st* k);  // takes ownership
    std::shared_ptr<void> pkey_;  // EVP_PKEY
    std::string public_key_;
};

bool verify_signature(std::string_view public_key, std::string_view message, std::string_view signature);

}  // namespace ktrail::chain
