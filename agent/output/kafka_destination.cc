// The kafka:// output: an idempotent librdkafka producer. deliver() produces
// every event of the batch and returns only when librdkafka has a delivery
// report for each (acks=all), so the forwarder advances the Kafka cursor only
// over events the brokers hold.
//
// A failed batch comes back whole; events the brokers confirmed in an earlier
// attempt are not produced again, but those whose report said "possibly
// persisted" (in flight when the connection broke) are, and may then appear
// twice in the topic, as may a batch resent after the agent restarts.
// Retries inside librdkafka (within timeout-ms) resend with the same producer
// id and sequence numbers, which a real broker recognises and drops.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <set>
#include <vector>

#include "output/kafka_config.h"
#include "output/output_spec.h"

namespace ktrail {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kPollMs = 50;                 // how soon cancel() is noticed
constexpr milliseconds kReportGrace{5000};  // past timeout-ms: librdkafka owes a report by then
constexpr milliseconds kCloseFlush{2000};   // shutdown: how long to wait for reports
static_assert(sizeof(uintptr_t) == 8, "message tags pack a 32-bit batch generation and a 32-bit index");

struct ProducerDeleter {
    void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct TopicDeleter {
    void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
using ProducerPtr = std::unique_ptr<rd_kafka_t, ProducerDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

class KafkaDestination final : public forward::Destination {
public:
    KafkaDestination(kafka::Settings settings, std::string key) : s_(std::move(settings)), key_(std::move(key)) {}
    ~KafkaDestination() override { disconnect(kCloseFlush); }

    // librdkafka checks the whole configuration (and loads TLS files) when a
    // client is created; a client without brokers does that and connects nowhere.
    Result<void> check() {
        auto conf = kafka::build_conf(s_, false);
        if (!conf) return std::unexpected(conf.error());
        rd_kafka_conf_set_log_cb(conf->get(), [](const rd_kafka_t*, int, const char*, const char*) {});
        char errstr[512];
        ProducerPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr));
        if (!rk) return fail(fmt::format("--output {}: librdkafka refused the configuration: {}", s_.name, errstr));
        conf->release();  // rd_kafka_new() owns it now
        return {};
    }

    std::string name() const override { return s_.name; }
    void cancel() override { cancelled_.store(true, std::memory_order_relaxed); }
    Result<forward::Delivered> deliver(const forward::Batch& batch) override;

private:
    Result<void> connect();
    void disconnect(milliseconds flush);
    rd_kafka_resp_err_t produce(uint64_t sequence, void* tag);
    Result<forward::Delivered> wait_reports(size_t produced);
    std::string stopping(size_t produced) const;
    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
    static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text);

    kafka::Settings s_;
    std::string key_;  // the host id: one host's events share a partition, so they stay in order
    ProducerPtr rk_;
    TopicPtr topic_;
    std::atomic<bool> cancelled_{false};
    // The batch being delivered; delivery reports of earlier (abandoned)
    // batches carry an older generation and are ignored.
    uint32_t generation_ = 0;
    std::vector<uint64_t> sequences_;  // by message index
    std::vector<char> confirmed_now_;  // by message index: the brokers have it
    // Events of a failed batch that the brokers did confirm: when the
    // forwarder sends the batch again they are not produced twice.
    std::set<uint64_t> confirmed_;
    size_t pending_ = 0;
    size_t failed_ = 0;
    size_t possibly_persisted_ = 0;
    size_t first_failed_ = SIZE_MAX;  // lowest failed index
    std::string first_error_;
    uint64_t unparsable_ = 0;  // spool records that were not events (counted, skipped)
    uint64_t too_large_ = 0;   // events over the size limit (counted, skipped)
    v1::Event event_;          // reused: no allocation per event
    std::string value_;
};

Result<void> KafkaDestination::connect() {
    auto conf = kafka::build_conf(s_, true);
    if (!conf) return std::unexpected(conf.error());
    rd_kafka_conf_set_opaque(conf->get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf->get(), on_delivery);
    rd_kafka_conf_set_log_cb(conf->get(), on_log);
    char errstr[512];
    ProducerPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr));
    if (!rk) return fail(fmt::format("{}: cannot create the Kafka producer: {}", s_.name, errstr));
    conf->release();
    TopicPtr topic(rd_kafka_topic_new(rk.get(), s_.topic.c_str(), nullptr));
    if (!topic)
        return fail(
            fmt::format("{}: cannot use topic '{}': {}", s_.name, s_.topic, rd_kafka_err2str(rd_kafka_last_error())));
    rk_ = std::move(rk);
    topic_ = std::move(topic);
    return {};
}

