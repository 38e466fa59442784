// --output syslog+tcp://HOST:PORT and syslog+tls://HOST:PORT: RFC 5424
// messages, octet-counted, over one long-lived connection.
//
// TCP syslog has no application ack. A batch counts as confirmed once the
// receiver's TCP has acknowledged every byte (SIOCOUTQ == 0), it was written
// at least `hold` ago (time for the receiver to act on it), and the
// connection has not closed or failed since. A connection that breaks with
// unconfirmed batches is reported, and the forwarder sends them again:
// duplicates are possible, loss is not.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <deque>
#include <set>

#include "output/output_spec.h"
#include "output/rfc5424.h"
#include "output/syslog_connection.h"

namespace ktrail {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kConnectTimeout = 3s;
constexpr auto kWriteStall = 30s;  // a receiver that takes nothing this long is treated as gone
constexpr auto kDefaultHold = 1000ms;

struct Settings {
    std::string name;  // scheme://target
    syslog::Endpoint endpoint;
    syslog::MessageOptions message;
    std::chrono::milliseconds hold = kDefaultHold;
    std::unique_ptr<syslog::TlsContext> tls;
};

class SyslogDestination final : public forward::Destination {
public:
    explicit SyslogDestination(Settings s) : s_(std::move(s)) {}

    std::string name() const override { return s_.name; }

    Result<forward::Delivered> deliver(const forward::Batch& batch) override {
        if (cancelled_.load()) return fail(s_.name + ": cancelled (the agent is stopping)");
        buf_.clear();
        for (const auto& rec : batch.records) {
            if (rec.type != spool::Record::Type::event) continue;  // checkpoints are for the collector
            event_.Clear();
            if (!event_.ParseFromString(rec.bytes)) {
                ++unparsable_;
                count_skipped();
                spdlog::warn("{}: spool record {} ({} bytes) is not an event; skipped ({} so far)", s_.name,
                             rec.sequence, rec.bytes.size(), unparsable_);
                continue;
            }
            syslog::append_framed_message(event_, s_.message, buf_);
        }
        if (conn_) {
            if (std::string why = conn_->broken(); !why.empty()) {
                if (!pending_.empty()) return lose_pending(s_.name + ": " + why);
                conn_.reset();  // nothing in doubt: just reconnect
            }
        }
        if (buf_.empty()) {  // nothing to send: confirmed as soon as what came before is
            note_written(batch);
            return forward::Delivered{};
        }
        if (!conn_) {
            auto c = syslog::Connection::open(s_.endpoint, s_.tls.get(), kConnectTimeout, cancelled_);
            if (!c) return std::unexpected(c.error());
            conn_ = std::move(*c);
            spdlog::info("{}: connected", s_.name);
        }
        if (auto w = conn_->write_all(buf_, kWriteStall, cancelled_); !w) return lose_pending(w.error().message);
        note_written(batch);
        return forward::Delivered{};
    }

    Result<uint64_t> confirmed_through() override {
        if (pending_.empty()) return confirmed_;
        if (std::string why = conn_->broken(); !why.empty()) return lose_pending(s_.name + ": " + why);
        auto unacked = conn_->unacked();
        if (!unacked) return lose_pending(unacked.error().message);
        auto now = Clock::now();
        while (!pending_.empty() && *unacked == 0 && now - pending_.front().written_at >= s_.hold) {
            confirmed_ = std::max(confirmed_, pending_.front().last_sequence);
            pending_.pop_front();
        }
        return confirmed_;
    }

    void cancel() override { cancelled_.store(true); }

private:
    struct Written {
        uint64_t first_sequence, last_sequence;
        Clock::time_point written_at;
    };

    void note_written(const forward::Batch& batch) {
        if (pending_.empty() && buf_.empty())
            confirmed_ = std::max(confirmed_, batch.last_sequence);
        else
            pending_.push_back({batch.first_sequence, batch.last_sequence, Clock::now()});
    }

