// Output throughput on one core: events per second each format renders
// (decode from the spool's bytes + render) and each output delivers through a
// real forwarder from a filled spool, against baselines measured in the same
// run (decode alone; a forwarder whose destination does nothing).
//   outputs_bench DIR [TLS_DIR]   (TLS_DIR: scripts/dev-certs.sh output)
// The syslog receivers are child processes on the other core that read and
// discard (plain TCP, and TLS with TLS_DIR's collector certificate). Kafka runs against librdkafka's mock cluster in this process
// (its brokers' threads are not pinned), so it measures the producer, not a
// real broker.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "format/event_format.h"
#include "forward/forwarder.h"
#include "output/output_spec.h"
#include "sample_event.h"
#include "spool/spool.h"

using namespace ktrail;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kEvents = 200'000;

void pin_to(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

// A receiver that reads and discards, in a child on core 1; its port. With
// `tls_dir`, it speaks TLS with the dev collector certificate there.
int discard_receiver(const std::string& tls_dir, pid_t* child) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (ls < 0 || bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(ls, 16) != 0 ||
        getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        return 0;
    *child = fork();
    if (*child == 0) {
        pin_to(1);
        SSL_CTX* ctx = nullptr;
        if (!tls_dir.empty()) {
            ctx = SSL_CTX_new(TLS_server_method());
            if (SSL_CTX_use_certificate_chain_file(ctx, (tls_dir + "/collector.crt").c_str()) != 1 ||
                SSL_CTX_use_PrivateKey_file(ctx, (tls_dir + "/collector.key").c_str(), SSL_FILETYPE_PEM) != 1)
                _exit(1);
        }
        char buf[1 << 16];
        for (;;) {  // one connection at a time, as the output opens them
            int c = accept(ls, nullptr, nullptr);
            if (c < 0) continue;
            if (ctx) {
                SSL* ssl = SSL_new(ctx);
                SSL_set_fd(ssl, c);
                if (SSL_accept(ssl) == 1)
                    while (SSL_read(ssl, buf, sizeof(buf)) > 0) {}
                SSL_free(ssl);
            } else {
                while (read(c, buf, sizeof(buf)) > 0) {}
            }
            close(c);
        }
    }
    close(ls);
    return ntohs(a.sin_port);
}

class NullDestination : public forward::Destination {
public:
    std::string name() const override { return "null"; }
    Result<forward::Delivered> deliver(const forward::Batch&) override { return forward::Delivered{}; }
};

// Rates of rendering alone, from the spool's bytes.
void formats(const std::vector<std::string>& events) {
    v1::Event ev;
    std::string out;
    auto rate = [&](auto&& body) {
        auto start = Clock::now();
        for (uint64_t i = 0; i < kEvents; ++i) body(events[i % events.size()]);
        return static_cast<double>(kEvents) / std::chrono::duration<double>(Clock::now() - start).count();
    };
    double decode = rate([&](const std::string& b) { ev.ParseFromString(b); });
    printf("outputs format decode only (baseline): %.0f events/s\n", decode);
    for (Format f : {Format::json, Format::ocsf, Format::cef}) {
        size_t bytes = 0;
        double r = rate([&](const std::string& b) {
            ev.ParseFromString(b);
            out.clear();
            append_event(f, ev, out);
            bytes += out.size();
        });
        printf("outputs format %s: %.0f events/s (%.0f bytes/event), %.2fx the decode-only time\n", to_string(f), r,
               static_cast<double>(bytes) / kEvents, decode / r);
    }
}

// Delivers the whole filled spool through one forwarder; events/s.
double deliver_all(const std::string& dir, std::unique_ptr<forward::Destination> d, int run) {
    std::string cursor = dir + "/cursor-" + std::to_string(run);
    // The filler's cursor stays at 0, so no run deletes what the next reads.
    auto s = spool::Spool::open({dir + "/spool", 64ull << 30, 16ull << 20, {dir + "/filler", cursor}});
    if (!s) {
        fprintf(stderr, "outputs_bench: %s\n", s.error().message.c_str());
        exit(1);
    }
    // A fresh cursor starts at the oldest record: the whole spool.
    forward::Forwarder f(**s, 1, std::move(d));
    auto start = Clock::now();
    f.start();
    if (!f.flush(std::chrono::minutes(5))) return 0;
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    f.stop(std::chrono::milliseconds(0));
    if ((*s)->acked(1) != kEvents) fprintf(stderr, "outputs_bench: %s delivered through %lu of %lu\n", f.name().c_str(), (unsigned long)(*s)->acked(1), (unsigned long)kEvents);
    return static_cast<double>((*s)->acked(1)) / secs;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: outputs_bench DIR [TLS_DIR]\n");
        return 2;
    }
    pid_t plain_rx = -1, tls_rx = -1;
    int plain_port = discard_receiver("", &plain_rx);
    int tls_port = argc > 2 ? discard_receiver(argv[2], &tls_rx) : 0;
    std::string dir = std::string(argv[1]) + "/outputs-bench";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::vector<std::string> events;
    for (uint64_t i = 1; i <= 1024; ++i) events.push_back(bench::sample_event(i));
    {
        auto s = spool::Spool::open({dir + "/spool", 64ull << 30, 16ull << 20, {dir + "/filler"}});
        if (!s) return 1;
        for (uint64_t i = 1; i <= kEvents; ++i)
            if (!(*s)->append_event(i, events[i % events.size()])) return 1;
        if (!(*s)->commit()) return 1;
    }
    // The mock brokers first, unpinned; then everything measured on core 0.
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_t* mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    rd_kafka_mock_cluster_t* mock = mock_rk ? rd_kafka_mock_cluster_new(mock_rk, 3) : nullptr;
    if (mock) rd_kafka_mock_topic_create(mock, "events", 3, 3);
    pin_to(0);
    formats(events);

    int run = 0;
    double base = deliver_all(dir, std::make_unique<NullDestination>(), run++);
    printf("outputs sink null (spool read + batching only, baseline): %.0f events/s\n", base);
    DestinationContext ctx;
    ctx.host.hostname = "web-1";
    ctx.host.machine_id = "3d1219c7a0b84c55b1d7e0f3a9c2e411";
    std::vector<std::string> specs = {"file:" + dir + "/events.json?fsync=batch&max-size=0",
                                      "file:" + dir + "/events-nosync.json?fsync=none&max-size=0",
                                      "file:" + dir + "/events.cef?format=cef&fsync=batch&max-size=0",
                                      "file:" + dir + "/events.ocsf?format=ocsf&fsync=batch&max-size=0"};
    // confirm-after=0: the rate, not the 1 s hold before a batch counts as arrived.
    if (plain_port) {
        specs.push_back("syslog+tcp://127.0.0.1:" + std::to_string(plain_port) + "?confirm-after=0");
        specs.push_back("syslog+tcp://127.0.0.1:" + std::to_string(plain_port) + "?format=cef&confirm-after=0");
    }
    if (tls_port)
        specs.push_back("syslog+tls://localhost:" + std::to_string(tls_port) + "?confirm-after=0&ca=" +
                        std::string(argv[2]) + "/ca.crt");
    if (mock) specs.push_back("kafka://" + std::string(rd_kafka_mock_cluster_bootstraps(mock)) + "/events");
    for (const auto& text : specs) {
        auto spec = parse_output_spec(text);
        Result<std::unique_ptr<forward::Destination>> d = fail("");
        if (spec) {
            d = spec->scheme == "file"    ? make_file_destination(*spec, ctx)
                : spec->scheme == "kafka" ? make_kafka_destination(*spec, ctx)
                                          : make_syslog_destination(*spec, ctx);
        }
        if (!spec || !d) {
            printf("outputs sink %s: not measured (%s)\n", text.c_str(),
                   (!spec ? spec.error() : d.error()).message.c_str());
            continue;
        }
        // As given (the format is in it), with the bench's directory left out.
        std::string name = text.starts_with("file:" + dir) ? "file:" + text.substr(5 + dir.size() + 1) : text;
        double r = deliver_all(dir, std::move(*d), run++);
        printf("outputs sink %s: %.0f events/s, %.2fx the baseline's time\n", name.c_str(), r, r > 0 ? base / r : 0.0);
    }
    for (pid_t p : {plain_rx, tls_rx})
        if (p > 0) {
            kill(p, SIGKILL);
            waitpid(p, nullptr, 0);
        }
    if (mock) rd_kafka_mock_cluster_destroy(mock);
    if (mock_rk) rd_kafka_destroy(mock_rk);
    std::filesystem::remove_all(dir);
    return 0;
}
