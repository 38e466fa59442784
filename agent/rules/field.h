// The event fields a rule condition can name: the event contract's names
// (DESIGN.md), each with its type and how to read it from an Event.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ktrail/v1/event.pb.h"

namespace ktrail::rules {

enum class FieldType { kString, kNumber, kStringList };
std::string_view to_string(FieldType t);

// A field's value in one event. Absent fields (no process on an agent
// event, no file on a login) make every comparison false.
struct FieldValue {
    bool present = false;
    std::string_view str;
    int64_t num = 0;
    const google::protobuf::RepeatedPtrField<std::string>* list = nullptr;
};

struct Field {
    std::string_view name;
    FieldType type;
    FieldValue (*get)(const v1::Event&);
};

// nullptr if no such field. "auditd.data.KEY" names any raw audit field.
const Field* find_field(std::string_view name);
// auditd.data.KEY: KEY if `name` has that form.
bool is_audit_data_field(std::string_view name, std::string_view* key);
FieldValue audit_data(const v1::Event& ev, std::string_view key);
// Every field name, for error hints.
std::vector<std::string_view> field_names();

}  // namespace ktrail::rules