    // The connection is gone with batches in doubt: say which; the
    // forwarder sends everything after its confirmed position again.
    std::unexpected<Error> lose_pending(std::string msg) {
        if (!pending_.empty())
            msg += fmt::format(" with events {}..{} written but not confirmed (they will be sent again)",
                               pending_.front().first_sequence, pending_.back().last_sequence);
        conn_.reset();
        pending_.clear();
        return std::unexpected(Error{std::move(msg)});
    }

    Settings s_;
    std::unique_ptr<syslog::Connection> conn_;
    std::deque<Written> pending_;  // written, not yet confirmed; non-empty only with conn_
    uint64_t confirmed_ = 0;
    uint64_t unparsable_ = 0;
    std::atomic<bool> cancelled_{false};
    std::string buf_;
    v1::Event event_;
};

// HOST:PORT or [V6ADDR]:PORT.
Result<syslog::Endpoint> parse_target(const OutputSpec& spec) {
    auto bad = [&](std::string_view why) {
        return fail(fmt::format("--output {}: {}; give HOST:PORT, e.g. {}://siem.example.com:{}", spec.text, why,
                                spec.scheme, spec.scheme == "syslog+tls" ? 6514 : 514));
    };
    const std::string& t = spec.target;
    size_t colon = t.rfind(':');
    if (colon == std::string::npos) return bad("the target has no port");
    std::string host = t.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) return bad("the target has no host");
    if (host.find_first_of("[]/ ") != std::string::npos) return bad("'" + host + "' is not a host name");
    std::string_view port = std::string_view(t).substr(colon + 1);
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
        return bad("'" + std::string(port) + "' is not a port (1-65535)");
    return syslog::Endpoint{host, static_cast<uint16_t>(p), spec.scheme + "://" + t};
}

std::string param(const OutputSpec& spec, const std::string& key, std::string fallback = {}) {
    auto it = spec.params.find(key);
    return it == spec.params.end() ? fallback : it->second;
}

}  // namespace

Result<std::unique_ptr<forward::Destination>> make_syslog_destination(const OutputSpec& spec,
                                                                      const DestinationContext& ctx) {
    bool tls = spec.scheme == "syslog+tls";
    if (!tls && spec.scheme != "syslog+tcp")
        return fail(
            fmt::format("--output {}: not a syslog output; use syslog+tcp://HOST:PORT or "
                        "syslog+tls://HOST:PORT",
                        spec.text));
    std::set<std::string> allowed = {"format", "facility", "confirm-after"};
    if (tls) allowed.insert({"ca", "cert", "key", "server-name"});
    for (const auto& [key, value] : spec.params)
        if (!allowed.contains(key))
            return fail(fmt::format("--output {}: unknown parameter '{}'; {} takes {}", spec.text, key, spec.scheme,
                                    fmt::join(allowed, ", ")));

    Settings s;
    auto endpoint = parse_target(spec);
    if (!endpoint) return std::unexpected(endpoint.error());
    s.endpoint = *endpoint;
    s.name = s.endpoint.name;
    auto format = output_format(spec, ctx);
    if (!format) return std::unexpected(format.error());
    s.message.format = *format;
    s.message.procid = static_cast<int>(getpid());
    if (spec.params.contains("facility")) {
        auto f = syslog::parse_facility(param(spec, "facility"));
        if (!f) return fail(fmt::format("--output {}: {}", spec.text, f.error().message));
        s.message.facility = *f;
    }
    if (spec.params.contains("confirm-after")) {
        std::string v = param(spec, "confirm-after");
        long ms = -1;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
        if (v.empty() || ec != std::errc() || end != v.data() + v.size() || ms < 0)
            return fail(fmt::format("--output {}: confirm-after='{}' is not a number of milliseconds", spec.text, v));
        s.hold = std::chrono::milliseconds(ms);
    }
    if (tls) {
        syslog::TlsConfig c{param(spec, "ca"), param(spec, "cert"), param(spec, "key"),
                            param(spec, "server-name", s.endpoint.host)};
        auto t = syslog::TlsContext::create(c, "--output " + spec.text);
        if (!t) return std::unexpected(t.error());
        s.tls = std::move(*t);
    }
    return std::unique_ptr<forward::Destination>(new SyslogDestination(std::move(s)));
}

}  // namespace ktrail
