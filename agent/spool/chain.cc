#include "spool/chain.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ktrail::chain {
namespace {

void put_be64(std::string& out, uint64_t v) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::shared_ptr<void> own(EVP_PKEY* k) {
    return std::shared_ptr<void>(k, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}

Result<std::string> raw_public(EVP_PKEY* k) {
    size_t n = 32;
    std::string out(32, '\0');
    if (EVP_PKEY_get_raw_public_key(k, reinterpret_cast<unsigned char*>(out.data()), &n) != 1 || n != 32)
        return fail("cannot read the Ed25519 public key");
    return out;
}

}  // namespace

Hash next(const Hash& prev, std::string_view event_bytes) {
    // One context per thread, fetched once: the chain is on the spool's hot path.
    static thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    static const EVP_MD* sha256 = EVP_sha256();
    Hash out;
    unsigned int n = 0;
    EVP_DigestInit_ex(ctx.get(), sha256, nullptr);
    EVP_DigestUpdate(ctx.get(), prev.data(), prev.size());
    EVP_DigestUpdate(ctx.get(), event_bytes.data(), event_bytes.size());
    EVP_DigestFinal_ex(ctx.get(), out.data(), &n);
    return out;
}

std::string checkpoint_message(std::string_view agent_id, uint64_t sequence, const Hash& head, int64_t time_ns) {
    std::string m("ktrail-checkpoint-v1", 20);
    m.push_back('\0');
    m.append(agent_id);
    m.push_back('\0');
    put_be64(m, sequence);
    m.append(as_bytes(head));
    put_be64(m, static_cast<uint64_t>(time_ns));
    return m;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 15]);
    }
    return out;
}

bool from_bytes(std::string_view bytes, Hash& out) {
    if (bytes.size() != out.size()) return false;
    std::memcpy(out.data(), bytes.data(), out.size());
    return true;
}

Result<SigningKey> SigningKey::generate() {
    EVP_PKEY* k = nullptr;
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
    bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &k) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) return fail("cannot generate an Ed25519 key (OpenSSL)");
    return from_pkey(k);
}

Result<SigningKey> SigningKey::from_pkey(EVP_PKEY* k) {
    SigningKey key;
    key.pkey_ = own(k);
    auto pub = raw_public(k);
    if (!pub) return std::unexpected(pub.error());
    key.public_key_ = *pub;
    return key;
}

Result<SigningKey> SigningKey::load_or_create(const std::string& path) {
    if (FILE* f = fopen(path.c_str(), "re")) {
        EVP_PKEY* k = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
        fclose(f);
        if (!k || EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
            EVP_PKEY_free(k);
            return fail(fmt::format("{} is not an Ed25519 private key in PEM. Restore it: a new key would be "
                                    "refused by the collector, which keeps this agent's first key", path));
        }
        return from_pkey(k);
    } else if (errno != ENOENT) {
        return fail(fmt::format("cannot read the signing key {}: {}", path, strerror(errno)));
    }
    auto key = generate();
    if (!key) return key;
    std::string tmp = path + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return fail(fmt::format("cannot create the signing key {}: {}", tmp, strerror(errno)));
    FILE* f = fdopen(fd, "w");
    bool ok = f && PEM_write_PrivateKey(f, static_cast<EVP_PKEY*>(key->pkey_.get()), nullptr, nullptr, 0, nullptr,
                                        nullptr) == 1;
    ok = ok && fflush(f) == 0 && fsync(fd) == 0;
    if (f) fclose(f); else close(fd);
    if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
        unlink(tmp.c_str());
        return fail(fmt::format("cannot write the signing key {}", path));
    }
    return key;
}

std::string SigningKey::sign(std::string_view message) const {
    std::string sig(64, '\0');
    size_t n = sig.size();
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(pkey_.get())) != 1 ||
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &n,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
        sig.clear();
    EVP_MD_CTX_free(ctx);
    return sig;
}

bool verify_signature(std::string_view public_key, std::string_view message, std::string_view signature) {
    if (public_key.size() != 32 || signature.size() != 64) return false;
    EVP_PKEY* k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                              reinterpret_cast<const unsigned char*>(public_key.data()), 32);
    if (!k) return false;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, k) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                               reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

}  // namespace ktrail::chain
