// One realistic enriched event (a file creation by a logged-in user's shell
// child), serialized; the benches that need spool-sized events share it.
#pragma once

#include <cstdint>
#include <string>

#include "ktrail/v1/event.pb.h"

namespace ktrail::bench {

inline std::string sample_event(uint64_t i) {
    v1::Event ev;
    ev.set_time_ns(1'764'000'000'000'000'000 + static_cast<int64_t>(i) * 1000);
    ev.set_sequence(i);
    ev.set_id("1c98dc42-5d9e-4c3e-a3c1-2b7a3f0e9d11:" + std::to_string(i));
    ev.set_kind("event");
    ev.add_category("file");
    ev.add_type("creation");
    ev.set_action("created-file");
    ev.set_outcome("success");
    ev.set_module("bpf");
    auto* h = ev.mutable_host();
    h->set_id("3d1219c7a0b84c55b1d7e0f3a9c2e411");
    h->set_name("web-1");
    h->set_boot_id("7adc71ad-2f51-4f0b-9e2c-0c8a1e5b6d33");
    ev.mutable_agent()->set_id("1c98dc42-5d9e-4c3e-a3c1-2b7a3f0e9d11");
    ev.mutable_agent()->set_version("0.1.0");
    auto* p = ev.mutable_process();
    p->set_pid(29898);
    p->set_thread_id(29898);
    p->set_entity_id("af832266734e794f");
    p->set_executable("/usr/bin/touch");
    p->set_name("touch");
    p->add_args("touch");
    p->add_args("/srv/report-" + std::to_string(i));
    p->set_working_directory("/home/alice");
    p->mutable_parent()->set_pid(29897);
    p->mutable_parent()->set_entity_id("c1b3728fb21b03b4");
    p->mutable_parent()->set_executable("/usr/bin/dash");
    for (const char* a : {"c1b3728fb21b03b4", "00df6d8e5b978110", "7662b57f8c5a6cf8"}) p->add_ancestry(a);
    auto* u = ev.mutable_user();
    u->set_id(0);
    u->set_name("root");
    u->mutable_audit()->set_id(1001);
    u->mutable_audit()->set_name("alice");
    ev.mutable_session()->set_id(58);
    ev.mutable_session()->set_login_user("alice");
    ev.mutable_session()->set_remote_ip("10.1.2.3");
    ev.mutable_file()->set_path("/srv/report-" + std::to_string(i));
    ev.mutable_file()->set_mode(0666);
    ev.mutable_ktrail()->set_syscall("openat");
    return ev.SerializeAsString();
}

}  // namespace ktrail::bench
