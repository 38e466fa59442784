// The agent's error model: fallible calls return std::expected<T, Error>.
// An Error says what failed and, where there is one, the fix.
#pragma once

#include <expected>
#include <string>

namespace ktrail {

struct Error {
    std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message) {
    return std::unexpected(Error{std::move(message)});
}

}  // namespace ktrail
