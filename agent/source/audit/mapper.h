// Turns a reassembled audit event into an Event of the contract: Auditbeat's
// action names for the record type (or the syscall of a rule hit), who
// (process, user, audit uid, session), what (file, account, group, command),
// from where (source.ip), the rule keys as tags, and the raw fields under
// auditd.data.
#pragma once

#include <string_view>

#include "ktrail/v1/event.pb.h"
#include "source/audit/reassembler.h"

namespace ktrail::audit {

void map_event(const AuditEvent& in, v1::Event& ev);

// The action for a record type name, or nullptr when ktrail has none.
const char* action_for_type(std::string_view type_name);

}  // namespace ktrail::audit
