// Test runner for every tier. Tiers that need root (kernel, e2e) are built
// with KTRAIL_TEST_NEEDS_ROOT: without root they print why and exit 77, which
// ctest reports as skipped; under CI=true a skip is a failure instead, so a
// CI run can never pass with a tier that did not run.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifndef KTRAIL_TEST_ROOT_REASON
#define KTRAIL_TEST_ROOT_REASON "this tier loads BPF programs and needs root"
#endif

int main(int argc, char** argv) {
#ifdef KTRAIL_TEST_NEEDS_ROOT
    bool listing = false;
    for (int i = 1; i < argc; ++i) listing |= strncmp(argv[i], "--list", 6) == 0;
    if (!listing && geteuid() != 0) {
        const char* ci = getenv("CI");
        bool in_ci = ci && strcmp(ci, "true") == 0;
        fprintf(stderr, "%s: %s; run it with sudo%s\n", argv[0], KTRAIL_TEST_ROOT_REASON,
                in_ci ? " (CI=true: a skipped tier fails the run)" : " (skipped)");
        return in_ci ? 1 : 77;
    }
#endif
    return Catch::Session().run(argc, argv);
}