void KafkaDestination::disconnect(milliseconds flush) {
    if (!rk_) return;
    ++generation_;  // the batch, if any, is abandoned: its late reports count for nothing
    if (rd_kafka_flush(rk_.get(), static_cast<int>(flush.count())) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        int left = rd_kafka_outq_len(rk_.get());
        // Unconfirmed events stay in the spool (the cursor never passed them).
        spdlog::warn("{}: closing with {} messages unconfirmed by the brokers; they stay in the spool", s_.name, left);
        rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk_.get(), 0);  // serves the purged messages' reports
    }
    topic_.reset();
    rk_.reset();
}

rd_kafka_resp_err_t KafkaDestination::produce(uint64_t sequence, void* tag) {
    value_.clear();
    append_event(s_.format, event_, value_);
    char seq[24];
    size_t seq_len = std::to_chars(seq, seq + sizeof seq, sequence).ptr - seq;
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(rk_.get(), RD_KAFKA_V_RKT(topic_.get()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(key_.data(), key_.size()), RD_KAFKA_V_VALUE(value_.data(), value_.size()),
                              RD_KAFKA_V_HEADER("ktrail.sequence", seq, static_cast<ssize_t>(seq_len)),
                              RD_KAFKA_V_OPAQUE(tag), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || cancelled_.load(std::memory_order_relaxed)) return err;
        rd_kafka_poll(rk_.get(), kPollMs);  // serving reports frees room in the queue
    }
}

Result<forward::Delivered> KafkaDestination::deliver(const forward::Batch& batch) {
    if (cancelled_.load(std::memory_order_relaxed))
        return fail(fmt::format("{}: stopping; the batch stays in the spool", s_.name));
    if (!rk_)
        if (auto r = connect(); !r) return std::unexpected(r.error());

    ++generation_;
    sequences_.clear();
    confirmed_now_.clear();
    pending_ = failed_ = possibly_persisted_ = 0;
    first_failed_ = SIZE_MAX;
    first_error_.clear();
    for (const spool::Record& rec : batch.records) {
        if (rec.type != spool::Record::Type::event) continue;  // checkpoints are the collector's business
        if (confirmed_.contains(rec.sequence)) continue;       // a re-delivery: the brokers have it
        if (!event_.ParseFromString(rec.bytes)) {
            ++unparsable_;
            count_skipped();
            spdlog::warn("{}: spool record {} ({} bytes) is not an event; skipped ({} so far)", s_.name, rec.sequence,
                         rec.bytes.size(), unparsable_);
            continue;
        }
        size_t index = sequences_.size();
        sequences_.push_back(rec.sequence);
        confirmed_now_.push_back(0);
        auto* tag = reinterpret_cast<void*>(uintptr_t{generation_} << 32 | index);
        if (rd_kafka_resp_err_t err = produce(rec.sequence, tag); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                // Sending it again would fail again and hold back every later event.
                ++too_large_;
                count_skipped();
                spdlog::error(
                    "{}: event {} is larger than message.max.bytes; skipped ({} so far); raise "
                    "?rdkafka.message.max.bytes= (and the topic's max.message.bytes)",
                    s_.name, rec.sequence, too_large_);
                continue;
            }
            ++failed_;
            first_failed_ = index;
            first_error_ = fmt::format("event {}: {}", rec.sequence, rd_kafka_err2str(err));
            break;  // the whole batch is sent again; producing the rest gains nothing
        }
        ++pending_;
    }
    auto result = wait_reports(sequences_.size());
    if (result) {
        // The forwarder acks through last_sequence and never sends those again.
        confirmed_.erase(confirmed_.begin(), confirmed_.upper_bound(batch.last_sequence));
    } else {
        for (size_t i = 0; i < sequences_.size(); ++i)
            if (confirmed_now_[i]) confirmed_.insert(sequences_[i]);
    }
    return result;
}

