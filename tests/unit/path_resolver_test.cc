// Finishing paths in user space: joining with the kernel-resolved directory,
// `.`/`..`, and symlinks resolved as the kernel would.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "source/bpf/path_resolver.h"

using ktrail::bpf::kLexicalOnly;
using ktrail::bpf::lexically_normal;
using ktrail::bpf::resolve_path;
namespace fs = std::filesystem;

namespace {

// An O_PATH directory fd, closed at the end of the scope.
struct DirFd {
    explicit DirFd(const std::string& path) : fd(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
        REQUIRE(fd >= 0);
    }
    ~DirFd() { close(fd); }
    int fd;
};

}  // namespace

TEST_CASE("lexical normalization", "[path]") {
    CHECK(lexically_normal("/a/./b//c/") == "/a/b/c");
    CHECK(lexically_normal("/a/b/../c") == "/a/c");
    CHECK(lexically_normal("/../../etc/passwd") == "/etc/passwd");
    CHECK(lexically_normal("/") == "/");
    CHECK(lexically_normal("a/../../b") == "../b");
    CHECK(lexically_normal("") == ".");
}

TEST_CASE("joining the kernel's directory with the caller's name", "[path]") {
    CHECK(resolve_path("/home/alice", "notes.txt", false, kLexicalOnly) == "/home/alice/notes.txt");
    CHECK(resolve_path("/home/alice", "../bob/x", false, kLexicalOnly) == "/home/bob/x");
    CHECK(resolve_path("/home/alice", "/etc/shadow", false, kLexicalOnly) == "/etc/shadow");
    CHECK(resolve_path("/", "etc", false, kLexicalOnly) == "/etc");
    CHECK(resolve_path("/srv/file", "", false, kLexicalOnly) == "/srv/file");  // AT_EMPTY_PATH
    CHECK(resolve_path("", "rel/name", false, kLexicalOnly) == "rel/name");    // base unknown: as given
}

TEST_CASE("symlinks in the directory part are resolved; the last one only if followed", "[path]") {
    char tmpl[] = "/tmp/ktrail-unit-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    fs::path dir = fs::canonical(tmpl);
    fs::create_directory(dir / "real");
    fs::create_directory_symlink(dir / "real", dir / "link");
    std::ofstream(dir / "real/file") << "x";
    fs::create_symlink(dir / "real/file", dir / "real/flink");
    DirFd root("/");

    CHECK(resolve_path(dir.string(), "link/file", false, root.fd) == (dir / "real/file").string());
    CHECK(resolve_path(dir.string(), "link/../real/file", false, root.fd) == (dir / "real/file").string());
    CHECK(resolve_path(dir.string(), "link/flink", false, root.fd) == (dir / "real/flink").string());
    CHECK(resolve_path(dir.string(), "link/flink", true, root.fd) == (dir / "real/file").string());
    CHECK(resolve_path(dir.string(), "link/flink/", false, root.fd) == (dir / "real/flink").string());
    CHECK(resolve_path(dir.string(), "link", true, root.fd) == (dir / "real").string());
    CHECK(resolve_path(dir.string(), "link/..", false, root.fd) == dir.string());  // lexical: `..` of link is dir
    CHECK(resolve_path("/", "", false, root.fd) == "/");
    // Gone already (unlink at exit): the directory still resolves.
    CHECK(resolve_path(dir.string(), "link/deleted", false, root.fd) == (dir / "real/deleted").string());
    CHECK(resolve_path(dir.string(), "link/deleted", true, root.fd) == (dir / "real/deleted").string());
    // The directory is gone too: lexical.
    CHECK(resolve_path(dir.string(), "link/gone/../x", false, root.fd) == (dir / "link/x").string());
    // Not allowed to look (another mount namespace): lexical only.
    CHECK(resolve_path(dir.string(), "link/file", false, kLexicalOnly) == (dir / "link/file").string());
    // /proc's magic links are the agent's own, not the caller's: not followed.
    CHECK(resolve_path("/proc/self/cwd", "x", false, root.fd) == "/proc/self/cwd/x");
    fs::remove_all(dir);
}

TEST_CASE("names are resolved under the root given, never above it", "[path]") {
    // A directory stands for "/": as the host's root does when ktraild runs
    // in a mount namespace of its own.
    char tmpl[] = "/tmp/ktrail-unit-root-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    fs::path top = fs::canonical(tmpl);
    fs::create_directories(top / "etc/app");
    fs::create_directories(top / "srv/data");
    std::ofstream(top / "etc/app/conf") << "x";
    fs::create_directory_symlink("/etc/app", top / "srv/data/conf.d");  // absolute: the root's /etc
    fs::create_symlink("/etc/app/conf", top / "srv/data/conf");
    fs::create_symlink("../../../../../../etc/app/conf", top / "srv/up");  // `..` stops at the root
    DirFd root(top.string());
    const std::string t = top.string();

    CHECK(resolve_path("/srv/data", "conf.d/conf", false, root.fd) == t + "/etc/app/conf");
    CHECK(resolve_path("/srv/data", "conf", true, root.fd) == t + "/etc/app/conf");
    CHECK(resolve_path("/srv/data", "conf", false, root.fd) == t + "/srv/data/conf");
    CHECK(resolve_path("/srv", "up", true, root.fd) == t + "/etc/app/conf");
    CHECK(resolve_path("/srv/data", "../../../../etc/app/new", false, root.fd) == t + "/etc/app/new");
    CHECK(resolve_path("", "/srv/data/conf.d/new", false, root.fd) == t + "/etc/app/new");
    // Not under this root: lexical.
    CHECK(resolve_path("/nowhere", "x", false, root.fd) == "/nowhere/x");
    fs::remove_all(top);
}
