#include "enrich/user_names.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <cerrno>
#include <vector>

namespace ktrail {

UserNames::UserNames() : passwd_(stamp("/etc/passwd")), group_(stamp("/etc/group")) {}

UserNames::FileStamp UserNames::stamp(const char* path) {
    struct stat st{};
    if (stat(path, &st) != 0) return {};
    return {st.st_ino, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
}

void UserNames::invalidate() {
    users_.clear();
    groups_.clear();
    ++invalidations_;
}

void UserNames::tick(int64_t now_s) {
    now_s_ = now_s;
    // Editors and shadow's tools replace the file: the inode changes too.
    FileStamp p = stamp("/etc/passwd"), g = stamp("/etc/group");
    if (!(p == passwd_) || !(g == group_)) {
        passwd_ = p;
        group_ = g;
        invalidate();
    }
}

const std::string& UserNames::lookup(Cache& cache, uint32_t id, bool user) {
    auto it = cache.find(id);
    if (it != cache.end()) {
        int64_t ttl = it->second.name.empty() ? kMissingTtlS : kTtlS;
        if (now_s_ - it->second.loaded_s < ttl) return it->second.name;
    }
    if (cache.size() >= kMaxEntries) {
        cache.clear();
        it = cache.end();
    }
    std::string name;
    std::vector<char> buf(1024);
    for (;;) {
        int rc;
        if (user) {
            struct passwd pw{}, *out = nullptr;
            rc = getpwuid_r(id, &pw, buf.data(), buf.size(), &out);
            if (rc == 0 && out) name = out->pw_name;
        } else {
            struct group gr{}, *out = nullptr;
            rc = getgrgid_r(id, &gr, buf.data(), buf.size(), &out);
            if (rc == 0 && out) name = out->gr_name;
        }
        if (rc != ERANGE || buf.size() >= (1u << 20)) break;
        buf.resize(buf.size() * 2);
    }
    Entry& e = it != cache.end() ? it->second : cache[id];
    e.name = std::move(name);
    e.loaded_s = now_s_;
    return e.name;
}

}  // namespace ktrail
