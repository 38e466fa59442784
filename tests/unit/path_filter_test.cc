// The path filter's entries: prefixes, verdicts, and the ancestor entries that
// tell the kernel which directories' files cannot share a cached verdict.
#include <catch2/catch.hpp>

#include <map>

#include "source/bpf/path_filter.h"

using ktrail::bpf::build_path_filter;
using ktrail::bpf::lookup_verdict;

TEST_CASE("directories become prefixes; their ancestors are marked", "[path-filter]") {
    // /etc exists (a directory); the authorized_keys path need not exist.
    auto entries = build_path_filter({"/etc", "/home/alice/.ssh/authorized_keys"}, {"/etc/mtab"});
    REQUIRE(entries.has_value());
    std::map<std::string, kt_prefix_value> by;
    for (const auto& e : *entries) by[e.prefix] = e.value;

    REQUIRE(by.contains("/etc/"));
    CHECK(by["/etc/"].verdict == KT_PF_WATCH);
    CHECK(by["/etc/"].flags == KT_PFV_ANCESTOR);  // /etc/mtab lies below it
    CHECK(by["/etc/"].len == 5);
    CHECK(by["/etc/mtab"].verdict == KT_PF_EXCLUDE);
    CHECK(by["/etc/mtab"].flags == 0);
    CHECK(by["/"].flags == KT_PFV_ANCESTOR);
    CHECK(by["/"].verdict == 0);
    CHECK(by["/home/alice/.ssh/"].flags == KT_PFV_ANCESTOR);
    CHECK(by["/home/alice/.ssh/"].verdict == 0);
    CHECK(by["/home/alice/.ssh/authorized_keys"].verdict == KT_PF_WATCH);

    CHECK(lookup_verdict(*entries, "/etc/passwd") == KT_PF_WATCH);
    CHECK(lookup_verdict(*entries, "/etc/mtab") == KT_PF_EXCLUDE);
    CHECK(lookup_verdict(*entries, "/home/alice/.ssh/authorized_keys") == KT_PF_WATCH);
    CHECK(lookup_verdict(*entries, "/home/alice/.ssh/id_rsa") == 0);
    CHECK(lookup_verdict(*entries, "/tmp/x") == 0);
}

TEST_CASE("bad filter paths are errors naming the path", "[path-filter]") {
    auto rel = build_path_filter({"etc"}, {});
    REQUIRE_FALSE(rel.has_value());
    CHECK(rel.error().message == "path filter 'etc' is not absolute: give a path starting with '/'");
    auto longp = build_path_filter({"/" + std::string(300, 'a')}, {});
    REQUIRE_FALSE(longp.has_value());
    CHECK(longp.error().message.find("longer than 256 bytes") != std::string::npos);
}
