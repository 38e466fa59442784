#include "spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ktrail::spool {
namespace {

constexpr char kMagic[8] = {'K', 'T', 'S', 'P', 'O', 'O', 'L', '1'};
constexpr size_t kHeader = sizeof(kMagic);
constexpr size_t kRecordHeader = 8;           // u32 length, u32 crc
constexpr size_t kMaxPayload = 16u << 20;     // far above any event
constexpr size_t kEventFixed = 1 + 8 + 32;
constexpr size_t kCheckpointSize = 1 + 8 + 32 + 8 + 64;
// Kept free for what reports a full spool (events-lost) and checkpoints.
constexpr uint64_t kReserve = 64 * 1024;

void put64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
uint32_t get32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
uint64_t get64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }

std::string segment_path(const std::string& dir, uint64_t first) {
    return fmt::format("{}/{:020}.wal", dir, first);
}

// Frames `payload_size` bytes about to be appended to `out` at `at`.
void frame(std::string& out, size_t at) {
    size_t len = out.size() - at - kRecordHeader;
    uint32_t l = static_cast<uint32_t>(len);
    uint32_t crc = crc32c(0, out.data() + at + kRecordHeader, len);
    std::memcpy(out.data() + at, &l, 4);
    std::memcpy(out.data() + at + 4, &crc, 4);
}

// One record at p (bytes available: n). Returns its total size, or 0 if
// what is there is not a whole valid record.
size_t parse(const char* p, size_t n, Record* out) {
    if (n < kRecordHeader) return 0;
    uint32_t len = get32(p);
    if (len < 1 || len > kMaxPayload || len > n - kRecordHeader) return 0;
    const char* q = p + kRecordHeader;
    if (crc32c(0, q, len) != get32(p + 4)) return 0;
    auto type = static_cast<Record::Type>(q[0]);
    if (type == Record::Type::event) {
        if (len < kEventFixed) return 0;
    } else if (type == Record::Type::checkpoint) {
        if (len != kCheckpointSize) return 0;
    } else {
        return 0;
    }
    if (out) {
        out->type = type;
        out->sequence = get64(q + 1);
        std::memcpy(out->hash.data(), q + 9, 32);
        if (type == Record::Type::event) {
            out->time_ns = 0;
            out->bytes.assign(q + kEventFixed, len - kEventFixed);
        } else {
            out->time_ns = static_cast<int64_t>(get64(q + 41));
            out->bytes.assign(q + 49, 64);
        }
    }
    return kRecordHeader + len;
}

Result<std::string> read_file(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(fmt::format("cannot open {}: {}", path, strerror(errno)));
    std::string data;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            return fail(fmt::format("cannot read {}: {}", path, strerror(err)));
        }
        if (n == 0) break;
        data.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return data;
}

Result<void> write_all(int fd, const char* p, size_t n, const std::string& what) {
    while (n) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return fail(fmt::format("writing the spool segment {} failed: {}", what, strerror(errno)));
        p += w;
        n -= static_cast<size_t>(w);
    }
    return {};
}

