#include "output/sink.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ktrail {
namespace {

// Writes to a file descriptor through a user-space buffer.
class FdSink : public Sink {
public:
    FdSink(int fd, bool owned, std::string name) : fd_(fd), owned_(owned), name_(std::move(name)) {
        buf_.reserve(kBuffer);
    }
    ~FdSink() override {
        (void)flush();
        if (owned_) close(fd_);
    }
    Result<void> write(std::string_view lines) override {
        buf_.append(lines);
        if (buf_.size() >= kBuffer) return flush();
        return {};
    }
    Result<void> flush() override {
        size_t done = 0;
        while (done < buf_.size()) {
            ssize_t n = ::write(fd_, buf_.data() + done, buf_.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                int err = errno;
                buf_.erase(0, done);
                return fail(fmt::format("writing events to {} failed: {}", name_, strerror(err)));
            }
            done += static_cast<size_t>(n);
        }
        buf_.clear();
        return {};
    }
    std::string name() const override { return name_; }

private:
    static constexpr size_t kBuffer = 256 * 1024;
    int fd_;
    bool owned_;
    std::string name_;
    std::string buf_;
};

}  // namespace

Result<std::unique_ptr<Sink>> open_sink(const std::string& spec) {
    if (spec == "stdout") return std::make_unique<FdSink>(STDOUT_FILENO, false, "stdout");
    if (spec.starts_with("file:")) {
        std::string path = spec.substr(5);
        if (path.empty()) return fail("--output file: needs a path, e.g. file:/var/log/ktrail/events.json");
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) return fail(fmt::format("cannot open output file {}: {}", path, strerror(errno)));
        return std::make_unique<FdSink>(fd, true, path);
    }
    return fail(fmt::format("unknown output '{}': use stdout or file:PATH", spec));
}

}  // namespace ktrail
