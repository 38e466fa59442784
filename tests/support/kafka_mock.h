// librdkafka's mock Kafka cluster in the test process, and a plain consumer
// that reads a topic back. The mock brokers listen on 127.0.0.1 and speak
// the Kafka protocol: the code under test connects to them as to any broker.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ktrail::test {

// ApiKey of ProduceRequest (librdkafka's RD_KAFKAP_Produce is not in its public headers).
constexpr int16_t kApiProduce = 0;

class MockCluster {
public:
    explicit MockCluster(int brokers = 3);
    ~MockCluster();
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;

    rd_kafka_mock_cluster_t* get() { return mock_; }
    const std::string& bootstraps() const { return bootstraps_; }
    int brokers() const { return brokers_; }
    void create_topic(const std::string& topic, int partitions, int replication = 3);
    void set_down();  // every broker: connections close, new ones are refused
    void set_up();
    // Every broker answers `ms` late (0: on time). An outage that keeps the
    // connections: set_down() re-binds the brokers' ports and aborts when a
    // client's connection still holds one.
    void set_rtt(int ms);

private:
    rd_kafka_t* owner_ = nullptr;  // the mock cluster lives on this handle's threads
    rd_kafka_mock_cluster_t* mock_ = nullptr;
    std::string bootstraps_;
    int brokers_;
};

struct Consumed {
    int32_t partition = 0;
    int64_t offset = 0;
    std::string key, value;
    std::string sequence_header;  // ktrail.sequence
};

// Everything in `topic` (partitions 0..partitions-1) from the beginning:
// reads until it has at least `want` messages and every partition is at its
// end, or `limit` passes.
std::vector<Consumed> consume_all(const std::string& bootstraps, const std::string& topic, int partitions, size_t want,
                                  std::chrono::milliseconds limit = std::chrono::seconds(30));

}  // namespace ktrail::test