Result<void> make_dirs(const std::string& dir) {
    for (size_t i = 1; i <= dir.size(); ++i) {
        if (i != dir.size() && dir[i] != '/') continue;
        std::string part = dir.substr(0, i);
        if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
            return fail(fmt::format("cannot create the spool directory {}: {}", part, strerror(errno)));
    }
    return {};
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::open(const Options& options, Recovery* recovery) {
    if (options.dir.empty()) return fail("the spool needs a directory (--spool DIR)");
    std::unique_ptr<Spool> s(new Spool());
    s->options_ = options;
    if (s->options_.cursors.empty()) s->options_.cursors.push_back(options.dir + "/acked");
    for (const auto& path : s->options_.cursors) {
        s->cursors_.push_back(std::make_unique<Cursor>());
        s->cursors_.back()->path = path;
    }
    if (auto ok = make_dirs(options.dir); !ok) return std::unexpected(ok.error());
    if (auto ok = s->lock(); !ok) return std::unexpected(ok.error());
    Recovery r;
    if (auto ok = s->recover(r); !ok) return std::unexpected(ok.error());
    if (recovery) *recovery = r;
    return s;
}

Result<void> Spool::recover(Recovery& r) {
    const std::string& dir = options_.dir;
    // The consumers' cursors: the newest one is where the chain stands if
    // no segment is left.
    for (auto& c : cursors_) {
        auto text = read_file(c->path);
        if (!text) continue;
        uint64_t seq = 0;
        char hex[65] = {};
        if (sscanf(text->c_str(), "%lu %64s", &seq, hex) != 2 || strlen(hex) != 64) continue;
        chain::Hash h;
        for (size_t i = 0; i < 32; ++i) h[i] = static_cast<uint8_t>(std::stoul(std::string(hex + 2 * i, 2), nullptr, 16));
        c->acked = seq;
        c->saved = seq;
        c->hash = h;
        c->found = true;
        if (seq >= last_sequence_) {
            last_sequence_ = seq;
            head_ = h;
        }
    }
    DIR* d = opendir(dir.c_str());
    if (!d) return fail(fmt::format("cannot list the spool directory {}: {}", dir, strerror(errno)));
    while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.size() != 24 || !name.ends_with(".wal")) continue;
        uint64_t first = std::strtoull(name.c_str(), nullptr, 10);
        segments_.push_back({first, dir + "/" + name, 0, nullptr});
    }
    closedir(d);
    std::sort(segments_.begin(), segments_.end(),
              [](const Segment& a, const Segment& b) { return a.first_sequence < b.first_sequence; });
    // Segments every consumer is past (their successor starts after its ack)
    // go; a new consumer (at 0 until placed below) keeps them all.
    drop_acked_segments();
    uint64_t total = 0;
    for (auto& seg : segments_) {
        struct stat st{};
        if (stat(seg.path.c_str(), &st) == 0) seg.size = static_cast<uint64_t>(st.st_size);
        total += seg.size;
    }
    // Where the chain stands: the newest valid event. A torn or damaged tail
    // of the newest segment is cut (it was never durable, never forwarded).
    for (size_t i = segments_.size(); i-- > 0;) {
        auto data = read_file(segments_[i].path);
        if (!data) return std::unexpected(data.error());
        size_t off = 0;
        if (data->size() >= kHeader && std::memcmp(data->data(), kMagic, kHeader) == 0) off = kHeader;
        size_t valid_end = off;
        bool found = false;
        Record rec;
        while (off < data->size()) {
            size_t n = parse(data->data() + off, data->size() - off, &rec);
            if (n == 0) break;
            off += n;
            valid_end = off;
            if (rec.type == Record::Type::event && rec.sequence > last_sequence_) {
                last_sequence_ = rec.sequence;
                head_ = rec.hash;
                found = true;
            } else if (rec.type == Record::Type::event) {
                found = true;
            }
        }
        bool newest = i + 1 == segments_.size();
        if (newest && valid_end < data->size()) {
            uint64_t cut = data->size() - valid_end;
            r.damaged_bytes += cut;
            if (cut >= kRecordHeader) ++r.damaged_records;
            if (valid_end < kHeader) {
                unlink(segments_[i].path.c_str());  // not even a header: nothing to keep
                total -= segments_[i].size;
                segments_.pop_back();
                continue;
            }
            if (truncate(segments_[i].path.c_str(), static_cast<off_t>(valid_end)) != 0)
                return fail(fmt::format("cannot cut the damaged tail of {}: {}", segments_[i].path, strerror(errno)));
            total -= cut;
            segments_[i].size = valid_end;
        }
        if (found) break;
    }
    r.last_sequence = last_sequence_;
    r.head = head_;
    // A new consumer starts at the oldest record kept (with none: at the
    // chain's end, whose hash is known).
    for (auto& c : cursors_) {
        if (c->found) continue;
        if (segments_.empty() || segments_.front().first_sequence > last_sequence_) {
            c->acked = last_sequence_;
            c->hash = head_;
        } else {
            c->acked = segments_.front().first_sequence - 1;
            if (c->acked == 0) c->hash = chain::kGenesis;
        }
    }
    r.acked = min_acked();
    bytes_ = total;
    for (auto& seg : segments_) {
        auto file = open_for_readers(seg.path);
        if (!file) return std::unexpected(file.error());
        seg.file = std::move(*file);
    }
    if (segments_.empty() || segments_.back().size >= options_.segment_bytes) return roll();
    auto& seg = segments_.back();
    current_path_ = seg.path;
    fd_ = ::open(seg.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) return fail(fmt::format("cannot open the spool segment {}: {}", seg.path, strerror(errno)));
    segment_size_ = seg.size;
    durable_ = last_sequence_;
    durable_segment_ = seg.first_sequence;
    durable_offset_ = seg.size;
    return {};
}

