#include "format/event_format.h"

#include "format/json_format.h"

namespace ktrail {

Result<Format> parse_format(std::string_view name) {
    if (name == "json") return Format::json;
    if (name == "ocsf") return Format::ocsf;
    if (name == "cef") return Format::cef;
    return fail("unknown event format '" + std::string(name) + "': use json, ocsf or cef");
}

const char* to_string(Format f) {
    switch (f) {
    case Format::json: return "json";
    case Format::ocsf: return "ocsf";
    case Format::cef: return "cef";
    }
    return "json";
}

void append_event(Format f, const v1::Event& ev, std::string& out) {
    switch (f) {
    case Format::json:
        append_json(ev, out);
        out.pop_back();  // append_json ends the line; the output frames it
        return;
    case Format::ocsf: append_ocsf(ev, out); return;
    case Format::cef: append_cef(ev, out); return;
    }
}

}  // namespace ktrail
