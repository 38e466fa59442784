#include "format/json_writer.h"

#include <array>
#include <charconv>

namespace ktrail {

size_t utf8_len(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    uint8_t c = b(i);
    size_t n;
    uint32_t min;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) n = 2, min = 0x80;
    else if ((c & 0xf0) == 0xe0) n = 3, min = 0x800;
    else if ((c & 0xf8) == 0xf0) n = 4, min = 0x10000;
    else return 0;
    if (i + n > s.size()) return 0;
    uint32_t cp = c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
        if ((b(i + k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

// Bytes that can be copied as they are: printable ASCII but '"' and '\\'.
constexpr auto kPlain = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 0x7f; ++c) t[c] = c != '"' && c != '\\';
    return t;
}();

void JsonWriter::escape(std::string_view s, std::string& out) {
    static const char hex[] = "0123456789abcdef";
    out += '"';
    size_t i = 0;
    while (i < s.size()) {
        size_t run = i;
        while (run < s.size() && kPlain[static_cast<uint8_t>(s[run])]) ++run;
        if (run > i) {
            out.append(s.data() + i, run - i);
            i = run;
            if (i == s.size()) break;
        }
        auto c = static_cast<uint8_t>(s[i]);
        switch (c) {
        case '"': out += "\\\""; ++i; continue;
        case '\\': out += "\\\\"; ++i; continue;
        case '\n': out += "\\n"; ++i; continue;
        case '\r': out += "\\r"; ++i; continue;
        case '\t': out += "\\t"; ++i; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xf];
            ++i;
            continue;
        }
        size_t n = utf8_len(s, i);
        if (n == 0) {
            out += "\\ufffd";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    out += '"';
}

void JsonWriter::separate() {
    if (need_comma_) out_ += ',';
}

void JsonWriter::open(char c) {
    separate();
    out_ += c;
    need_comma_ = false;
}

void JsonWriter::close(char c) {
    out_ += c;
    need_comma_ = true;
}

void JsonWriter::key(std::string_view k) {
    separate();
    out_ += '"';
    out_.append(k);  // keys are the contract's field names: nothing to escape
    out_ += "\":";
    need_comma_ = false;
}

void JsonWriter::key_escaped(std::string_view k) {
    separate();
    escape(k, out_);
    out_ += ':';
    need_comma_ = false;
}

void JsonWriter::value(std::string_view s) {
    separate();
    escape(s, out_);
    need_comma_ = true;
}

void JsonWriter::value(int64_t v) {
    separate();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    out_.append(buf, end);
    need_comma_ = true;
}

void JsonWriter::value(uint64_t v) {
    separate();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    out_.append(buf, end);
    need_comma_ = true;
}

void JsonWriter::value(bool v) {
    separate();
    out_ += v ? "true" : "false";
    need_comma_ = true;
}

}  // namespace ktrail
