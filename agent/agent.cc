#include "agent.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "format/json_format.h"

namespace ktrail {

Result<std::unique_ptr<Agent>> Agent::create(const AgentOptions& options) {
    std::unique_ptr<Agent> a(new Agent());
    auto host = load_host_identity(options.state_dir);
    if (!host) return std::unexpected(host.error());
    a->host_ = *host;

    std::vector<std::string> outputs = options.outputs.empty() ? std::vector<std::string>{"stdout"} : options.outputs;
    for (const auto& spec : outputs) {
        auto sink = open_sink(spec);
        if (!sink) return std::unexpected(sink.error());
        a->sinks_.push_back(std::move(*sink));
    }
    a->decoder_ = std::make_unique<bpf::Decoder>(
        bpf::DecodeContext{a->host_.boot_id, bpf::own_mount_namespace(), &a->clock_});
    auto filter = bpf::build_path_filter(options.bpf.watch, options.bpf.exclude);
    if (!filter) return std::unexpected(filter.error());
    a->path_filter_ = std::make_unique<bpf::AgentPathFilter>(std::move(*filter), options.bpf.watched_only);
    Agent* self = a.get();
    auto source = bpf::BpfSource::start(options.bpf, [self](std::span<const uint8_t> r) { self->on_record(r); });
    if (!source) return std::unexpected(source.error());
    a->source_ = std::move(*source);
    return a;
}

v1::Event& Agent::next_event() {
    if (!scratch_ || ++arena_events_ >= kArenaEvents) {
        scratch_ = nullptr;
        arena_.Reset();
        arena_events_ = 0;
        scratch_ = google::protobuf::Arena::CreateMessage<v1::Event>(&arena_);
    }
    return *scratch_;
}

void Agent::on_record(std::span<const uint8_t> rec) {
    ++stats_.delivered;
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
    emit(ev);
}

void Agent::emit(v1::Event& ev) {
    ev.set_sequence(++sequence_);
    ev.set_id(host_.agent_id + ":" + std::to_string(sequence_));
    auto* h = ev.mutable_host();
    h->set_id(host_.machine_id);
    h->set_name(host_.hostname);
    h->set_boot_id(host_.boot_id);
    auto* a = ev.mutable_agent();
    a->set_id(host_.agent_id);
    a->set_version(kVersion);
    append_json(ev, out_);
    ++stats_.emitted;
    // A fast producer can keep the ring non-empty for a long time: bound the
    // batch rather than the poll round.
    if (out_.size() >= kBatchBytes) {
        if (auto ok = flush(); !ok) flush_error_ = ok.error();
    }
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
    emit(ev);
}

void Agent::emit_lost(const char* stage, uint64_t count) {
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
    emit(ev);
    spdlog::warn("{} events lost at stage {}", count, stage);
}

void Agent::check_losses() {
    uint64_t dropped = source_->counters().total(KT_CNT_DROPPED);
    if (dropped > stats_.kernel_dropped) {
        emit_lost("kernel-ringbuf", dropped - stats_.kernel_dropped);
        stats_.kernel_dropped = dropped;
    }
    if (stats_.decode_errors > decode_errors_reported_) {
        emit_lost("decode", stats_.decode_errors - decode_errors_reported_);
        decode_errors_reported_ = stats_.decode_errors;
    }
}

Result<void> Agent::flush() {
    for (auto& sink : sinks_) {
        if (auto ok = sink->write(out_); !ok) return ok;
        if (auto ok = sink->flush(); !ok) return ok;
    }
    out_.clear();
    return {};
}

Result<void> Agent::run(const std::atomic<bool>& stop) {
    using Clock = std::chrono::steady_clock;
    std::string programs;
    for (const auto& p : source_->attached()) programs += (programs.empty() ? "" : ", ") + p;
    spdlog::info("ktraild {} started: agent {} on {}; programs attached: {}", kVersion, host_.agent_id,
                 host_.hostname, programs);
    emit_agent_event("agent-started", "start");
    auto last_check = Clock::now();
    auto last_clock = Clock::now();
    Result<void> status;
    while (!stop.load(std::memory_order_relaxed)) {
        if (auto n = source_->poll(50); !n) {
            status = std::unexpected(n.error());
            break;
        }
        auto now = Clock::now();
        if (now - last_check >= std::chrono::seconds(1)) {
            check_losses();
            last_check = now;
        }
        if (now - last_clock >= std::chrono::seconds(10)) {
            clock_.refresh();
            last_clock = now;
        }
        if (flush_error_) {
            status = std::unexpected(*flush_error_);
            break;
        }
        if (!out_.empty()) {
            if (auto ok = flush(); !ok) {
                status = ok;
                break;
            }
        }
    }
    // Stop producing, then take what is still in the ring.
    source_->detach();
    (void)source_->poll(0);
    check_losses();
    emit_agent_event("agent-stopped", "end");
    auto flushed = flush();
    auto k = source_->counters();
    spdlog::info("ktraild stopped: produced {}, delivered {}, dropped {}, filtered in kernel {}, filtered in agent {}, "
                 "malformed {}, emitted {}",
                 k.total(KT_CNT_PRODUCED), stats_.delivered, k.total(KT_CNT_DROPPED), k.total(KT_CNT_FILTERED),
                 stats_.filtered, stats_.decode_errors, stats_.emitted);
    if (!status) return status;
    return flushed;
}

}  // namespace ktrail
