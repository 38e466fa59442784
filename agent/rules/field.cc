#include "rules/field.h"

#include <algorithm>

namespace ktrail::rules {
namespace {

using v1::Event;

FieldValue S(const std::string& s) { return {!s.empty(), s, 0, nullptr}; }
FieldValue N(bool has, int64_t n) { return {has, {}, n, nullptr}; }
FieldValue L(const google::protobuf::RepeatedPtrField<std::string>& l) { return {!l.empty(), {}, 0, &l}; }

std::string_view basename(std::string_view p) {
    size_t slash = p.rfind('/');
    return slash == std::string_view::npos ? p : p.substr(slash + 1);
}
std::string_view dirname(std::string_view p) {
    size_t slash = p.rfind('/');
    if (slash == std::string_view::npos) return {};
    return slash == 0 ? p.substr(0, 1) : p.substr(0, slash);
}
FieldValue SV(std::string_view s) { return {!s.empty(), s, 0, nullptr}; }

#define STR(name, expr) {name, FieldType::kString, [](const Event& e) { return S(expr); }}
#define NUM(name, has, expr) {name, FieldType::kNumber, [](const Event& e) { return N(has, static_cast<int64_t>(expr)); }}
#define LIST(name, expr) {name, FieldType::kStringList, [](const Event& e) { return L(expr); }}

// clang-format off
const Field kFields[] = {
    {"@timestamp", FieldType::kNumber, [](const Event& e) { return N(true, e.time_ns()); }},
    STR("event.id", e.id()),
    STR("event.kind", e.kind()),
    LIST("event.category", e.category()),
    LIST("event.type", e.type()),
    STR("event.action", e.action()),
    STR("event.outcome", e.outcome()),
    STR("event.reason", e.reason()),
    STR("event.module", e.module()),
    NUM("event.severity", e.has_severity(), e.severity()),
    STR("host.id", e.host().id()),
    STR("host.name", e.host().name()),
    NUM("process.pid", e.process().has_pid(), e.process().pid()),
    NUM("process.thread.id", e.process().has_thread_id(), e.process().thread_id()),
    STR("process.entity_id", e.process().entity_id()),
    STR("process.executable", e.process().executable()),
    STR("process.name", e.process().name()),
    LIST("process.args", e.process().args()),
    NUM("process.args_count", true, e.process().args_size()),
    STR("process.command_line", e.process().command_line()),
    STR("process.working_directory", e.process().working_directory()),
    NUM("process.exit_code", e.process().has_exit_code(), e.process().exit_code()),
    NUM("process.parent.pid", e.process().parent().has_pid(), e.process().parent().pid()),
    STR("process.parent.entity_id", e.process().parent().entity_id()),
    STR("process.parent.executable", e.process().parent().executable()),
    {"process.parent.name", FieldType::kString, [](const Event& e) { return SV(basename(e.process().parent().executable())); }},
    LIST("process.parent.args", e.process().parent().args()),
    LIST("process.ancestry", e.process().ancestry()),
    NUM("user.id", e.user().has_id(), e.user().id()),
    STR("user.name", e.user().name()),
    NUM("user.effective.id", e.user().effective().has_id(), e.user().effective().id()),
    STR("user.effective.name", e.user().effective().name()),
    NUM("user.group.id", e.user().group().has_id(), e.user().group().id()),
    STR("user.group.name", e.user().group().name()),
    NUM("user.audit.id", e.user().audit().has_id(), e.user().audit().id()),
    STR("user.audit.name", e.user().audit().name()),
    NUM("user.target.id", e.user().target().has_id(), e.user().target().id()),
    STR("user.target.name", e.user().target().name()),
    NUM("group.id", e.group().has_id(), e.group().id()),
    STR("group.name", e.group().name()),
    NUM("session.id", e.session().has_id(), e.session().id()),
    STR("session.login_user", e.session().login_user()),
    STR("session.remote_ip", e.session().remote_ip()),
    STR("session.tty", e.session().tty()),
    STR("file.path", e.file().path()),
    STR("file.target_path", e.file().target_path()),
    {"file.name", FieldType::kString, [](const Event& e) { return SV(basename(e.file().path())); }},
    {"file.directory", FieldType::kString, [](const Event& e) { return SV(dirname(e.file().path())); }},
    NUM("file.mode", e.file().has_mode(), e.file().mode()),
    NUM("file.uid", e.file().has_uid(), e.file().uid()),
    NUM("file.gid", e.file().has_gid(), e.file().gid()),
    STR("file.owner", e.file().owner()),
    STR("file.group", e.file().group()),
    NUM("file.inode", e.file().has_inode(), e.file().inode()),
    STR("source.ip", e.source().ip()),
    NUM("source.port", e.source().has_port(), e.source().port()),
    STR("container.id", e.container_id()),
    LIST("tags", e.tags()),
    STR("auditd.message_type", e.auditd().message_type()),
    STR("ktrail.syscall", e.ktrail().syscall()),
    STR("ktrail.arch", e.ktrail().arch()),
    LIST("ktrail.flags", e.ktrail().flags()),
    STR("ktrail.mount_fstype", e.ktrail().mount_fstype()),
    STR("ktrail.mount_source", e.ktrail().mount_source()),
    STR("ktrail.xattr_name", e.ktrail().xattr_name()),
    STR("ktrail.module_name", e.ktrail().module_name()),
    NUM("ktrail.capabilities.effective", e.ktrail().capabilities_effective() != 0, e.ktrail().capabilities_effective()),
    NUM("ktrail.capabilities.permitted", e.ktrail().capabilities_permitted() != 0, e.ktrail().capabilities_permitted()),
};
// clang-format on

}  // namespace

std::string_view to_string(FieldType t) {
    switch (t) {
    case FieldType::kString: return "a string";
    case FieldType::kNumber: return "a number";
    case FieldType::kStringList: return "a list of strings";
    }
    return "?";
}

const Field* find_field(std::string_view name) {
    for (const auto& f : kFields)
        if (f.name == name) return &f;
    return nullptr;
}

bool is_audit_data_field(std::string_view name, std::string_view* key) {
    constexpr std::string_view prefix = "auditd.data.";
    if (!name.starts_with(prefix) || name.size() == prefix.size()) return false;
    if (key) *key = name.substr(prefix.size());
    return true;
}

FieldValue audit_data(const v1::Event& ev, std::string_view key) {
    const auto& data = ev.auditd().data();
    auto it = data.find(std::string(key));
    if (it == data.end()) return {};
    return {true, it->second, 0, nullptr};
}

std::vector<std::string_view> field_names() {
    std::vector<std::string_view> out;
    for (const auto& f : kFields) out.push_back(f.name);
    return out;
}

}  // namespace ktrail::rules
