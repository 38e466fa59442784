// Audit records per second on one core: the corpus logs replayed many times
// through the parser and the reassembler, then also through the mapping and
// JSON rendering. Prints "parse+reassemble N/s" and "…+map+json N/s".
//   audit_parse_bench CORPUS_DIR [SECONDS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "format/json_format.h"
#include "source/audit/mapper.h"
#include "source/audit/reassembler.h"

namespace {

std::vector<std::string> load(const std::string& corpus) {
    std::vector<std::string> lines;
    for (const auto& e : std::filesystem::recursive_directory_iterator(corpus + "/logs")) {
        if (e.path().extension() != ".log") continue;
        std::ifstream in(e.path());
        for (std::string l; std::getline(in, l);)
            if (l.find("audit(") != std::string::npos) lines.push_back(l);
    }
    return lines;
}

double run(const std::vector<std::string>& lines, double seconds, bool full) {
    using Clock = std::chrono::steady_clock;
    uint64_t records = 0, events = 0;
    std::string out;
    ktrail::v1::Event ev;
    ktrail::audit::Reassembler r({}, [&](ktrail::audit::AuditEvent&& e) {
        ++events;
        if (!full) return;
        ktrail::audit::map_event(e, ev);
        out.clear();
        ktrail::append_json(ev, out);
    }, nullptr);
    auto start = Clock::now();
    int64_t now = 0;
    uint32_t offset = 0;
    while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
        for (const auto& line : lines) {
            auto rec = ktrail::audit::parse_log_line(line);
            if (!rec) continue;
            rec->serial += offset;  // each replay continues the serials
            r.push(std::move(*rec), now += 1000);
            ++records;
        }
        offset += 1'000'000;
    }
    r.flush();
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    return static_cast<double>(records) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: audit_parse_bench CORPUS_DIR [SECONDS]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    auto lines = load(argv[1]);
    if (lines.empty()) {
        fprintf(stderr, "audit_parse_bench: no audit logs under %s/logs\n", argv[1]);
        return 1;
    }
    printf("parse+reassemble %.0f records/s\n", run(lines, seconds, false));
    printf("parse+reassemble+map+json %.0f records/s\n", run(lines, seconds, true));
    return 0;
}