Spool::~Spool() {
    (void)commit();
    if (fd_ >= 0) close(fd_);
    if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
}

Result<void> Spool::lock() {
    std::string path = options_.dir + "/LOCK";
    lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) return fail(fmt::format("cannot open the spool lock {}: {}", path, strerror(errno)));
    if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = {};
        (void)pread(lock_fd_, pid, sizeof(pid) - 1, 0);
        return fail(fmt::format("the spool {} is in use by another ktraild (pid {}); stop it, or give this one its "
                                "own --state and --spool",
                                options_.dir, std::string_view(pid).substr(0, std::string_view(pid).find('\n'))));
    }
    std::string me = fmt::format("{}\n", getpid());
    if (ftruncate(lock_fd_, 0) == 0) (void)pwrite(lock_fd_, me.data(), me.size(), 0);
    return {};
}

Spool::SegmentFile::~SegmentFile() {
    if (fd >= 0) close(fd);
}

Result<std::shared_ptr<Spool::SegmentFile>> Spool::open_for_readers(const std::string& path) {
    auto file = std::make_shared<SegmentFile>();
    file->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (file->fd < 0) return fail(fmt::format("cannot open the spool segment {}: {}", path, strerror(errno)));
    return file;
}

uint64_t Spool::min_acked() const {
    uint64_t m = UINT64_MAX;
    for (const auto& c : cursors_) m = std::min(m, c->acked.load(std::memory_order_acquire));
    return m;
}

void Spool::drop_acked_segments() {
    // Only below what the cursor files say: after a crash no consumer may
    // come back to a position whose segment is gone.
    uint64_t through = UINT64_MAX;
    for (const auto& c : cursors_) through = std::min(through, c->saved);
    while (segments_.size() > 1 && segments_[1].first_sequence <= through + 1) {
        unlink(segments_.front().path.c_str());
        bytes_.fetch_sub(std::min(bytes_.load(std::memory_order_relaxed), segments_.front().size),
                         std::memory_order_relaxed);
        segments_.erase(segments_.begin());
    }
}

bool Spool::has_room(size_t n, bool from_reserve) const {
    return bytes_.load(std::memory_order_relaxed) + n + kRecordHeader + kEventFixed + (from_reserve ? 0 : kReserve) <=
           options_.max_bytes;
}

std::optional<chain::Hash> Spool::acked_hash(size_t c) const {
    std::lock_guard lock(segments_mu_);
    return cursors_[c]->hash;
}

Result<void> Spool::append_event(uint64_t sequence, std::string_view event_bytes) {
    if (segment_size_ + buf_.size() >= options_.segment_bytes)
        if (auto ok = roll(); !ok) return ok;
    head_ = chain::next(head_, event_bytes);
    last_sequence_ = sequence;
    size_t at = buf_.size();
    buf_.resize(at + kRecordHeader);
    buf_.push_back(static_cast<char>(Record::Type::event));
    put64(buf_, sequence);
    buf_.append(chain::as_bytes(head_));
    buf_.append(event_bytes);
    frame(buf_, at);
    bytes_.fetch_add(buf_.size() - at, std::memory_order_relaxed);
    if (buf_.size() >= (1u << 20)) return write_buffer();
    return {};
}

Result<void> Spool::append_checkpoint(uint64_t sequence, const chain::Hash& head, int64_t time_ns,
                                      std::string_view signature) {
    size_t at = buf_.size();
    buf_.resize(at + kRecordHeader);
    buf_.push_back(static_cast<char>(Record::Type::checkpoint));
    put64(buf_, sequence);
    buf_.append(chain::as_bytes(head));
    put64(buf_, static_cast<uint64_t>(time_ns));
    std::string sig(signature);
    sig.resize(64);
    buf_.append(sig);
    frame(buf_, at);
    bytes_.fetch_add(buf_.size() - at, std::memory_order_relaxed);
    return {};
}

Result<void> Spool::write_buffer() {
    if (buf_.empty()) return {};
    auto ok = write_all(fd_, buf_.data(), buf_.size(), current_path_);
    if (!ok) {
        // Whatever part was written is cut again at the next start; keep
        // the buffer so a later commit retries (disk full clears up).
        return ok;
    }
    segment_size_ += buf_.size();
    buf_.clear();
    return {};
}

void Spool::publish_durable() {
    std::lock_guard lock(segments_mu_);
    segments_.back().size = segment_size_;
    durable_segment_ = segments_.back().first_sequence;
    durable_offset_ = segment_size_;
    durable_.store(last_sequence_, std::memory_order_release);
}

