#include "format/json_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <vector>
#include <climits>
#include <cstring>
#include <ctime>

#include "format/json_writer.h"

namespace ktrail {
namespace {

void kv_time(JsonWriter& w, const char* k, int64_t unix_ns) {
    char buf[kRfc3339Len];
    format_rfc3339_ns(unix_ns, buf);
    w.key(k);
    w.value(std::string_view(buf, sizeof(buf)));
}

// ECS keeps ids (user.id, file.inode, ...) as keywords: strings.
void kv_id(JsonWriter& w, const char* k, uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    w.key(k);
    w.value(std::string_view(buf, end - buf));
}

void kv(JsonWriter& w, const char* k, const std::string& v) {
    if (v.empty()) return;
    w.key(k);
    w.value(v);
}

void kv_list(JsonWriter& w, const char* k, const google::protobuf::RepeatedPtrField<std::string>& v) {
    if (v.empty()) return;
    w.key(k);
    w.begin_array();
    for (const auto& s : v) w.value(s);
    w.end_array();
}

void write_id(JsonWriter& w, const char* k, const v1::Id& id) {
    if (!id.has_id() && id.name().empty()) return;
    w.key(k);
    w.begin_object();
    if (id.has_id()) kv_id(w, "id", id.id());
    kv(w, "name", id.name());
    w.end_object();
}

void write_event(JsonWriter& w, const v1::Event& ev) {
    w.key("event");
    w.begin_object();
    kv(w, "id", ev.id());
    if (ev.sequence()) {
        w.key("sequence");
        w.value(ev.sequence());
    }
    kv(w, "kind", ev.kind());
    kv_list(w, "category", ev.category());
    kv_list(w, "type", ev.type());
    kv(w, "action", ev.action());
    kv(w, "outcome", ev.outcome());
    kv(w, "reason", ev.reason());
    kv(w, "module", ev.module());
    if (ev.has_severity()) {
        w.key("severity");
        w.value(ev.severity());
    }
    w.end_object();
}

void write_host_agent(JsonWriter& w, const v1::Event& ev) {
    if (ev.has_host()) {
        const auto& h = ev.host();
        w.key("host");
        w.begin_object();
        kv(w, "id", h.id());
        kv(w, "name", h.name());
        if (!h.boot_id().empty()) {
            w.key("boot");
            w.begin_object();
            kv(w, "id", h.boot_id());
            w.end_object();
        }
        w.end_object();
    }
    if (ev.has_agent()) {
        w.key("agent");
        w.begin_object();
        kv(w, "id", ev.agent().id());
        kv(w, "version", ev.agent().version());
        w.end_object();
    }
}

void write_process(JsonWriter& w, const v1::Process& p) {
    w.key("process");
    w.begin_object();
    if (p.has_pid()) {
        w.key("pid");
        w.value(p.pid());
    }
    if (p.has_thread_id()) {
        w.key("thread");
        w.begin_object();
        w.key("id");
        w.value(p.thread_id());
        w.end_object();
    }
    kv(w, "entity_id", p.entity_id());
    kv(w, "executable", p.executable());
    kv(w, "name", p.name());
    kv_list(w, "args", p.args());
    if (!p.args().empty()) {
        w.key("args_count");
        w.value(static_cast<uint64_t>(p.args_size()));
    }
    kv(w, "command_line", p.command_line());
    kv(w, "working_directory", p.working_directory());
    if (p.start_ns()) kv_time(w, "start", p.start_ns());
    if (p.has_exit_code()) {
        w.key("exit_code");
        w.value(p.exit_code());
    }
    if (p.has_parent()) {
        const auto& pp = p.parent();
        w.key("parent");
        w.begin_object();
        if (pp.has_pid()) {
            w.key("pid");
            w.value(pp.pid());
        }
        kv(w, "entity_id", pp.entity_id());
        kv(w, "executable", pp.executable());
        kv_list(w, "args", pp.args());
        w.end_object();
    }
    kv_list(w, "ancestry", p.ancestry());
    w.end_object();
}

void write_user(JsonWriter& w, const v1::User& u) {
    w.key("user");
    w.begin_object();
    if (u.has_id()) kv_id(w, "id", u.id());
    kv(w, "name", u.name());
    if (u.has_effective()) write_id(w, "effective", u.effective());
    if (u.has_group()) write_id(w, "group", u.group());
    if (u.has_audit()) write_id(w, "audit", u.audit());
    if (u.has_target()) write_id(w, "target", u.target());
    w.end_object();
}

void write_session(JsonWriter& w, const v1::Session& s) {
    w.key("session");
    w.begin_object();
    if (s.has_id()) kv_id(w, "id", s.id());
    kv(w, "login_user", s.login_user());
    kv(w, "remote_ip", s.remote_ip());
    kv(w, "tty", s.tty());
    if (s.start_ns()) kv_time(w, "start", s.start_ns());
    w.end_object();
}

void write_file(JsonWriter& w, const v1::File& f) {
    w.key("file");
    w.begin_object();
    kv(w, "path", f.path());
    kv(w, "target_path", f.target_path());
    if (f.has_mode()) {
        // ECS file.mode: octal digits, at least four ("0644").
        char buf[12];
        int n = 0;
        for (uint32_t m = f.mode(); m || n < 4; m >>= 3) buf[sizeof(buf) - 1 - n++] = static_cast<char>('0' + (m & 7));
        w.key("mode");
        w.value(std::string_view(buf + sizeof(buf) - n, n));
    }
    if (f.has_uid()) kv_id(w, "uid", f.uid());
    if (f.has_gid()) kv_id(w, "gid", f.gid());
    kv(w, "owner", f.owner());
    kv(w, "group", f.group());
    if (f.has_inode()) kv_id(w, "inode", f.inode());
    if (f.has_device()) kv_id(w, "device", f.device());
    w.end_object();
}

}  // namespace

void write_ktrail_json(JsonWriter& w, const v1::Ktrail& k) {
    w.key("ktrail");
    w.begin_object();
    kv(w, "syscall", k.syscall());
    kv(w, "arch", k.arch());
    kv_list(w, "flags", k.flags());
    if (!k.args().empty()) {
        w.key("args");
        w.begin_array();
        for (uint64_t a : k.args()) w.value(a);
        w.end_array();
    }
    if (k.capabilities_effective() || k.capabilities_permitted()) {
        w.key("capabilities");
        w.begin_object();
        w.key("effective");
        w.value(fmt::format("0x{:x}", k.capabilities_effective()));
        w.key("permitted");
        w.value(fmt::format("0x{:x}", k.capabilities_permitted()));
        w.end_object();
    }
    kv(w, "mount_source", k.mount_source());
    kv(w, "mount_fstype", k.mount_fstype());
    kv(w, "xattr_name", k.xattr_name());
    kv(w, "module_name", k.module_name());
    if (k.has_alert()) {
        const auto& a = k.alert();
        w.key("alert");
        w.begin_object();
        w.key("count");
        w.value(a.count());
        w.key("window_seconds");
        w.value(a.window_ns() / 1'000'000'000);
        kv_list(w, "event_ids", a.event_ids());
        if (!a.group().empty()) {
            std::vector<std::pair<std::string_view, std::string_view>> group(a.group().begin(), a.group().end());
            std::sort(group.begin(), group.end());
            w.key("group");
            w.begin_object();
            for (const auto& [k2, v] : group) {
                w.key(k2);  // field names from the rule files, checked against the registry
                w.value(v);
            }
            w.end_object();
        }
        w.end_object();
    }
    if (!k.lost_stage().empty()) {
        w.key("lost");
        w.begin_object();
        w.key("stage");
        w.value(k.lost_stage());
        w.key("count");
        w.value(k.lost_count());
        if (k.lost_first_sequence()) {
            w.key("first_sequence");
            w.value(k.lost_first_sequence());
            w.key("last_sequence");
            w.value(k.lost_last_sequence());
        }
        w.end_object();
    }
    w.end_object();
}

void write_auditd_json(JsonWriter& w, const v1::Auditd& a) {
    w.key("auditd");
    w.begin_object();
    kv(w, "message_type", a.message_type());
    if (!a.data().empty()) {
        // Sorted: a protobuf map has no order, JSON lines should be stable.
        std::vector<std::pair<std::string_view, std::string_view>> fields(a.data().begin(), a.data().end());
        std::sort(fields.begin(), fields.end());
        w.key("data");
        w.begin_object();
        for (const auto& [k, v] : fields) {
            w.key_escaped(k);  // field names come from the record: not trusted like ours
            w.value(v);
        }
        w.end_object();
    }
    w.end_object();
}

void format_rfc3339_ns(int64_t unix_ns, char (&buf)[kRfc3339Len]) {
    int64_t secs = unix_ns / 1'000'000'000;
    int64_t nanos = unix_ns % 1'000'000'000;
    if (nanos < 0) {
        nanos += 1'000'000'000;
        --secs;
    }
    // Events come in bursts within the same second: format each second once.
    // Two entries, as an event's time and its process's start alternate.
    struct Slot {
        int64_t secs = INT64_MIN;
        char text[20];
    };
    thread_local Slot slots[2];
    thread_local int next = 0;
    Slot* slot = slots[0].secs == secs ? &slots[0] : slots[1].secs == secs ? &slots[1] : nullptr;
    if (!slot) {
        slot = &slots[next];
        next ^= 1;
        time_t t = static_cast<time_t>(secs);
        struct tm tm{};
        gmtime_r(&t, &tm);
        fmt::format_to_n(slot->text, sizeof(slot->text), "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        slot->secs = secs;
    }
    memcpy(buf, slot->text, 19);
    buf[19] = '.';
    for (int i = 28; i >= 20; --i) {
        buf[i] = static_cast<char>('0' + nanos % 10);
        nanos /= 10;
    }
    buf[29] = 'Z';
}

std::string rfc3339_ns(int64_t unix_ns) {
    char buf[kRfc3339Len];
    format_rfc3339_ns(unix_ns, buf);
    return std::string(buf, sizeof(buf));
}

void append_json(const v1::Event& ev, std::string& out) {
    JsonWriter w(out);
    w.begin_object();
    kv_time(w, "@timestamp", ev.time_ns());
    write_event(w, ev);
    write_host_agent(w, ev);
    if (ev.has_process()) write_process(w, ev.process());
    if (ev.has_user()) write_user(w, ev.user());
    if (ev.has_session()) write_session(w, ev.session());
    if (ev.has_file()) write_file(w, ev.file());
    if (ev.has_source()) {
        w.key("source");
        w.begin_object();
        kv(w, "ip", ev.source().ip());
        if (ev.source().has_port()) {
            w.key("port");
            w.value(ev.source().port());
        }
        w.end_object();
    }
    if (!ev.container_id().empty()) {
        w.key("container");
        w.begin_object();
        kv(w, "id", ev.container_id());
        w.end_object();
    }
    if (ev.has_group()) write_id(w, "group", ev.group());
    kv_list(w, "tags", ev.tags());
    if (ev.has_rule()) {
        w.key("rule");
        w.begin_object();
        kv(w, "id", ev.rule().id());
        kv(w, "name", ev.rule().name());
        w.end_object();
    }
    if (!ev.technique_id().empty()) {
        w.key("threat");
        w.begin_object();
        w.key("technique");
        w.begin_object();
        kv(w, "id", ev.technique_id());
        w.end_object();
        w.end_object();
    }
    if (ev.has_auditd()) write_auditd_json(w, ev.auditd());
    if (ev.has_ktrail()) write_ktrail_json(w, ev.ktrail());
    w.end_object();
    out += '\n';
}

}  // namespace ktrail
