// End-to-end latency, syscall to queryable row: creates files at a steady
// rate while polling the collector's SQLite store for them; the latency of
// each is the first poll that saw its row minus the time just before its
// open(2). Run by scripts/bench.sh with ktraild and ktrail-collector running.
//   e2e_latency_bench STORE.db AGENT_ID DIR RATE SECONDS
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: e2e_latency_bench STORE.db AGENT_ID DIR RATE SECONDS\n");
        return 2;
    }
    std::string db_path = argv[1], agent = argv[2], dir = argv[3];
    long rate = atol(argv[4]), seconds = atol(argv[5]);
    size_t n = static_cast<size_t>(rate * seconds);
    std::vector<int64_t> created(n, 0), seen(n, 0);
    std::atomic<bool> done{false};

    std::thread poller([&] {
        sqlite3* db = nullptr;
        if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
            fprintf(stderr, "e2e_latency_bench: cannot open %s\n", db_path.c_str());
            exit(1);
        }
        sqlite3_busy_timeout(db, 1000);
        sqlite3_stmt* q = nullptr;
        sqlite3_prepare_v2(db, "SELECT sequence, path FROM events WHERE agent_id = ?1 AND sequence > ?2 ORDER BY sequence",
                           -1, &q, nullptr);
        int64_t last = 0;
        // Start after what is already stored.
        sqlite3_stmt* m = nullptr;
        sqlite3_prepare_v2(db, "SELECT coalesce(max(sequence), 0) FROM events WHERE agent_id = ?1", -1, &m, nullptr);
        sqlite3_bind_text(m, 1, agent.c_str(), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(m) == SQLITE_ROW) last = sqlite3_column_int64(m, 0);
        sqlite3_finalize(m);
        std::string prefix = dir + "/f";
        size_t found = 0;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds + 30);
        while (found < n && std::chrono::steady_clock::now() < deadline) {
            sqlite3_bind_text(q, 1, agent.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(q, 2, last);
            int64_t t = 0;
            while (sqlite3_step(q) == SQLITE_ROW) {
                if (!t) t = now_ns();
                last = sqlite3_column_int64(q, 0);
                auto* p = reinterpret_cast<const char*>(sqlite3_column_text(q, 1));
                if (!p || std::string_view(p).substr(0, prefix.size()) != prefix) continue;
                size_t i = strtoul(p + prefix.size(), nullptr, 10);
                if (i < n && !seen[i]) {
                    seen[i] = t;
                    ++found;
                }
            }
            sqlite3_reset(q);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        sqlite3_finalize(q);
        sqlite3_close(db);
        done = true;
    });

    auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n; ++i) {
        auto due = start + std::chrono::nanoseconds(static_cast<int64_t>(i) * 1'000'000'000LL / rate);
        std::this_thread::sleep_until(due);
        std::string path = dir + "/f" + std::to_string(i);
        created[i] = now_ns();
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) close(fd);
    }
    poller.join();
    std::vector<double> ms;
    size_t missing = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!seen[i]) {
            ++missing;
            continue;
        }
        ms.push_back(static_cast<double>(seen[i] - created[i]) / 1e6);
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())))]; };
    printf("e2e latency at %ld events/s for %ld s, syscall to queryable SQLite row: p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
           "%zu of %zu rows never seen\n",
           rate, seconds, pct(0.50), pct(0.99), ms.empty() ? 0.0 : ms.back(), missing, n);
    return missing ? 1 : 0;
}
