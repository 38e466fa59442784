// ktrail-collector's flags and config file: the same table and errors as ktraild's.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "options.h"

namespace {

ktrail::Result<ktrail::collector::CommandLine> parse(const std::string& default_config, std::vector<const char*> args) {
    args.insert(args.begin(), "ktrail-collector");
    return ktrail::collector::parse_command_line(static_cast<int>(args.size()), const_cast<char**>(args.data()),
                                                 default_config);
}

}  // namespace

TEST_CASE("collector: a config file sets every flag's twin; flags win; errors name FILE:LINE", "[collector][config]") {
    char tmpl[] = "/tmp/ktrail-collector-config-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    const std::string dir = tmpl, file = dir + "/collector.yaml";
    std::ofstream(file) << "listen: 0.0.0.0:7443\nstore: sqlite:/tmp/c.db\ntls-ca: /ca\ntls-cert: /cert\n"
                           "tls-key: /key\nretention: 30\nlog-level: warn\n";
    auto cl = parse(file, {"--store", "sqlite:/tmp/flag.db"});
    REQUIRE(cl.has_value());
    CHECK(cl->server.listen == "0.0.0.0:7443");
    CHECK(cl->server.store_url == "sqlite:/tmp/flag.db");
    CHECK(cl->server.tls_ca == "/ca");
    CHECK(cl->server.tls_cert == "/cert");
    CHECK(cl->server.tls_key == "/key");
    CHECK(cl->server.retention_days == 30);
    CHECK(cl->log_level == "warn");

    // Every flag but --config, --help and --version is a key.
    for (const auto& flag : ktrail::collector::flags()) {
        if (!flag.twin) continue;
        INFO(flag.name);
        std::ofstream(file) << flag.name << ": x\n";
        auto one = parse(file, {});
        if (!one) CHECK(one.error().message.find("unknown key") == std::string::npos);
    }

    std::ofstream(file) << "listen: 0.0.0.0:7443\nretention: forever\n";
    auto bad = parse(file, {});
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message == file + ":2: key 'retention': takes a whole number of days, 1 or more, not 'forever'");
    std::ofstream(file) << "listn: 0.0.0.0:7443\n";
    CHECK(parse(file, {}).error().message ==
          file + ":1: key 'listn': unknown key (did you mean 'listen'?); the keys are the long flags without '--' "
                 "(see --help)");
    CHECK(parse(dir + "/none.yaml", {"--listen", "x"}).has_value());  // a missing default: no config
    auto missing = parse(file, {"--config", (dir + "/none.yaml").c_str()});
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().message ==
          dir + "/none.yaml: cannot read the config file (No such file or directory); fix its path or permissions");
    CHECK(parse(file, {"--retention", "0"}).error().message.starts_with(file + ":1: key 'listn'"));  // files first
    std::ofstream(file) << "";
    CHECK(parse(file, {"--retention", "0"}).error().message ==
          "--retention takes a whole number of days, 1 or more, not '0'");
    std::filesystem::remove_all(dir);
}
