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

TEST_CASE("the agent filters named paths by the kernel's rule", "[path-filter]") {
    using ktrail::bpf::AgentPathFilter;
    auto entries = build_path_filter({"/etc"}, {"/etc/mtab", "/tmp/noise"});
    REQUIRE(entries.has_value());
    AgentPathFilter all(*entries, false);
    CHECK(all.allows("deleted", "/var/x", ""));
    CHECK_FALSE(all.allows("deleted", "/tmp/noise/x", ""));
    CHECK_FALSE(all.allows("changed-file-permissions-of", "/etc/mtab", ""));
    // Either location of a rename or link keeps it.
    CHECK(all.allows("renamed", "/tmp/noise/evil", "/etc/passwd"));
    CHECK(all.allows("renamed", "/etc/passwd", "/tmp/noise/copy"));
    CHECK_FALSE(all.allows("renamed", "/tmp/noise/a", "/tmp/noise/b"));
    // A symlink's target is its content, not a location.
    CHECK_FALSE(all.allows("symlinked", "/tmp/noise/l", "/etc/shadow"));

    AgentPathFilter watched(*entries, true);
    CHECK(watched.allows("deleted", "/etc/passwd", ""));
    CHECK_FALSE(watched.allows("deleted", "/var/x", ""));
    CHECK(watched.allows("renamed", "/var/x", "/etc/x"));
    CHECK_FALSE(watched.allows("changed-file-permissions-of", "/etc/mtab", ""));

    AgentPathFilter none({}, false);
    CHECK(none.allows("deleted", "/anything", ""));
}
