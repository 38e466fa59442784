#include "agent.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <utility>

#include "default_rules_dir.h"
#include "forward/collector_destination.h"
#include "output/output_spec.h"
#include "rules/analysis.h"
#include "source/audit/mapper.h"

namespace ktrail {

namespace {

std::vector<std::string> ktrail_rule_paths(const AgentOptions& options) {
    std::vector<std::string> paths;
    if (options.default_rules) paths.push_back(default_rules_dir());
    paths.insert(paths.end(), options.ktrail_rules.begin(), options.ktrail_rules.end());
    return paths;
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::create(const AgentOptions& options) {
    std::unique_ptr<Agent> a(new Agent());
    auto host = load_host_identity(options.state_dir);
    if (!host) return std::unexpected(host.error());
    a->host_ = *host;

    if (auto ok = a->open_outputs(options); !ok) return std::unexpected(ok.error());
    // Opened while ktraild may still look at init (CAP_SYS_PTRACE): the
    // unit may give ktraild a mount namespace of its own.
    a->host_root_ = std::make_unique<HostRoot>(HostRoot::open());
    a->decoder_ = std::make_unique<bpf::Decoder>(
        bpf::DecodeContext{a->host_root_->mnt_ns(), a->host_root_->fd(), &a->clock_});
    a->enricher_ = std::make_unique<Enricher>(a->host_.boot_id, &a->clock_);
    auto filter = bpf::build_path_filter(options.bpf.watch, options.bpf.exclude);
    if (!filter) return std::unexpected(filter.error());
    a->path_filter_ = std::make_unique<bpf::AgentPathFilter>(std::move(*filter), options.bpf.watched_only);
    // ktrail rules: every file checked before anything runs.
    a->rule_paths_ = ktrail_rule_paths(options);
    std::shared_ptr<const rules::RuleSet> rule_set;
    a->base_bpf_ = options.bpf;
    if (!a->rule_paths_.empty()) {
        auto loaded = rules::load_rules(a->rule_paths_);
        if (!loaded.set) {
            std::string all;
            for (const auto& e : loaded.errors) all += "\n  " + e.to_string();
            return fail(fmt::format("{} error(s) in the ktrail rules, nothing started:{}", loaded.errors.size(), all));
        }
        rule_set = loaded.set;
    }
    // Admins' audit rules: every file parsed before anything is loaded.
    audit::ParsedRules rules;
    if (!options.audit_rules.empty()) {
        if (!options.audit) return fail("--rules needs the audit source: drop --no-audit");
        // Watches the kernel would resolve to another directory in ktraild's
        // namespace than on the host are refused.
        audit::ParseOptions parse = options.audit_rule_options;
        parse.host_root = a->host_root_.get();
        rules = audit::parse_rules_paths(options.audit_rules, parse);
        if (!rules.errors.empty() && !rules.ignore_errors) {
            std::string all;
            for (const auto& e : rules.errors) all += fmt::format("\n  {}: {}", e.where, e.reason);
            return fail(fmt::format("{} error(s) in the audit rules, nothing loaded:{}", rules.errors.size(), all));
        }
    }
    Agent* self = a.get();
    auto source = bpf::BpfSource::start(options.bpf, [self](std::span<const uint8_t> r) { self->on_record(r); });
    if (!source) return std::unexpected(source.error());
    a->source_ = std::move(*source);
    // Said once the agent is really starting (not before "needs root").
    if (!a->host_root_->note().empty()) spdlog::warn("paths: {}", a->host_root_->note());
    if (rule_set)
        if (auto ok = a->apply_rules(rule_set); !ok) return std::unexpected(ok.error());

    a->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (a->epoll_fd_ < 0) return fail(fmt::format("epoll_create1: {}", strerror(errno)));
    epoll_event bpf_ev{EPOLLIN, {.fd = a->source_->wait_fd()}};
    epoll_ctl(a->epoll_fd_, EPOLL_CTL_ADD, a->source_->wait_fd(), &bpf_ev);
    if (options.audit) {
        auto audit = audit::AuditSource::start(
            {}, [self](audit::AuditEvent&& e) { self->on_audit_event(std::move(e)); },
            [self](uint64_t n) { self->emit_lost("kernel-audit", n); });
        if (audit) {
            a->audit_ = std::move(*audit);
            epoll_event audit_ev{EPOLLIN, {.fd = a->audit_->fd()}};
            epoll_ctl(a->epoll_fd_, EPOLL_CTL_ADD, a->audit_->fd(), &audit_ev);
            if (auto lost = a->audit_->kernel_lost()) a->audit_lost_seen_ = *lost;
            if (!rules.rules.empty()) {
                auto loaded = audit::LoadedRules::load(rules);
                if (!loaded) return std::unexpected(loaded.error());
                a->audit_rules_ = std::move(*loaded);
                spdlog::info("audit rules: {} loaded from {} path(s){}", a->audit_rules_.size(),
                             options.audit_rules.size(),
                             rules.control.delete_all || rules.control.backlog_limit || rules.control.enabled
                                 ? "; the files' -D/-b/-e/-f/-r settings are not applied: ktraild owns those"
                                 : "");
            }
        } else if (!options.audit_rules.empty()) {
            return fail(fmt::format("cannot load the audit rules: {}", audit.error().message));
        } else {
            // Logins and account changes come only through audit: say so loudly,
            // but keep capturing what BPF sees.
            spdlog::error("audit source unavailable, logins and account changes will not be seen: {}",
                          audit.error().message);
        }
    }
    // Everything that needs more than the running agent's privileges is done
    // (and no thread exists yet): drop them before any output starts.
    if (auto ok = a->settle_thread_privileges(options); !ok) return std::unexpected(ok.error());
    if (auto ok = a->build_outputs_unprivileged(options); !ok) return std::unexpected(ok.error());
    // Opened once the programs are loaded: a start that fails on privileges
    // or the kernel leaves the spool as it was.
    if (auto ok = a->open_spool(); !ok) return std::unexpected(ok.error());
    // The metrics and status sockets are bound now (a busy port fails the
    // start; both are unprivileged: a port >= 1024, a socket root owns);
    // their threads start in run().
    if (auto ok = a->open_control(options); !ok) return std::unexpected(ok.error());
    // Attached first, seeded second: a process is in /proc or in the ring.
    a->enricher_->seed();
    return a;
}

namespace {

// A cursor file name for an output: its scheme and target (not its
// parameters, so changing ?format= keeps its position), made safe.
std::string cursor_name(const OutputSpec& spec) {
    std::string key = spec.scheme + "-" + spec.target;
    for (char& c : key)
        if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
    if (key.size() > 120) key = key.substr(0, 100) + fmt::format("-{:016x}", std::hash<std::string>{}(key));
    return key;
}

}  // namespace

Result<void> Agent::open_outputs(const AgentOptions& options) {
    // Every output is checked before anything is loaded, and built (with
    // its threads) by build_outputs() before the spool opens.
    for (const auto& text : options.outputs.empty() ? std::vector<std::string>{"stdout"} : options.outputs) {
        auto spec = parse_output_spec(text);
        if (!spec) return std::unexpected(spec.error());
        for (const auto& other : pending_specs_) {
            if (other.scheme == "collector" && spec->scheme == "collector")
                return fail(fmt::format("--output {}: only one collector output is supported; keep one "
                                        "--output collector:HOST:PORT",
                                        text));
            if (other.scheme == spec->scheme && other.target == spec->target)
                return fail(fmt::format("--output {} is given twice", text));
        }
        if (spec->scheme == "collector") {
            if (spec->target.find(':') == std::string::npos)
                return fail(fmt::format("--output {} needs a port: collector:HOST:PORT", spec->text));
            if (!spec->params.empty())
                return fail(fmt::format("--output {}: a collector takes no parameters (TLS files: --tls-ca, "
                                        "--tls-cert, --tls-key)",
                                        spec->text));
        }
        pending_specs_.push_back(std::move(*spec));
    }
    spool::Options& so = pending_spool_;
    so.dir = options.spool_dir.empty() ? options.state_dir + "/spool" : options.spool_dir;
    so.max_bytes = options.spool_max_bytes;
    spool_max_bytes_ = so.max_bytes;
    // Whole segments are what acks free: keep several within the cap, and
    // at most ~64 (each holds an fd open for the forwarders).
    so.segment_bytes = std::max(std::clamp<uint64_t>(so.max_bytes / 8, 64 * 1024, 16ull << 20), so.max_bytes / 64);
    if (so.max_bytes < 512 * 1024) return fail("--spool-max-bytes must be at least 512K");
    auto key = chain::SigningKey::load_or_create(options.state_dir + "/agent.key");
    if (!key) return std::unexpected(key.error());
    key_ = std::move(*key);
    return {};
}

Result<void> Agent::build_outputs(const AgentOptions& options) {
    DestinationContext context{host_, options.format};
    std::vector<std::unique_ptr<forward::Destination>> destinations;
    spool::Options& so = pending_spool_;
    for (const auto& spec : pending_specs_) {
        Result<std::unique_ptr<forward::Destination>> d = fail("");
        if (spec.scheme == "collector") {
            auto client = forward::CollectorClient::connect({spec.target, options.tls});
            if (!client) return std::unexpected(client.error());
            d = forward::make_collector_destination(
                spec.target, std::move(*client),
                forward::Identity{host_.agent_id, host_.machine_id, host_.hostname, key_->public_key()});
            so.cursors.push_back(options.state_dir + "/spool-acked");  // the collector's: the chain's link
        } else {
            d = spec.scheme == "stdout" || spec.scheme == "file" ? make_file_destination(spec, context)
                : spec.scheme == "kafka"                         ? make_kafka_destination(spec, context)
                                                                 : make_syslog_destination(spec, context);
            so.cursors.push_back(options.state_dir + "/spool-acked." + cursor_name(spec));
        }
        if (!d) return std::unexpected(d.error());
        destinations.push_back(std::move(*d));
    }
    pending_destinations_ = std::move(destinations);
    return {};
}

Result<void> Agent::open_spool() {
    spool::Recovery r;
    auto spool = spool::Spool::open(pending_spool_, &r);
    if (!spool) return std::unexpected(spool.error());
    spool_ = std::move(*spool);
    sequence_ = r.last_sequence;
    checkpoint_sequence_ = r.last_sequence;
    spdlog::info("spool {}: continuing after sequence {} ({} delivered to every output, {} bytes waiting)", pending_spool_.dir,
                 r.last_sequence, r.acked, spool_->bytes());
    if (r.damaged_bytes)
        spdlog::warn("spool {}: cut {} damaged byte(s) ({} record(s)) from the tail of the newest segment", pending_spool_.dir,
                     r.damaged_bytes, r.damaged_records);
    for (size_t i = 0; i < pending_destinations_.size(); ++i) {
        forward::ForwarderOptions fo;
        fo.privileges = thread_privileges_;
        // Batching pays over a network; a local file or stdout shows events
        // within a few ms of their commit instead of a 100 ms linger.
        const std::string& scheme = pending_specs_[i].scheme;
        if (scheme == "file" || scheme == "stdout") fo.linger = std::chrono::milliseconds(5);
        forwarders_.push_back(
            std::make_unique<forward::Forwarder>(*spool_, i, std::move(pending_destinations_[i]), fo));
    }
    pending_destinations_.clear();
    return {};
}

void Agent::spool_tick(bool checkpoint) {
    // One report per episode, once the collector has caught up enough for
    // new events to fit again (the report itself may use the reserve).
    if (spool_lost_pending_ && spool_->has_room(1024)) {
        uint64_t n = std::exchange(spool_lost_pending_, 0);
        emit_lost("spool-full", n);
    }
    if (checkpoint && spool_->last_sequence() != checkpoint_sequence_) {
        int64_t now = BootClock::now_unix_ns();
        uint64_t seq = spool_->last_sequence();
        auto sig = key_->sign(chain::checkpoint_message(host_.agent_id, seq, spool_->head(), now));
        if (auto ok = spool_->append_checkpoint(seq, spool_->head(), now, sig); ok) checkpoint_sequence_ = seq;
    }
    note_spool_write(spool_->commit());
}

void Agent::note_spool_write(const Result<void>& written) {
    // A failing disk (full, read-only) is said once, and its recovery once;
    // meanwhile events wait in the spool's buffer, within its cap.
    if (!written) {
        if (!spool_error_)
            spdlog::error("spool: {}; events wait in memory (within --spool-max-bytes)", written.error().message);
        spool_error_ = written.error();
    } else if (spool_error_) {
        spdlog::info("spool: writing again");
        spool_error_.reset();
    }
}

Agent::~Agent() {
    stop_control();
    forwarders_.clear();
    audit_rules_.unload();  // exactly the rules ktraild added
    audit_.reset();         // hands the kernel's audit state back
    if (epoll_fd_ >= 0) close(epoll_fd_);
}

void Agent::on_audit_event(audit::AuditEvent&& e) { pending_audit_.push_back(std::move(e)); }

void Agent::handle_audit_until(int64_t unix_ns) {
    while (!pending_audit_.empty()) {
        auto& e = pending_audit_.front();
        if (!e.records.empty() && e.records.front().time_ns > unix_ns) break;
        handle_audit(e);
        pending_audit_.pop_front();
    }
}

void Agent::handle_audit(audit::AuditEvent& e) {
    ++stats_.audit_events;
    v1::Event& ev = next_event();
    audit::map_event(e, ev);
    // The agent never reports itself (its BPF records are excluded in the
    // kernel): its own audit configuration at start and stop included.
    if (ev.process().has_pid() && ev.process().pid() == self_pid_) {
        ++stats_.audit_own;
        return;
    }
    enricher_->enrich_audit(ev);
    process(ev);
}

void Agent::process(v1::Event& ev) {
    if (rules_ && !rules_->apply(ev, alert_hits_)) {
        ++stats_.rule_dropped;
        return;
    }
    emit(ev);
    if (rules_ && !alert_hits_.empty()) {
        alerts_.clear();
        rules_->count(ev, alert_hits_, alerts_);
        for (auto& alert : alerts_) {
            emit(alert);
            spdlog::info("alert {}: {} events within {} s", alert.rule().id(), alert.ktrail().alert().count(),
                         alert.ktrail().alert().window_ns() / 1'000'000'000);
        }
    }
}

// Makes a checked rule set the running one: its kernel drops first, then
// the userspace engine.
Result<void> Agent::apply_rules(std::shared_ptr<const rules::RuleSet> set) {
    auto plan = rules::plan_kernel_drops(*set);
    // Reads are captured where the rules' watch items say, in the kernel and
    // in the agent's filter for names.
    std::vector<std::string> watch = base_bpf_.watch;
    watch.insert(watch.end(), set->watch.begin(), set->watch.end());
    auto filter = bpf::build_path_filter(watch, base_bpf_.exclude);
    if (!filter) return fail(fmt::format("a watch: item in the ktrail rules: {}", filter.error().message));
    bpf::KernelDrops drops{plan.paths, plan.syscalls, plan.executables, plan.uids, set->watch};
    if (auto ok = source_->apply_drops(drops); !ok) return ok;
    path_filter_ = std::make_unique<bpf::AgentPathFilter>(std::move(*filter), base_bpf_.watched_only);
    auto engine = std::make_unique<rules::Engine>(std::move(set));
    if (rules_) engine->carry_counts(*rules_);
    rules_ = std::move(engine);
    spdlog::info("ktrail rules: {} rule(s) from {} file(s)", rules_->rules().rules.size(), rules_->rules().files.size());
    for (const auto& d : plan.decisions) spdlog::info("  drop rule {}: {}", d.rule, d.what);
    return {};
}

Result<void> Agent::reload_rules(const AgentOptions& options) {
    auto paths = ktrail_rule_paths(options);
    if (paths == rule_paths_) return reload_rules();
    auto saved = std::exchange(rule_paths_, paths);
    if (auto ok = reload_rules(); !ok) {
        rule_paths_ = std::move(saved);
        return ok;
    }
    return {};
}

Result<void> Agent::reload_rules() {
    // No paths but running rules (a config dropped them): an empty set replaces them.
    if (rule_paths_.empty() && !rules_) return {};
    auto loaded = rules::load_rules(rule_paths_);
    if (!loaded.set) {
        ++stats_.reload_failures;
        for (const auto& e : loaded.errors) spdlog::error("{}", e.to_string());
        return fail(fmt::format("{} error(s) in the ktrail rules (logged above): the running rules stay; fix them and send SIGHUP again", loaded.errors.size()));
    }
    if (auto ok = apply_rules(loaded.set); !ok) {
        ++stats_.reload_failures;
        return ok;
    }
    ++stats_.reloads;
    return {};
}

Result<void> Agent::wait_and_read(int timeout_ms) {
    epoll_event events[4];
    int n = epoll_wait(epoll_fd_, events, 4, timeout_ms);
    if (n < 0 && errno != EINTR) return fail(fmt::format("epoll_wait: {}", strerror(errno)));
    // Audit first: every BPF record older than an audit event read now is
    // already in the ring, and is handled before it (handle_audit_until).
    if (audit_) {
        if (auto r = audit_->read_available(); !r) return std::unexpected(r.error());
        audit_->expire();
    }
    // Producers skip most wake-ups: drain the ring whatever epoll said.
    if (auto r = source_->poll(0); !r) return std::unexpected(r.error());
    handle_audit_until(INT64_MAX);
    return {};
}

void Agent::on_record(std::span<const uint8_t> rec) {
    ++stats_.delivered;
    if (!pending_audit_.empty() && rec.size() >= sizeof(kt_hdr)) {
        kt_hdr hdr;
        memcpy(&hdr, rec.data(), sizeof(hdr));
        handle_audit_until(clock_.to_unix_ns(hdr.ktime_ns));
    }
    v1::Event& ev = next_event();
    auto decoded = decoder_->decode(rec, ev);
    if (!decoded) {
        ++stats_.decode_errors;
        spdlog::debug("skipped a malformed BPF record ({} bytes): {}", rec.size(), bpf::to_string(decoded.error()));
        return;
    }
    if (decoded->needs_path_filter &&
        !path_filter_->allows(ev.action(), ev.file().path(), ev.file().target_path())) {
        ++stats_.filtered;
        return;
    }
    enricher_->enrich_bpf(ev, decoded->task, decoded->lifecycle);
    process(ev);
}

void Agent::emit(v1::Event& ev, bool from_reserve) {
    uint64_t sequence = sequence_ + 1;
    ev.set_sequence(sequence);
    char seq[24];
    auto [end, ec] = std::to_chars(seq, seq + sizeof(seq), sequence);
    std::string* id = ev.mutable_id();
    id->assign(host_.agent_id).append(1, ':').append(seq, end);
    auto* h = ev.mutable_host();
    h->set_id(host_.machine_id);
    h->set_name(host_.hostname);
    h->set_boot_id(host_.boot_id);
    auto* a = ev.mutable_agent();
    a->set_id(host_.agent_id);
    a->set_version(kVersion);
    // A full spool drops the event before it has a sequence number; the
    // count is reported once there is room.
    raw_.clear();
    ev.AppendToString(&raw_);
    if (!spool_->has_room(raw_.size(), from_reserve)) {
        if (spool_lost_pending_++ == 0)
            spdlog::warn("spool full ({} bytes, --spool-max-bytes): new events are dropped and counted until the "
                         "outputs catch up", spool_->bytes());
        ++stats_.spool_full_lost;
        return;
    }
    if (auto ok = spool_->append_event(sequence, raw_); !ok) note_spool_write(ok);
    sequence_ = sequence;
    ++stats_.emitted;
}

void Agent::emit_agent_event(const char* action, const char* type) {
    v1::Event ev;
    ev.set_time_ns(BootClock::now_unix_ns());
    ev.set_kind("event");
    ev.set_module("agent");
    ev.set_action(action);
    ev.add_category("host");
    ev.add_type(type);
    ev.set_outcome("success");
    emit(ev, true);  // the agent's own start and stop are never dropped for a full spool
}

void Agent::emit_lost(const char* stage, uint64_t count, uint64_t first_sequence, uint64_t last_sequence) {
    v1::Event ev;
    ev.set_time_ns(BootClock::now_unix_ns());
    ev.set_kind("event");
    ev.set_module("agent");
    ev.set_action("events-lost");
    ev.add_category("host");
    ev.add_type("error");
    ev.set_outcome("failure");
    ev.mutable_ktrail()->set_lost_stage(stage);
    ev.mutable_ktrail()->set_lost_count(count);
    if (first_sequence) {
        ev.mutable_ktrail()->set_lost_first_sequence(first_sequence);
        ev.mutable_ktrail()->set_lost_last_sequence(last_sequence);
    }
    emit(ev, true);
    if (size_t i = control::lost_stage_index(stage); i < stats_.lost.size()) stats_.lost[i] += count;
    spdlog::warn("{} events lost at stage {}", count, stage);
}

void Agent::check_losses() {
    if (audit_) {
        // Records the kernel dropped before they had a serial (backlog full,
        // rate limit); gaps in the serials are reported as they are found.
        audit_status_.reset();
        if (auto st = audit::read_audit_status()) {
            audit_status_ = *st;
            if (st->lost != audit_lost_seen_) {
                emit_lost("kernel-audit", static_cast<uint32_t>(st->lost - audit_lost_seen_));
                audit_lost_seen_ = st->lost;
            }
        }
    }
    uint64_t dropped = source_->counters().total(KT_CNT_DROPPED);
    if (dropped > stats_.kernel_dropped) {
        emit_lost("kernel-ringbuf", dropped - stats_.kernel_dropped);
        stats_.kernel_dropped = dropped;
    }
    for (auto& f : forwarders_) {
        if (uint64_t n = f->take_skipped()) {
            spdlog::warn("output {}: {} event(s) it cannot take were skipped (logged above)", f->name(), n);
            emit_lost("output-skipped", n);
        }
        for (auto r : f->take_damaged()) {
            if (r.last <= damage_reported_through_) continue;
            r.first = std::max(r.first, damage_reported_through_ + 1);
            damage_reported_through_ = r.last;
            stats_.spool_damaged += r.last - r.first + 1;
            emit_lost("spool-damaged", r.last - r.first + 1, r.first, r.last);
        }
    }
    if (stats_.decode_errors > decode_errors_reported_) {
        emit_lost("decode", stats_.decode_errors - decode_errors_reported_);
        decode_errors_reported_ = stats_.decode_errors;
    }
}

void Agent::flush_outputs(std::chrono::milliseconds limit) {
    // The forwarders work in parallel; one deadline for all.
    auto until = std::chrono::steady_clock::now() + limit;
    for (auto& f : forwarders_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (!f->flush(std::max(left, std::chrono::milliseconds(0))))
            spdlog::warn("output {}: not everything was delivered before stopping; the rest waits in the spool",
                         f->name());
    }
}

Result<void> Agent::run(const std::atomic<bool>& stop, std::atomic<bool>* reload,
                        const std::function<void()>& on_reload) {
    using Clock = std::chrono::steady_clock;
    std::string programs;
    for (const auto& p : source_->attached()) programs += (programs.empty() ? "" : ", ") + p;
    spdlog::info("ktraild {} started: agent {} on {}; programs attached: {}; audit: {}", kVersion, host_.agent_id,
                 host_.hostname, programs, audit_ ? std::string(audit::to_string(audit_->mode())) : "off");
    emit_agent_event("agent-started", "start");
    for (auto& f : forwarders_) f->start();
    start_control();
    if (hooks_.ready) hooks_.ready();
    auto last_check = Clock::now();
    auto last_clock = Clock::now();
    auto last_commit = Clock::now();
    auto last_checkpoint = Clock::now();
    // The threads that run as --user have started: what they needed goes
    // (failing that, the agent stops as it would on any other error).
    Result<void> status = finish_dropping_privileges();
    while (status && !stop.load(std::memory_order_relaxed)) {
        if (auto ok = wait_and_read(50); !ok) {
            status = ok;
            break;
        }
        auto now = Clock::now();
        if (now - last_check >= std::chrono::seconds(1)) {
            check_losses();
            enricher_->tick(std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
            publish_snapshot();
            last_check = now;
        }
        if (now - last_commit >= kCommitInterval) {
            bool checkpoint = now - last_checkpoint >= std::chrono::seconds(1);
            spool_tick(checkpoint);
            last_commit = now;
            if (checkpoint) last_checkpoint = now;
        }
        if (now - last_clock >= std::chrono::seconds(10)) {
            clock_.refresh();
            last_clock = now;
        }
        if (reload && reload->exchange(false)) {
            if (hooks_.reloading) hooks_.reloading();
            if (on_reload) {
                on_reload();
            } else {
                spdlog::info("SIGHUP: reloading the rules");
                if (auto ok = reload_rules(); !ok) spdlog::error("rule reload refused: {}", ok.error().message);
            }
            if (hooks_.reloaded) hooks_.reloaded();
        }
    }
    if (hooks_.stopping) hooks_.stopping();
    // Stop producing, then take what is still waiting, audit first (as above).
    source_->detach();
    if (audit_) {
        audit_rules_.unload();
        (void)audit_->read_available();
        audit_->stop();  // flushes what is pending, hands the kernel back
    }
    (void)source_->poll(0);
    handle_audit_until(INT64_MAX);
    check_losses();
    // Deliver what is durable now if the outputs take it (that makes room);
    // a full-spool loss still unreported is then written, from the reserve if
    // need be, so its count outlives this process.
    spool_tick(false);
    flush_outputs(std::chrono::seconds(5));
    if (spool_lost_pending_) emit_lost("spool-full", std::exchange(spool_lost_pending_, 0));
    emit_agent_event("agent-stopped", "end");
    spool_tick(true);
    flush_outputs(std::chrono::seconds(2));  // the rest waits in the spool for the next start
    for (auto& f : forwarders_) {
        f->stop(std::chrono::milliseconds(0));
        const auto& st = f->stats();
        spdlog::info("output {}: delivered through sequence {} ({} events in {} batches, {} retries, {} duplicates)",
                     f->name(), spool_->acked(f->consumer()), st.events.load(), st.batches.load(), st.retries.load(),
                     st.duplicates.load());
    }
    spdlog::info("spool: last sequence {}, {} bytes waiting; full-spool losses {}, damaged {}", spool_->last_sequence(),
                 spool_->bytes(), stats_.spool_full_lost, stats_.spool_damaged);
    auto k = source_->counters();
    spdlog::info("ktraild stopped: produced {}, delivered {}, dropped {}, filtered in kernel {}, filtered in agent {}, "
                 "malformed {}, audit events {} ({} of its own, not reported), audit malformed {}, audit socket overruns {}, emitted {}",
                 k.total(KT_CNT_PRODUCED), stats_.delivered, k.total(KT_CNT_DROPPED), k.total(KT_CNT_FILTERED),
                 stats_.filtered, stats_.decode_errors, stats_.audit_events, stats_.audit_own, audit_ ? audit_->malformed() : 0,
                 audit_ ? audit_->overruns() : 0, stats_.emitted);
    if (rules_) {
        const auto& r = rules_->stats();
        spdlog::info("rules: {} events evaluated, {} dropped in userspace, {} alerts; reloads {} ok, {} refused",
                     r.evaluated, stats_.rule_dropped, r.alerts, stats_.reloads, stats_.reload_failures);
    }
    auto e = enricher_->stats();
    spdlog::info("process table: {} live, {} exited kept, peak {} entries, {} evicted, {} read from /proc; "
                 "{} sessions known; user names reloaded {} times",
                 e.processes.live, e.processes.exited, e.processes.peak, e.processes.evicted, e.processes.proc_reads,
                 e.sessions, e.name_invalidations);
    stop_control();
    return status;
}

}  // namespace ktrail
