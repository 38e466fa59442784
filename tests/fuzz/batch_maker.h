// Test batches as an agent makes them: realistic events (~500 bytes each),
// chained and signed. Shared by the fuzz seed corpus, the ingest unit tests,
// the collector e2e tests and the collector benchmark. Header-only, no test
// framework.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "ktrail/v1/collector.pb.h"
#include "ktrail/v1/event.pb.h"
#include "spool/chain.h"

namespace ktrail::testing {

// One agent's side of the protocol: its identity, key and chain head.
struct FakeAgent {
    std::string agent_id = "0f3c2a4e-agent-test";
    std::string host_id = "4c4c4544004d3510804cb4c04f4e3232";
    std::string host_name = "web-1";
    chain::SigningKey key;
    uint64_t last = 0;               // the last sequence made
    chain::Hash head = chain::kGenesis;

    // A realistic event (a file open by a shell in an ssh session), ~500 bytes.
    v1::Event event(uint64_t seq, int variant = 0) const {
        v1::Event e;
        e.set_time_ns(1764144000000000000 + static_cast<int64_t>(seq) * 1000003);
        e.set_id(agent_id + ":" + std::to_string(seq));
        e.set_sequence(seq);
        e.set_kind("event");
        e.add_category("file");
        e.add_type("access");
        e.set_action(variant % 3 == 0 ? "opened-file" : variant % 3 == 1 ? "wrote-to-file" : "executed");
        e.set_outcome(seq % 7 ? "success" : "failure");
        if (seq % 7 == 0) e.set_reason("EACCES");
        e.set_module("bpf");
        e.mutable_host()->set_id(host_id);
        e.mutable_host()->set_name(host_name);
        e.mutable_host()->set_boot_id("a3f1e0c2-5b7d-4e9a-8c61-2f0d9b7e4a13");
        e.mutable_agent()->set_id(agent_id);
        e.mutable_agent()->set_version("0.1.0");
        auto* p = e.mutable_process();
        p->set_pid(4000 + seq % 1000);
        p->set_thread_id(4000 + seq % 1000);
        p->set_entity_id("d1f0c6a85b7e4e21");
        p->set_executable("/usr/bin/bash");
        p->set_name("bash");
        p->add_args("bash");
        p->add_args("-c");
        p->add_args("cat /etc/ssl/private/server.key");
        p->set_working_directory("/home/alice");
        p->set_start_ns(1764143000000000000);
        auto* pp = p->mutable_parent();
        pp->set_pid(3999);
        pp->set_entity_id("9a7b6c5d4e3f2a10");
        pp->set_executable("/usr/sbin/sshd");
        p->add_ancestry("9a7b6c5d4e3f2a10");
        auto* u = e.mutable_user();
        u->set_id(1000);
        u->set_name("alice");
        u->mutable_effective()->set_id(1000);
        u->mutable_effective()->set_name("alice");
        u->mutable_audit()->set_id(1000);
        u->mutable_audit()->set_name("alice");
        auto* s = e.mutable_session();
        s->set_id(17);
        s->set_login_user("alice");
        s->set_remote_ip("10.20.30.40");
        s->set_tty("pts/3");
        auto* f = e.mutable_file();
        f->set_path("/etc/ssl/private/server-" + std::to_string(seq % 100) + ".key");
        f->set_mode(0100600);
        f->set_uid(0);
        f->set_gid(0);
        f->set_owner("root");
        f->set_group("root");
        f->set_inode(1835009 + seq);
        f->set_device(2049);
        e.add_tags("credential-access");
        e.set_technique_id("T1552.004");
        e.mutable_ktrail()->set_syscall("openat");
        e.mutable_ktrail()->add_flags("O_RDONLY");
        return e;
    }

    // A batch of the next `n` events, continuing the chain, with a signed
    // checkpoint at its end when `checkpoint`.
    v1::Batch next_batch(uint64_t n, bool checkpoint = true, int variant = 0) {
        v1::Batch b = header(last + 1);
        for (uint64_t i = 0; i < n; ++i) {
            std::string raw = event(last + 1, variant).SerializeAsString();
            head = chain::next(head, raw);
            ++last;
            b.add_events(std::move(raw));
        }
        if (checkpoint) add_checkpoint(b, last, head);
        return b;
    }

    // The batch's header fields, for a batch starting at `first`; prev_hash
    // is the current head (right when first == last + 1).
    v1::Batch header(uint64_t first) const {
        v1::Batch b;
        b.set_agent_id(agent_id);
        b.set_host_id(host_id);
        b.set_host_name(host_name);
        b.set_public_key(key.public_key());
        b.set_first_sequence(first);
        b.set_prev_hash(std::string(chain::as_bytes(head)));
        return b;
    }

    void add_checkpoint(v1::Batch& b, uint64_t seq, const chain::Hash& at, int64_t time_ns = 1764144000000000000,
                        const chain::SigningKey* with = nullptr) const {
        auto* cp = b.add_checkpoints();
        cp->set_sequence(seq);
        cp->set_chain_head(std::string(chain::as_bytes(at)));
        cp->set_time_ns(time_ns);
        cp->set_signature((with ? *with : key).sign(chain::checkpoint_message(agent_id, seq, at, time_ns)));
    }
};

inline FakeAgent make_agent(std::string host_name = "web-1", std::string agent_id = "0f3c2a4e-agent-test") {
    FakeAgent a;
    a.host_name = std::move(host_name);
    a.agent_id = std::move(agent_id);
    a.key = *chain::SigningKey::generate();
    return a;
}

}  // namespace ktrail::testing
