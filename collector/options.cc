#include "options.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "config/config_file.h"

namespace ktrail::collector {
namespace {

using config::Kind;
using R = Result<void>;

// Keep in --help's order; a flag added here is a config key too.
const std::vector<config::Flag<CommandLine>> kFlags = {
    {{"config", Kind::scalar, false}, [](CommandLine& c, const std::string& v) -> R { c.config = v; return {}; }},
    {{"help", Kind::boolean, false}, [](CommandLine& c, const std::string& v) -> R { c.help = v == "true"; return {}; }},
    {{"version", Kind::boolean, false},
     [](CommandLine& c, const std::string& v) -> R { c.version = v == "true"; return {}; }},
    {{"listen", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.server.listen = v; return {}; }},
    {{"store", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.server.store_url = v; return {}; }},
    {{"tls-ca", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.server.tls_ca = v; return {}; }},
    {{"tls-cert", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.server.tls_cert = v; return {}; }},
    {{"tls-key", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.server.tls_key = v; return {}; }},
    {{"retention", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R {
         int days = 0;
         auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), days);
         if (ec != std::errc() || end != v.data() + v.size() || days <= 0)
             return fail(fmt::format("takes a whole number of days, 1 or more, not '{}'", v));
         c.server.retention_days = days;
         return {};
     }},
    {{"user", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R { c.user = v; return {}; }},
    {{"allow-root", Kind::boolean}, [](CommandLine& c, const std::string& v) -> R {
         c.allow_root = v == "true";
         return {};
     }},
    {{"log-level", Kind::scalar}, [](CommandLine& c, const std::string& v) -> R {
         if (auto ok = config::check_log_level(v); !ok) return ok;
         c.log_level = v;
         return {};
     }},
};

}  // namespace

const std::vector<config::Flag<CommandLine>>& flags() { return kFlags; }

Result<CommandLine> parse_command_line(int argc, char** argv, const std::string& default_config) {
    auto table = config::specs(kFlags);
    auto flags = config::parse_args(table, argc, argv);
    if (!flags) return std::unexpected(flags.error());
    config::Settings all;
    if (!flags->contains("help") && !flags->contains("version")) {
        bool given = flags->contains("config");
        auto file = config::read_config(table, given ? flags->at("config").values.back() : default_config, given);
        if (!file) return std::unexpected(file.error());
        all = std::move(*file);
    }
    config::overlay(all, *flags);
    CommandLine cl;
    cl.server.store_url = kDefaultStore;
    if (auto ok = config::apply(kFlags, all, cl); !ok) return std::unexpected(ok.error());
    return cl;
}

}  // namespace ktrail::collector
