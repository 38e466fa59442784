#include "forward/collector_destination.h"

namespace ktrail::forward {
namespace {

class CollectorDestination : public Destination {
public:
    CollectorDestination(std::string target, std::unique_ptr<CollectorClient> client, Identity identity)
        : name_("collector:" + std::move(target)), client_(std::move(client)), identity_(std::move(identity)) {}

    std::string name() const override { return name_; }

    Result<Delivered> deliver(const Batch& b) override {
        v1::Batch batch;
        batch.set_agent_id(identity_.agent_id);
        batch.set_host_id(identity_.host_id);
        batch.set_host_name(identity_.host_name);
        batch.set_public_key(identity_.public_key);
        batch.set_first_sequence(b.first_sequence);
        for (const auto& r : b.records) {
            if (r.type == spool::Record::Type::checkpoint) {
                auto* c = batch.add_checkpoints();
                c->set_sequence(r.sequence);
                c->set_chain_head(std::string(chain::as_bytes(r.hash)));
                c->set_time_ns(r.time_ns);
                c->set_signature(r.bytes);
            } else {
                if (batch.events_size() == 0 && !b.prev_hash)  // after a gap: anchored by its own hash
                    batch.set_first_hash(std::string(chain::as_bytes(r.hash)));
                batch.add_events(r.bytes);
            }
        }
        if (b.prev_hash) batch.set_prev_hash(std::string(chain::as_bytes(*b.prev_hash)));
        auto ack = client_->submit(batch);
        if (!ack) return std::unexpected(ack.error());
        return Delivered{ack->duplicates()};
    }

private:
    std::string name_;
    std::unique_ptr<CollectorClient> client_;
    Identity identity_;
};

}  // namespace

std::unique_ptr<Destination> make_collector_destination(std::string target, std::unique_ptr<CollectorClient> client,
                                                        Identity identity) {
    return std::make_unique<CollectorDestination>(std::move(target), std::move(client), std::move(identity));
}

}  // namespace ktrail::forward
