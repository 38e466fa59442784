// Finishing paths in user space: joining with the kernel-resolved directory,
// `.`/`..`, and symlinks resolved as the kernel would.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "source/bpf/path_resolver.h"

using ktrail::bpf::lexically_normal;
using ktrail::bpf::resolve_path;
namespace fs = std::filesystem;

TEST_CASE("lexical normalization", "[path]") {
    CHECK(lexically_normal("/a/./b//c/") == "/a/b/c");
    CHECK(lexically_normal("/a/b/../c") == "/a/c");
    CHECK(lexically_normal("/../../etc/passwd") == "/etc/passwd");
    CHECK(lexically_normal("/") == "/");
    CHECK(lexically_normal("a/../../b") == "../b");
    CHECK(lexically_normal("") == ".");
}

TEST_CASE("joining the kernel's directory with the caller's name", "[path]") {
    CHECK(resolve_path("/home/alice", "notes.txt", false, false) == "/home/alice/notes.txt");
    CHECK(resolve_path("/home/alice", "../bob/x", false, false) == "/home/bob/x");
    CHECK(resolve_path("/home/alice", "/etc/shadow", false, false) == "/etc/shadow");
    CHECK(resolve_path("/", "etc", false, false) == "/etc");
    CHECK(resolve_path("/srv/file", "", false, false) == "/srv/file");  // AT_EMPTY_PATH
    CHECK(resolve_path("", "rel/name", false, false) == "rel/name");    // base unknown: as given
}

TEST_CASE("symlinks in the directory part are resolved; the last one only if followed", "[path]") {
    char tmpl[] = "/tmp/ktrail-unit-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    fs::path dir = fs::canonical(tmpl);
    fs::create_directory(dir / "real");
    fs::create_directory_symlink(dir / "real", dir / "link");
    std::ofstream(dir / "real/file") << "x";
    fs::create_symlink(dir / "real/file", dir / "real/flink");

    CHECK(resolve_path(dir.string(), "link/file", false, true) == (dir / "real/file").string());
    CHECK(resolve_path(dir.string(), "link/../real/file", false, true) == (dir / "real/file").string());
    CHECK(resolve_path(dir.string(), "link/flink", false, true) == (dir / "real/flink").string());
    CHECK(resolve_path(dir.string(), "link/flink", true, true) == (dir / "real/file").string());
    // Gone already (unlink at exit): the directory still resolves.
    CHECK(resolve_path(dir.string(), "link/deleted", false, true) == (dir / "real/deleted").string());
    // Not allowed to look (another mount namespace): lexical only.
    CHECK(resolve_path(dir.string(), "link/file", false, false) == (dir / "link/file").string());
    fs::remove_all(dir);
}
