#include "enrich/host.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace ktrail {
namespace {

std::string read_first_line(const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string new_uuid() {
    std::random_device rd;
    uint8_t b[16];
    for (auto& x : b) x = static_cast<uint8_t>(rd());
    b[6] = (b[6] & 0x0f) | 0x40;  // version 4
    b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
    return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                       b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                       b[14], b[15]);
}

}  // namespace

std::string read_boot_id() { return read_first_line("/proc/sys/kernel/random/boot_id"); }

Result<HostIdentity> load_host_identity(const std::string& state_dir) {
    HostIdentity id;
    id.machine_id = read_first_line("/etc/machine-id");
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    id.hostname = host;
    id.boot_id = read_boot_id();

    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec) return fail(fmt::format("cannot create the state directory {}: {}; pass --state DIR", state_dir, ec.message()));
    std::string path = state_dir + "/agent-id";
    id.agent_id = read_first_line(path.c_str());
    if (id.agent_id.empty()) {
        id.agent_id = new_uuid();
        std::string tmp = path + ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << id.agent_id << "\n";
            if (!out) return fail(fmt::format("cannot write {}: {}; pass --state DIR", tmp, strerror(errno)));
        }
        std::filesystem::rename(tmp, path, ec);
        if (ec) return fail(fmt::format("cannot write {}: {}", path, ec.message()));
    }
    return id;
}

}  // namespace ktrail
