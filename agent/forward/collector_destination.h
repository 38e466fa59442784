// The collector as a forwarder's destination: a Batch becomes a v1::Batch
// (events as spooled, checkpoints, the chain link) submitted over gRPC.
#pragma once

#include <memory>
#include <string>

#include "forward/collector_client.h"
#include "forward/destination.h"

namespace ktrail::forward {

struct Identity {
    std::string agent_id;
    std::string host_id;
    std::string host_name;
    std::string public_key;  // Ed25519, 32 raw bytes
};

std::unique_ptr<Destination> make_collector_destination(std::string target, std::unique_ptr<CollectorClient> client,
                                                        Identity identity);

}  // namespace ktrail::forward
