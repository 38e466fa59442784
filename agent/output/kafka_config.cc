#include "output/kafka_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <string_view>

namespace ktrail::kafka {
namespace {

constexpr std::string_view kRdkafkaPrefix = "rdkafka.";
constexpr const char* kAllowed =
    "format=json|ocsf|cef, compression=none|gzip|snappy|lz4|zstd, timeout-ms=N, rdkafka.PROPERTY=VALUE";
constexpr const char* kPropertiesDoc = "https://github.com/confluentinc/librdkafka/blob/v2.0.2/CONFIGURATION.md";

constexpr std::string_view kNeedsAcksAll =
    "ktrail needs acks=all (an event counts as delivered only once every in-sync replica has it)";

// librdkafka properties that a ktrail parameter or the delivery guarantee
// owns: a pass-through would silently undo them.
struct Reserved {
    std::string_view key, why;
};
constexpr Reserved kReserved[] = {
    {"bootstrap.servers", "the brokers come from kafka://BROKER[,BROKER]/TOPIC"},
    {"metadata.broker.list", "the brokers come from kafka://BROKER[,BROKER]/TOPIC"},
    {"compression.codec", "use ?compression="},
    {"compression.type", "use ?compression="},
    {"message.timeout.ms", "use ?timeout-ms="},
    {"delivery.timeout.ms", "use ?timeout-ms="},
    {"enable.idempotence", "ktrail needs the idempotent producer (no duplicates or reordering from retries)"},
    {"acks", kNeedsAcksAll},
    {"request.required.acks", kNeedsAcksAll},
};

std::set<std::string> builtin_features() {
    ConfPtr conf(rd_kafka_conf_new());
    char buf[512];
    size_t n = sizeof buf;
    std::set<std::string> out;
    if (rd_kafka_conf_get(conf.get(), "builtin.features", buf, &n) != RD_KAFKA_CONF_OK) return out;
    std::string_view all(buf);
    while (!all.empty()) {
        size_t comma = all.find(',');
        out.emplace(all.substr(0, comma));
        all = comma == std::string_view::npos ? std::string_view{} : all.substr(comma + 1);
    }
    return out;
}

// Kafka's legal topic names: [a-zA-Z0-9._-]{1,249}, not "." or "..".
bool valid_topic(std::string_view t) {
    if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
    return std::all_of(t.begin(), t.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
    });
}

Result<std::string> compression(const std::string& name, const std::string& wanted) {
    static const std::set<std::string> features = builtin_features();
    if (wanted.empty()) {  // the best this librdkafka was built with
        for (const char* c : {"zstd", "lz4"})
            if (features.contains(c)) return c;
        return "none";
    }
    if (wanted == "none") return wanted;
    if (wanted != "gzip" && wanted != "snappy" && wanted != "lz4" && wanted != "zstd")
        return fail(fmt::format("--output {}: compression={} is not a codec; use none, gzip, snappy, lz4 or zstd", name,
                                wanted));
    if (!features.contains(wanted))
        return fail(fmt::format("--output {}: this librdkafka ({}) was built without {}; choose another compression=",
                                name, rd_kafka_version_str(), wanted));
    return wanted;
}

}  // namespace

Result<Settings> parse_settings(const OutputSpec& spec, const DestinationContext& ctx) {
    Settings s;
    size_t slash = spec.target.find('/');
    s.brokers = spec.target.substr(0, slash);
    s.topic = slash == std::string::npos ? "" : spec.target.substr(slash + 1);
    s.name = fmt::format("kafka://{}/{}", s.brokers, s.topic);
    const std::string shape = "use kafka://BROKER[:PORT][,BROKER[:PORT]]/TOPIC";

    if (s.brokers.empty() || s.brokers.front() == ',' || s.brokers.back() == ',' ||
        s.brokers.find(",,") != std::string::npos)
        return fail(fmt::format("--output {}: no broker or an empty one in '{}'; {}", spec.text, s.brokers, shape));
    if (s.topic.empty()) return fail(fmt::format("--output {}: no topic after the brokers; {}", spec.text, shape));
    if (!valid_topic(s.topic))
        return fail(fmt::format("--output {}: '{}' is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -); {}",
                                spec.text, s.topic, shape));

    auto format = output_format(spec, ctx);
    if (!format) return std::unexpected(format.error());
    s.format = *format;

    std::string codec_wanted;
    std::vector<std::pair<std::string, std::string>> passed;
    for (const auto& [key, value] : spec.params) {
        if (key == "format") continue;  // output_format() read it
        if (key == "compression") {
            codec_wanted = value;
        } else if (key == "timeout-ms") {
            int ms = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
            if (ec != std::errc{} || end != value.data() + value.size() || ms < 1 || ms > 86'400'000)
                return fail(fmt::format("--output {}: timeout-ms={} is not a number of milliseconds in 1..86400000",
                                        s.name, value));
            s.timeout_ms = ms;
        } else if (key.starts_with(kRdkafkaPrefix) && key.size() > kRdkafkaPrefix.size()) {
            std::string property = key.substr(kRdkafkaPrefix.size());
            for (const auto& r : kReserved)
                if (property == r.key)
                    return fail(fmt::format("--output {}: {} cannot be set: {}", s.name, key, r.why));
            passed.emplace_back(std::move(property), value);
        } else {
            return fail(fmt::format("--output {}: unknown parameter '{}'; kafka:// takes {}", s.name, key, kAllowed));
        }
    }
    auto codec = compression(s.name, codec_wanted);
    if (!codec) return std::unexpected(codec.error());

    s.conf = {
        {"client.id", "ktrail"},
        {"enable.idempotence", "true"},  // retries neither duplicate nor reorder
        {"acks", "all"},
        {"linger.ms", "5"},  // small batches without adding noticeable latency
        {"compression.codec", *codec},
        {"message.timeout.ms", std::to_string(s.timeout_ms)},
        // The partition Java clients pick for the same key, so mixed producers agree.
        {"partitioner", "murmur2_random"},
    };
    s.conf.insert(s.conf.end(), passed.begin(), passed.end());
    return s;
}

Result<ConfPtr> build_conf(const Settings& s, bool with_brokers) {
    ConfPtr conf(rd_kafka_conf_new());
    char errstr[512];
    for (const auto& [key, value] : s.conf) {
        if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            return fail(fmt::format("--output {}: librdkafka refused {}: {} (properties: {})", s.name, key, errstr,
                                    kPropertiesDoc));
    }
    if (!with_brokers) return conf;
    if (rd_kafka_conf_set(conf.get(), "bootstrap.servers", s.brokers.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK)
        return fail(fmt::format("--output {}: librdkafka refused the brokers '{}': {}", s.name, s.brokers, errstr));
    return conf;
}

}  // namespace ktrail::kafka