std::string KafkaDestination::stopping(size_t produced) const {
    return fmt::format("{}: stopping before the brokers confirmed {} of {} events; the batch stays in the spool",
                       s_.name, pending_, produced);
}

Result<forward::Delivered> KafkaDestination::wait_reports(size_t produced) {
    // librdkafka reports every message within message.timeout.ms; the grace
    // only guards against a report that never comes.
    const auto deadline = Clock::now() + milliseconds(s_.timeout_ms) + kReportGrace;
    while (pending_ > 0) {
        if (cancelled_.load(std::memory_order_relaxed)) return fail(stopping(produced));
        if (Clock::now() > deadline)
            return fail(
                fmt::format("{}: no delivery report for {} of {} events within timeout-ms={} (+{} ms); the "
                            "batch stays in the spool and is sent again",
                            s_.name, pending_, produced, s_.timeout_ms, kReportGrace.count()));
        rd_kafka_poll(rk_.get(), kPollMs);
    }
    char fatal[512];
    if (rd_kafka_fatal_error(rk_.get(), fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // An idempotent producer that hit a fatal error accepts nothing more: start a new one.
        spdlog::error("{}: fatal producer error, reconnecting: {}", s_.name, fatal);
        disconnect(milliseconds(0));
        if (failed_ == 0) return fail(fmt::format("{}: fatal producer error: {}", s_.name, fatal));
    }
    if (failed_ > 0) {
        std::string dup = possibly_persisted_ == 0 ? std::string("none was written")
                                                   : fmt::format(
                                                         "{} may have been written and will then appear "
                                                         "twice in the topic",
                                                         possibly_persisted_);
        return fail(
            fmt::format("{}: {} of {} events not confirmed by the brokers (first: {}); {}; the batch stays "
                        "in the spool and is sent again — check that the brokers are reachable and the topic "
                        "exists",
                        s_.name, failed_, produced, first_error_, dup));
    }
    return forward::Delivered{};
}

void KafkaDestination::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaDestination*>(opaque);
    auto tag = reinterpret_cast<uintptr_t>(m->_private);
    if (static_cast<uint32_t>(tag >> 32) != self->generation_) return;  // from a batch deliver() gave up on
    size_t index = tag & 0xffffffffu;
    --self->pending_;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        self->confirmed_now_[index] = 1;
        return;
    }
    try {
        uint64_t seq = index < self->sequences_.size() ? self->sequences_[index] : 0;
        if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            ++self->too_large_;
            self->count_skipped();
            spdlog::error(
                "{}: the broker refused event {} as too large; skipped ({} so far); raise the topic's "
                "max.message.bytes",
                self->s_.name, seq, self->too_large_);
            return;
        }
        ++self->failed_;
        if (rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED) ++self->possibly_persisted_;
        if (index < self->first_failed_) {
            self->first_failed_ = index;
            self->first_error_ = fmt::format("event {}: {}", seq, rd_kafka_err2str(m->err));
        }
    } catch (...) {  // nothing may unwind into librdkafka
    }
}

void KafkaDestination::on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
    // librdkafka's lines name brokers, topics and states, never message contents.
    auto* self = static_cast<const KafkaDestination*>(rd_kafka_opaque(rk));
    spdlog::level::level_enum lvl = level <= 3   ? spdlog::level::err
                                    : level == 4 ? spdlog::level::warn
                                    : level <= 6 ? spdlog::level::info
                                                 : spdlog::level::debug;
    try {
        spdlog::log(lvl, "{}: librdkafka {}: {}", self ? self->s_.name : "kafka", facility, text);
    } catch (...) {
    }
}

}  // namespace

Result<std::unique_ptr<forward::Destination>> make_kafka_destination(const OutputSpec& spec,
                                                                     const DestinationContext& ctx) {
    auto settings = kafka::parse_settings(spec, ctx);
    if (!settings) return std::unexpected(settings.error());
    // Events of one host share a key, hence a partition, hence their order.
    const HostIdentity& h = ctx.host;
    std::string key = !h.machine_id.empty() ? h.machine_id : !h.agent_id.empty() ? h.agent_id : h.hostname;
    auto dest = std::make_unique<KafkaDestination>(std::move(*settings), std::move(key));
    if (auto r = dest->check(); !r) return std::unexpected(r.error());
    return dest;
}

}  // namespace ktrail
