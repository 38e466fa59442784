#include "output/output_spec.h"

#include <fmt/format.h>

namespace ktrail {

Result<OutputSpec> parse_output_spec(const std::string& text) {
    OutputSpec s;
    s.text = text;
    std::string body = text;
    // Parameters after the first '?': key=value pairs joined by '&'.
    if (auto q = body.find('?'); q != std::string::npos) {
        std::string query = body.substr(q + 1);
        body.resize(q);
        size_t at = 0;
        while (at <= query.size()) {
            size_t end = query.find('&', at);
            if (end == std::string::npos) end = query.size();
            std::string pair = query.substr(at, end - at);
            at = end + 1;
            if (pair.empty()) continue;
            auto eq = pair.find('=');
            if (eq == std::string::npos || eq == 0)
                return fail(fmt::format("--output {}: '{}' is not key=value", text, pair));
            if (!s.params.emplace(pair.substr(0, eq), pair.substr(eq + 1)).second)
                return fail(fmt::format("--output {}: '{}' is given twice", text, pair.substr(0, eq)));
        }
    }
    if (body == "stdout") {
        s.scheme = "stdout";
    } else if (body.starts_with("file:")) {
        s.scheme = "file";
        s.target = body.substr(5);
    } else if (body.starts_with("collector:")) {
        s.scheme = "collector";
        s.target = body.substr(10);
    } else if (auto sep = body.find("://"); sep != std::string::npos) {
        s.scheme = body.substr(0, sep);
        s.target = body.substr(sep + 3);
        if (s.scheme != "syslog+tcp" && s.scheme != "syslog+tls" && s.scheme != "kafka")
            return fail(fmt::format("--output {}: unknown scheme '{}://'; use syslog+tcp://, syslog+tls:// or kafka://",
                                    text, s.scheme));
    } else {
        return fail(fmt::format("unknown output '{}': use stdout, file:PATH, collector:HOST:PORT, "
                                "syslog+tcp://HOST:PORT, syslog+tls://HOST:PORT or kafka://BROKER[,BROKER]/TOPIC",
                                text));
    }
    if (s.scheme != "stdout" && s.target.empty())
        return fail(fmt::format("--output {} needs a {}", text,
                                s.scheme == "file" ? "path, e.g. file:/var/log/ktrail/events.json" : "target"));
    return s;
}

Result<Format> output_format(const OutputSpec& spec, const DestinationContext& context) {
    auto it = spec.params.find("format");
    if (it == spec.params.end()) return context.format;
    auto f = parse_format(it->second);
    if (!f) return fail(fmt::format("--output {}: {}", spec.text, f.error().message));
    return f;
}

}  // namespace ktrail