Result<void> Spool::commit() {
    if (fd_ < 0) return {};
    if (!buf_.empty() || durable_offset_ != segment_size_) {
        if (auto ok = write_buffer(); !ok) return ok;
        if (fdatasync(fd_) != 0)
            return fail(fmt::format("fdatasync of the spool segment {} failed: {}", current_path_, strerror(errno)));
        publish_durable();
    }
    return save_cursors();
}

Result<void> Spool::roll() {
    if (fd_ >= 0) {
        if (auto ok = commit(); !ok) return ok;
        close(fd_);
        fd_ = -1;
    }
    uint64_t first = last_sequence_ + 1;
    std::string path = segment_path(options_.dir, first);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return fail(fmt::format("cannot create the spool segment {}: {}", path, strerror(errno)));
    if (auto ok = write_all(fd, kMagic, kHeader, path); !ok) {
        close(fd);
        return ok;
    }
    auto file = open_for_readers(path);
    if (!file) {
        close(fd);
        return std::unexpected(file.error());
    }
    // The new name must survive a crash too.
    if (int dfd = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    fd_ = fd;
    current_path_ = path;
    segment_size_ = kHeader;
    bytes_.fetch_add(kHeader, std::memory_order_relaxed);
    {
        std::lock_guard lock(segments_mu_);
        if (!segments_.empty() && segments_.back().first_sequence == first) {
            segments_.back().size = 0;  // an old empty segment of the same name, just replaced
            segments_.back().path = path;
            segments_.back().file = std::move(*file);
        } else {
            segments_.push_back({first, path, 0, std::move(*file)});
        }
    }
    publish_durable();
    return {};
}

void Spool::ack(uint64_t sequence, const chain::Hash& hash, size_t consumer) {
    Cursor& c = *cursors_[consumer];
    std::lock_guard lock(segments_mu_);
    if (sequence <= c.acked.load(std::memory_order_acquire)) return;
    c.hash = hash;
    c.acked.store(sequence, std::memory_order_release);
}

Result<void> Spool::save_cursors() {
    bool saved_any = false;
    for (auto& c : cursors_) {
        uint64_t sequence;
        std::optional<chain::Hash> hash;
        {
            std::lock_guard lock(segments_mu_);
            sequence = c->acked.load(std::memory_order_acquire);
            hash = c->hash;
        }
        if (sequence == c->saved || !hash) continue;  // (no hash: a new consumer not yet past its start)
        // Not fsynced: a lost cursor only means a re-delivery, which the
        // collector deduplicates (other outputs are at-least-once).
        std::string tmp = c->path + ".tmp";
        std::string text = fmt::format("{} {}\n", sequence, chain::to_hex(*hash));
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) return fail(fmt::format("cannot write the spool cursor {}: {}", tmp, strerror(errno)));
        auto ok = write_all(fd, text.data(), text.size(), tmp);
        close(fd);
        if (!ok) return ok;
        if (rename(tmp.c_str(), c->path.c_str()) != 0)
            return fail(fmt::format("cannot replace the spool cursor {}: {}", c->path, strerror(errno)));
        c->saved = sequence;
        saved_any = true;
    }
    if (saved_any) {
        std::lock_guard lock(segments_mu_);
        drop_acked_segments();
    }
    return {};
}

// ---- Reader ----

struct Reader::Impl {
    uint64_t segment = 0;      // first_sequence of the open segment (0: none)
    std::shared_ptr<Spool::SegmentFile> file;
    int fd = -1;               // file->fd
    uint64_t offset = 0;
    std::string buf;           // file bytes [buf_at, buf_at + buf.size())
    uint64_t buf_at = 0;
    uint64_t skip_through = 0; // events (and checkpoints) up to here were sent
    uint64_t expect = 0;       // the next event sequence, if nothing is lost
    uint64_t damaged_bytes = 0;
    uint64_t damaged_records = 0;

