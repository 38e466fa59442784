// ktrail-collector: takes agents' batches over gRPC with mutual TLS, checks
// their chains and commits them to the store.
#include <grpc/support/log.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "options.h"
#include "run_as.h"
#include "server.h"
#include "store/store.h"
#include "util/sd_notify.h"

namespace {

constexpr const char* kUsage =
    "usage: ktrail-collector [--config FILE] --listen ADDR:PORT [--store URL]\n"
    "                        --tls-ca FILE --tls-cert FILE --tls-key FILE\n"
    "                        [--retention DAYS] [--user NAME | --allow-root] [--log-level LEVEL]\n"
    "\n"
    "  --config FILE       the config file (default /etc/ktrail/collector.yaml; a missing default is fine):\n"
    "                      each key is a flag without --, like 'listen: 0.0.0.0:7443'; flags win\n"
    "  --listen ADDR:PORT  where agents connect (0.0.0.0:7443, [::]:7443; port 0: any free port)\n"
    "  --store URL         sqlite:PATH or postgresql://USER@HOST/DB\n"
    "                      (default sqlite:/var/lib/ktrail/collector.db)\n"
    "  --tls-ca FILE       the CA that signed the agents' certificates (their CN names their host)\n"
    "  --tls-cert FILE     the collector's certificate, and --tls-key FILE its private key\n"
    "  --retention DAYS    remove events older than DAYS, at start and every hour (default: keep all)\n"
    "  --user NAME         started as root: switch to NAME before opening anything\n"
    "  --allow-root        run as root (refused otherwise: the collector needs no privileges)\n"
    "  --log-level LEVEL   trace, debug, info (default), warn, error, off\n"
    "\n"
    "Mutual TLS is required: agents without a certificate from --tls-ca are refused.\n"
    "scripts/dev-certs.sh makes a CA and certificates for development.\n";

// gRPC's own messages (a client's failed TLS handshake, say) in the
// collector's log format: its errors as warnings, the rest as debug.
void grpc_log(gpr_log_func_args* args) {
    spdlog::log(args->severity == GPR_LOG_SEVERITY_ERROR ? spdlog::level::warn : spdlog::level::debug, "grpc: {}",
                args->message ? args->message : "");
}

}  // namespace

int main(int argc, char** argv) {
    spdlog::set_default_logger(spdlog::stderr_color_mt("ktrail-collector"));
    auto parsed = ktrail::collector::parse_command_line(argc, argv);
    if (!parsed) {
        fprintf(stderr, "ktrail-collector: %s\n", parsed.error().message.c_str());
        return 2;
    }
    const auto& cl = *parsed;
    if (cl.help) {
        fputs(kUsage, stdout);
        return 0;
    }
    if (cl.version) {
        printf("ktrail-collector %s\n", KTRAIL_VERSION);
        return 0;
    }
    spdlog::set_level(spdlog::level::from_str(cl.log_level));  // checked by the flag table
    gpr_set_log_function(grpc_log);
    if (auto ok = ktrail::collector::settle_identity(cl.user, cl.allow_root); !ok) {
        fprintf(stderr, "ktrail-collector: %s\n", ok.error().message.c_str());
        return 1;
    }

    // Block the stop signals before gRPC starts its threads (they inherit the
    // mask), then wait for one here.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    signal(SIGPIPE, SIG_IGN);

    auto server = ktrail::collector::Server::start(cl.server);
    if (!server) {
        ktrail::sd::notify_or_warn("STATUS=not started: " + server.error().message);
        fprintf(stderr, "ktrail-collector: %s\n", server.error().message.c_str());
        return 1;
    }
    const auto& o = cl.server;
    spdlog::info("ktrail-collector listening on {}, store {}, retention {}", (*server)->address(),
                 ktrail::store::redact_url(o.store_url),
                 o.retention_days ? std::to_string(*o.retention_days) + " days" : std::string("off (keep all)"));

    ktrail::sd::notify_or_warn("READY=1\nSTATUS=listening on " + (*server)->address());

    int sig = 0;
    sigwait(&stop, &sig);
    ktrail::sd::notify_or_warn("STOPPING=1");
    spdlog::info("{}: stopping (calls in flight get 5 s to finish)", strsignal(sig));
    (*server)->shutdown(std::chrono::seconds(5));
    spdlog::info("stopped");
    return 0;
}
