// An --output SPEC taken apart: "scheme://target?key=value&..." (or the
// short forms "stdout", "file:PATH", "collector:HOST:PORT").
#pragma once

#include <map>
#include <memory>
#include <string>

#include "enrich/host.h"
#include "format/event_format.h"
#include "forward/destination.h"
#include "util/error.h"

namespace ktrail {

struct OutputSpec {
    std::string text;    // as given, for messages
    std::string scheme;  // stdout | file | collector | syslog+tcp | syslog+tls | kafka
    std::string target;  // PATH | HOST:PORT | BROKER[,BROKER]/TOPIC
    std::map<std::string, std::string> params;  // after '?', split at '&' and '='
};

Result<OutputSpec> parse_output_spec(const std::string& text);

// What every destination may need besides its spec.
struct DestinationContext {
    HostIdentity host;
    Format format = Format::json;  // --format; a spec's ?format= wins
};

// Each returns a clear error naming the spec and the fix for a bad target or
// an unknown parameter; none touches the network before the first deliver().
Result<std::unique_ptr<forward::Destination>> make_file_destination(const OutputSpec&, const DestinationContext&);
Result<std::unique_ptr<forward::Destination>> make_syslog_destination(const OutputSpec&, const DestinationContext&);
Result<std::unique_ptr<forward::Destination>> make_kafka_destination(const OutputSpec&, const DestinationContext&);

// The format of an output: its ?format= or the context's (an error names a
// bad value).
Result<Format> output_format(const OutputSpec&, const DestinationContext&);

}  // namespace ktrail
