// ktraild: the host agent.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>

#include "agent.h"
#include "options.h"
#include "reload_config.h"
#include "util/sd_notify.h"

namespace {
std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
void on_signal(int) { g_stop.store(true); }
void on_hangup(int) { g_reload.store(true); }
}  // namespace

int main(int argc, char** argv) {
    // The agent's own log goes to stderr; stdout may carry events.
    spdlog::set_default_logger(spdlog::stderr_color_mt("ktraild"));
    // Flags kept apart: SIGHUP reads the config files again and lays them over.
    auto flags = ktrail::parse_flags(argc, argv);
    auto cl = flags ? ktrail::load_options(*flags) : std::unexpected(flags.error());
    if (!cl) {
        fprintf(stderr, "ktraild: %s\n", cl.error().message.c_str());
        return 2;
    }
    if (cl->help) {
        fputs(ktrail::usage(), stdout);
        return 0;
    }
    if (cl->version) {
        printf("ktraild %s\n", ktrail::kVersion);
        return 0;
    }
    spdlog::set_level(spdlog::level::from_str(cl->log_level));  // checked by the flag table

    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction hup{};
    hup.sa_handler = on_hangup;
    sigaction(SIGHUP, &hup, nullptr);

    cl->agent.drop_capabilities = true;
    auto agent = ktrail::Agent::create(cl->agent);
    if (!agent) {
        ktrail::sd::notify_or_warn(fmt::format("STATUS=not started: {}", agent.error().message));
        fprintf(stderr, "ktraild: %s\n", agent.error().message.c_str());
        return 1;
    }
    // A unit with Type=notify (packaging/ktraild.service) is started once
    // the programs are attached, audit is set up and the rules are loaded.
    (*agent)->set_service_hooks({
        .ready = [] { ktrail::sd::notify_or_warn("READY=1\nSTATUS=capturing"); },
        .stopping = [] { ktrail::sd::notify_or_warn("STOPPING=1\nSTATUS=stopping: delivering what is spooled"); },
        .reloading = [] { ktrail::sd::notify_or_warn("RELOADING=1\nSTATUS=reloading the config and rules"); },
        .reloaded = [] { ktrail::sd::notify_or_warn("READY=1\nSTATUS=capturing"); },
    });
    auto reload = [&] { ktrail::reload_config(**agent, *flags, *cl); };
    if (auto ok = (*agent)->run(g_stop, &g_reload, reload); !ok) {
        fprintf(stderr, "ktraild: %s\n", ok.error().message.c_str());
        return 1;
    }
    return 0;
}
