// Names for user and group ids, from NSS (files, sssd, LDAP: whatever the
// host uses), cached. The cache is dropped when an account changes: on
// account-change events, and when /etc/passwd or /etc/group change on disk.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>

namespace ktrail {

class UserNames {
public:
    UserNames();
    // "" when NSS has no name for the id.
    const std::string& user(uint32_t uid) { return lookup(users_, uid, true); }
    const std::string& group(uint32_t gid) { return lookup(groups_, gid, false); }
    // An account or group was added, renamed, removed.
    void invalidate();
    // Called about once a second: drops the cache if the account files
    // changed, and ages entries (names from network directories change too).
    void tick(int64_t now_s);
    uint64_t invalidations() const { return invalidations_; }

private:
    struct Entry {
        std::string name;
        int64_t loaded_s;
    };
    using Cache = std::unordered_map<uint32_t, Entry>;
    const std::string& lookup(Cache& cache, uint32_t id, bool user);
    struct FileStamp {
        ino_t ino = 0;
        int64_t mtime_ns = 0;
        bool operator==(const FileStamp&) const = default;
    };
    static FileStamp stamp(const char* path);

    Cache users_, groups_;
    FileStamp passwd_, group_;
    int64_t now_s_ = 0;
    uint64_t invalidations_ = 0;
    static constexpr int64_t kTtlS = 600;          // a found name
    static constexpr int64_t kMissingTtlS = 10;    // an id without a name (yet)
    static constexpr size_t kMaxEntries = 65536;
};

}  // namespace ktrail
