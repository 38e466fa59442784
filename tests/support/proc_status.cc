#include "proc_status.h"

#include <filesystem>
#include <fstream>

namespace ktrail::test {

std::string status_field(pid_t pid, const std::string& name, pid_t tid) {
    std::string path = "/proc/" + std::to_string(pid) + (tid > 0 ? "/task/" + std::to_string(tid) : "") + "/status";
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(name + ":")) {
            auto v = line.find_first_not_of(" \t", name.size() + 1);
            return v == std::string::npos ? "" : line.substr(v);
        }
    }
    return "";
}

uint64_t cap_field(pid_t pid, const std::string& name, pid_t tid) {
    std::string v = status_field(pid, name, tid);
    return v.empty() ? ~0ull : std::stoull(v, nullptr, 16);
}

std::vector<pid_t> threads_of(pid_t pid) {
    std::vector<pid_t> tids;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec))
        tids.push_back(static_cast<pid_t>(std::stoi(e.path().filename().string())));
    return tids;
}

uint64_t cap_mask(std::initializer_list<int> caps) {
    uint64_t m = 0;
    for (int c : caps) m |= 1ull << c;
    return m;
}

}  // namespace ktrail::test
