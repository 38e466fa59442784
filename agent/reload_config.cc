#include "reload_config.h"

#include <spdlog/spdlog.h>

#include <set>
#include <string_view>

namespace ktrail {
namespace {

// Keys SIGHUP applies; every other key needs a restart.
constexpr std::string_view kLive[] = {"log-level", "rules", "no-default-rules"};

bool is_live(std::string_view key) { return std::find(std::begin(kLive), std::end(kLive), key) != std::end(kLive); }

const std::vector<std::string>* values_of(const config::Settings& s, const std::string& key) {
    auto it = s.find(key);
    return it == s.end() ? nullptr : &it->second.values;
}

bool same(const config::Settings& a, const config::Settings& b, const std::string& key) {
    auto x = values_of(a, key), y = values_of(b, key);
    return x && y ? *x == *y : x == y;
}

}  // namespace

void reload_config(Agent& agent, const config::Settings& flags, CommandLine& running,
                   const std::string& default_config) {
    spdlog::info("SIGHUP: reading the config and the rules again");
    auto next = load_options(flags, default_config);
    if (!next) {
        spdlog::error("config reload refused: {}; the running config and rules stay: fix it and send SIGHUP again",
                      next.error().message);
        return;
    }
    std::set<std::string> keys;
    for (const auto& s : {running.settings, next->settings})
        for (const auto& [key, _] : s) keys.insert(key);
    for (const auto& key : keys)
        if (!is_live(key) && !same(running.settings, next->settings, key))
            spdlog::warn("config: '{}' changed; it takes effect when ktraild restarts", key);

    if (next->log_level != running.log_level) {
        spdlog::set_level(spdlog::level::from_str(next->log_level));
        spdlog::info("config: log-level is now {}", next->log_level);
        running.log_level = next->log_level;
    }
    if (next->agent.audit_rules != running.agent.audit_rules)
        spdlog::warn("config: the audit rules (*.rules) paths changed; they take effect when ktraild restarts");
    if (auto ok = agent.reload_rules(next->agent); !ok) {
        spdlog::error("rule reload refused: {}", ok.error().message);
        return;
    }
    running.agent.ktrail_rules = next->agent.ktrail_rules;
    running.agent.default_rules = next->agent.default_rules;
    for (auto key : kLive) {
        auto it = next->settings.find(key);
        if (it == next->settings.end()) running.settings.erase(std::string(key));
        else running.settings[std::string(key)] = it->second;
    }
}

}  // namespace ktrail
