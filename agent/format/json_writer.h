// A small, allocation-light JSON writer for one object per line. Strings are
// escaped per RFC 8259; bytes that are not valid UTF-8 become U+FFFD so the
// output is always valid JSON, whatever a path or argument holds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ktrail {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one (cut,
// overlong, surrogate, beyond U+10FFFF). Other text formats (CEF) use it to
// replace invalid bytes with U+FFFD as the JSON writer does.
size_t utf8_len(std::string_view s, size_t i);

class JsonWriter {
public:
    explicit JsonWriter(std::string& out) : out_(out) {}
    void begin_object() { open('{'); }
    void end_object() { close('}'); }
    void begin_array() { open('['); }
    void end_array() { close(']'); }
    // `k` is one of the contract's field names, written as it is.
    void key(std::string_view k);
    // A key that comes from outside (audit record field names): escaped.
    void key_escaped(std::string_view k);
    void value(std::string_view s);
    void value(const char* s) { value(std::string_view(s)); }
    void value(int64_t v);
    void value(uint64_t v);
    void value(uint32_t v) { value(static_cast<uint64_t>(v)); }
    void value(int32_t v) { value(static_cast<int64_t>(v)); }
    void value(bool v);

    static void escape(std::string_view s, std::string& out);

private:
    void separate();
    void open(char c);
    void close(char c);
    std::string& out_;
    bool need_comma_ = false;
};

}  // namespace ktrail
