// A kafka:// output spec turned into producer settings, and the librdkafka
// configuration built from them. Separate from the producer so a bad spec is
// reported before anything connects.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "format/event_format.h"
#include "output/output_spec.h"
#include "util/error.h"

namespace ktrail::kafka {

struct Settings {
    std::string name;     // "kafka://BROKERS/TOPIC", without the parameters (they may hold secrets)
    std::string brokers;  // bootstrap.servers
    std::string topic;
    Format format = Format::json;
    int timeout_ms = 30000;  // message.timeout.ms: how long librdkafka retries one message
    // Everything handed to librdkafka, in order (later entries override earlier ones).
    std::vector<std::pair<std::string, std::string>> conf;
};

// Validates the spec's target and parameters; touches no network.
Result<Settings> parse_settings(const OutputSpec& spec, const DestinationContext& ctx);

struct ConfDeleter {
    void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// The librdkafka configuration for `s`; without bootstrap.servers when
// `with_brokers` is false (to check the configuration without connecting).
// An error names the output and carries librdkafka's own message.
Result<ConfPtr> build_conf(const Settings& s, bool with_brokers);

}  // namespace ktrail::kafka
