// stdout and file:PATH as forwarder destinations: one event per line in the
// output's format. With ?max-size= a file is rotated by size between whole
// lines (PATH.1 is the newest of `keep` generations), follows an external logrotate (a new
// inode at PATH is reopened), and by default fdatasyncs every batch before
// the spool lets go of it.
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "output/output_spec.h"
#include "util/parse_size.h"

namespace ktrail {
namespace {

Result<void> write_all(int fd, const char* p, size_t n, const std::string& what) {
    while (n) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return fail(fmt::format("writing events to {} failed: {}", what, strerror(errno)));
        p += w;
        n -= static_cast<size_t>(w);
    }
    return {};
}

struct FileOptions {
    std::string path;       // empty: stdout
    Format format = Format::json;
    // Off unless asked for: rotating deletes the oldest generation, and an
    // audit trail is not dropped by default (logrotate works too).
    uint64_t max_size = 0;
    unsigned keep = 5;                 // generations PATH.1 .. PATH.keep
    bool fsync = true;                 // fdatasync before a batch counts as delivered
};

class FileDestination : public forward::Destination {
public:
    explicit FileDestination(FileOptions o) : o_(std::move(o)) {}
    ~FileDestination() override {
        if (fd_ >= 0 && !o_.path.empty()) close(fd_);
    }
    std::string name() const override { return o_.path.empty() ? "stdout" : "file:" + o_.path; }

    Result<forward::Delivered> deliver(const forward::Batch& batch) override {
        if (auto ok = ensure_open(); !ok) return std::unexpected(ok.error());
        lines_.clear();
        ends_.clear();
        for (const auto& r : batch.records) {
            if (r.type != spool::Record::Type::event) continue;
            if (!event_.ParseFromString(r.bytes)) {
                // Written by this agent and CRC-checked: only a bug gets here.
                spdlog::error("output {}: event {} in the spool does not parse; skipped", name(), r.sequence);
                count_skipped();
                continue;
            }
            append_event(o_.format, event_, lines_);
            lines_.push_back('\n');
            ends_.push_back(lines_.size());
        }
        // Whole lines up to each rotation point.
        size_t done = 0;
        for (size_t i = 0; i < ends_.size();) {
            size_t j = i;
            while (j < ends_.size() &&
                   (o_.max_size == 0 || size_ + (ends_[j] - done) <= o_.max_size || (j == i && size_ == 0)))
                ++j;
            if (j == i) {  // the next line does not fit: a new generation first
                if (auto ok = rotate(); !ok) return std::unexpected(ok.error());
                continue;
            }
            size_t end = ends_[j - 1];
            if (auto ok = write_all(fd_, lines_.data() + done, end - done, name()); !ok) {
                reopen_ = true;
                return std::unexpected(ok.error());
            }
            size_ += end - done;
            done = end;
            i = j;
        }
        if (o_.fsync && !o_.path.empty() && fdatasync(fd_) != 0)
            return fail(fmt::format("fdatasync of {} failed: {}", o_.path, strerror(errno)));
        return forward::Delivered{};
    }

private:
    Result<void> ensure_open() {
        if (o_.path.empty()) {
            fd_ = STDOUT_FILENO;
            return {};
        }
        if (fd_ >= 0 && !reopen_) {
            // Moved away by logrotate (or deleted): start a new file at PATH.
            struct stat at{}, open_st{};
            if (stat(o_.path.c_str(), &at) == 0 && fstat(fd_, &open_st) == 0 && at.st_ino == open_st.st_ino &&
                at.st_dev == open_st.st_dev)
                return {};
        }
        if (fd_ >= 0) close(fd_);
        fd_ = ::open(o_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd_ < 0) return fail(fmt::format("cannot open the output file {}: {}", o_.path, strerror(errno)));
        struct stat st{};
        size_ = fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
        reopen_ = false;
        return {};
    }

    Result<void> rotate() {
        if (o_.path.empty()) return {};
        if (o_.fsync && fdatasync(fd_) != 0)
            return fail(fmt::format("fdatasync of {} failed: {}", o_.path, strerror(errno)));
        auto gen = [&](unsigned n) { return fmt::format("{}.{}", o_.path, n); };
        (void)unlink(gen(o_.keep).c_str());
        for (unsigned n = o_.keep; n-- > 1;) (void)rename(gen(n).c_str(), gen(n + 1).c_str());
        if (rename(o_.path.c_str(), gen(1).c_str()) != 0)
            return fail(fmt::format("cannot rotate {} to {}: {}", o_.path, gen(1), strerror(errno)));
        ++rotations_;
        reopen_ = true;
        if (auto ok = ensure_open(); !ok) return ok;
        // The new names must survive a crash with the data in them.
        std::string dir = o_.path.substr(0, o_.path.rfind('/') + 1);
        if (int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        return {};
    }

    FileOptions o_;
    int fd_ = -1;
    bool reopen_ = false;
    uint64_t size_ = 0;
    uint64_t rotations_ = 0;
    v1::Event event_;
    std::string lines_;
    std::vector<size_t> ends_;  // where each line ends in lines_
};

}  // namespace

Result<std::unique_ptr<forward::Destination>> make_file_destination(const OutputSpec& spec,
                                                                    const DestinationContext& context) {
    FileOptions o;
    o.path = spec.target;
    auto format = output_format(spec, context);
    if (!format) return std::unexpected(format.error());
    o.format = *format;
    for (const auto& [key, value] : spec.params) {
        if (key == "format") continue;
        if (spec.scheme == "stdout")
            return fail(fmt::format("--output {}: stdout takes only format=", spec.text));
        if (key == "max-size") {
            auto n = parse_size(fmt::format("--output {}: max-size", spec.text), value);
            if (!n) return std::unexpected(n.error());
            o.max_size = *n;
        } else if (key == "keep") {
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), o.keep);
            if (ec != std::errc() || p != value.data() + value.size() || o.keep < 1 || o.keep > 1000)
                return fail(fmt::format("--output {}: keep takes a number of old files from 1 to 1000, not '{}'",
                                        spec.text, value));
        } else if (key == "fsync") {
            if (value != "batch" && value != "none")
                return fail(fmt::format("--output {}: fsync takes batch (fdatasync before the spool lets go) or "
                                        "none (the page cache), not '{}'",
                                        spec.text, value));
            o.fsync = value == "batch";
        } else {
            return fail(fmt::format("--output {}: unknown parameter '{}'; a file takes format=, max-size=, keep=, "
                                    "fsync=",
                                    spec.text, key));
        }
    }
    if (!o.path.empty()) {
        // Fail at start, not at the first event, for a path that cannot work.
        int fd = ::open(o.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) return fail(fmt::format("cannot open output file {}: {}", o.path, strerror(errno)));
        close(fd);
    }
    return std::make_unique<FileDestination>(std::move(o));
}

}  // namespace ktrail
