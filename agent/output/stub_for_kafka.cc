// TEMP: minimal stand-ins for parse_output_spec, output_format and
// append_event until the real ones land on main. Drop this file (and its
// CMake line) when merging them.
#include <fmt/format.h>

#include "format/event_format.h"
#include "format/json_format.h"
#include "output/output_spec.h"

namespace ktrail {

Result<Format> parse_format(std::string_view name) {
    if (name == "json") return Format::json;
    if (name == "ocsf") return Format::ocsf;
    if (name == "cef") return Format::cef;
    return fail(fmt::format("format '{}' is not one of json, ocsf, cef", name));
}

const char* to_string(Format f) { return f == Format::json ? "json" : f == Format::ocsf ? "ocsf" : "cef"; }

void append_event(Format f, const v1::Event& ev, std::string& out) {
    if (f == Format::cef) {
        out += fmt::format("CEF:0|ktrail|ktrail|0.1.0|{}|{}|{}|cnt=1 externalId={}", ev.action(), ev.action(),
                           ev.severity(), ev.sequence());
        return;
    }
    append_json(ev, out);
    if (!out.empty() && out.back() == '\n') out.pop_back();
}

Result<Format> output_format(const OutputSpec& spec, const DestinationContext& ctx) {
    auto it = spec.params.find("format");
    if (it == spec.params.end()) return ctx.format;
    auto f = parse_format(it->second);
    if (!f) return fail(fmt::format("--output {}: {}", spec.text, f.error().message));
    return f;
}

Result<OutputSpec> parse_output_spec(const std::string& text) {
    OutputSpec s;
    s.text = text;
    size_t colon = text.find("://");
    if (colon == std::string::npos) return fail(fmt::format("--output {}: no scheme", text));
    s.scheme = text.substr(0, colon);
    std::string rest = text.substr(colon + 3);
    size_t q = rest.find('?');
    s.target = rest.substr(0, q);
    if (q != std::string::npos) {
        std::string query = rest.substr(q + 1);
        size_t pos = 0;
        while (pos <= query.size()) {
            size_t amp = query.find('&', pos);
            std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
            size_t eq = kv.find('=');
            if (!kv.empty()) s.params[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
            if (amp == std::string::npos) break;
            pos = amp + 1;
        }
    }
    return s;
}

}  // namespace ktrail