    void close_segment() {
        file.reset();
        fd = -1;
        buf.clear();
    }
    // Makes file bytes [off, off+n) (n <= bound-off) available in buf.
    bool ensure(uint64_t off, size_t n, uint64_t bound) {
        if (off >= buf_at && off + n <= buf_at + buf.size()) return true;
        size_t want = static_cast<size_t>(std::min<uint64_t>(std::max<size_t>(n, 1u << 20), bound - off));
        buf.resize(want);
        size_t got = 0;
        while (got < want) {
            ssize_t r = pread(fd, buf.data() + got, want - got, static_cast<off_t>(off + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += static_cast<size_t>(r);
        }
        buf.resize(got);
        buf_at = off;
        return got >= n;
    }
};

Reader::Reader(Spool& spool, size_t consumer) : spool_(spool), impl_(std::make_unique<Impl>()) {
    impl_->skip_through = spool.acked(consumer);
    impl_->expect = impl_->skip_through + 1;
}

Reader::~Reader() { impl_->close_segment(); }

uint64_t Reader::damaged_bytes() const { return impl_->damaged_bytes; }
uint64_t Reader::damaged_records() const { return impl_->damaged_records; }

void Reader::rewind(uint64_t sequence) {
    impl_->close_segment();
    impl_->segment = 0;
    impl_->skip_through = sequence;
    impl_->expect = sequence + 1;
}

Result<size_t> Reader::read(size_t max_events, size_t max_bytes, std::vector<Record>& out,
                            std::vector<LostRange>& damaged) {
    Impl& m = *impl_;
    size_t added = 0, events = 0, bytes = 0;
    while (events < max_events && bytes < max_bytes) {
        uint64_t bound = 0;
        bool writing = false;
        uint64_t next_segment = 0;
        {
            std::lock_guard lock(spool_.segments_mu_);
            const auto& segs = spool_.segments_;
            auto it = std::lower_bound(segs.begin(), segs.end(), m.segment,
                                       [](const Spool::Segment& s, uint64_t v) { return s.first_sequence < v; });
            if (m.fd < 0 || it == segs.end() || it->first_sequence != m.segment) {
                // Open the segment at or after the position (the oldest one
                // after a rewind, or when ours was acked away).
                if (m.fd >= 0 && it != segs.end() && it->first_sequence != m.segment) m.close_segment();
                if (it == segs.end()) return added;
                m.close_segment();
                m.segment = it->first_sequence;
                m.file = it->file;
                m.fd = m.file->fd;
                m.buf_at = 0;
                m.offset = kHeader;
            }
            writing = m.segment == spool_.durable_segment_;
            bound = writing ? spool_.durable_offset_ : it->size;
            if (std::next(it) != segs.end()) next_segment = std::next(it)->first_sequence;
        }
        if (!writing && bound == 0) {  // a finished segment: its size from the file
            struct stat st{};
            if (fstat(m.fd, &st) == 0) bound = static_cast<uint64_t>(st.st_size);
        }
        if (m.offset >= bound) {
            if (writing || next_segment == 0) break;  // all that is durable is read
            m.close_segment();
            m.segment = next_segment;
            continue;
        }
        // One record at m.offset, or the next valid one after damage.
        size_t avail = static_cast<size_t>(std::min<uint64_t>(bound - m.offset, kRecordHeader + kMaxPayload));
        m.ensure(m.offset, std::min<size_t>(avail, kRecordHeader), bound);
        size_t need = kRecordHeader;
        if (m.buf_at + m.buf.size() >= m.offset + kRecordHeader) {
            uint32_t len = get32(m.buf.data() + (m.offset - m.buf_at));
            if (len <= kMaxPayload) need += len;
        }
        need = std::min(need, avail);
        m.ensure(m.offset, need, bound);
        Record rec;
        size_t n = parse(m.buf.data() + (m.offset - m.buf_at), std::min<uint64_t>(m.buf.size() - (m.offset - m.buf_at), avail),
                         &rec);
        if (n == 0) {
            // Damaged: skip to the next offset where a whole valid record starts.
            ++m.damaged_records;
            uint64_t from = m.offset;
            m.ensure(from, static_cast<size_t>(bound - from), bound);
            const char* base = m.buf.data() + (from - m.buf_at);
            size_t span = m.buf.size() - (from - m.buf_at);
            size_t skip = 1;
            while (skip < span && parse(base + skip, span - skip, nullptr) == 0) ++skip;
            m.damaged_bytes += skip;
            m.offset = from + skip;
            continue;
        }
        m.offset += n;
        if (rec.sequence <= m.skip_through) continue;
        if (rec.type == Record::Type::event) {
            if (rec.sequence > m.expect) damaged.push_back({m.expect, rec.sequence - 1});
            m.expect = rec.sequence + 1;
            ++events;
        }
        bytes += n;
        out.push_back(std::move(rec));
        ++added;
    }
    return added;
}

}  // namespace ktrail::spool
