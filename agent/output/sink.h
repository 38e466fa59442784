// Where JSON lines go: stdout or a file. Writes are buffered; flush() hands
// them to the kernel (the agent flushes on every batch and on a timer).
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "util/error.h"

namespace ktrail {

class Sink {
public:
    virtual ~Sink() = default;
    virtual Result<void> write(std::string_view lines) = 0;
    virtual Result<void> flush() = 0;
    virtual std::string name() const = 0;
};

// SPEC: "stdout" or "file:PATH".
Result<std::unique_ptr<Sink>> open_sink(const std::string& spec);

}  // namespace ktrail
