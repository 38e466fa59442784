// Third-party test data lives in ../shared/corpus (or $KTRAIL_CORPUS) and is
// never copied into the repository. Where it is absent a test says so and
// does not run its checks; under CI=true that is a failure.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ktrail::test {

inline std::string corpus_dir() {
    const char* env = getenv("KTRAIL_CORPUS");
    std::string dir = env && *env ? env : KTRAIL_CORPUS;
    return std::filesystem::exists(dir) ? std::filesystem::canonical(dir).string() : std::string();
}

inline std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

}  // namespace ktrail::test

// Binds `var` to the corpus directory, or leaves the test case when absent.
#define KTRAIL_REQUIRE_CORPUS(var)                                                              \
    const std::string var = ::ktrail::test::corpus_dir();                                       \
    if (var.empty()) {                                                                          \
        const char* ci_ = getenv("CI");                                                         \
        if (ci_ && strcmp(ci_, "true") == 0) FAIL("test corpus not found (../shared/corpus)"); \
        WARN("test corpus not found (../shared/corpus or $KTRAIL_CORPUS): checks not run");    \
        return;                                                                                 \
    }
