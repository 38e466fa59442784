#include "kafka_mock.h"

#include <set>
#include <stdexcept>

namespace ktrail::test {
namespace {

void set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        throw std::runtime_error(std::string("kafka test config ") + key + ": " + errstr);
}

}  // namespace

MockCluster::MockCluster(int brokers) : brokers_(brokers) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "log_level", "3");
    char errstr[512];
    owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!owner_) throw std::runtime_error(std::string("mock cluster owner: ") + errstr);
    mock_ = rd_kafka_mock_cluster_new(owner_, brokers);
    if (!mock_) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(mock_);
}

MockCluster::~MockCluster() {
    rd_kafka_mock_cluster_destroy(mock_);
    rd_kafka_destroy(owner_);
}

void MockCluster::create_topic(const std::string& topic, int partitions, int replication) {
    if (rd_kafka_mock_topic_create(mock_, topic.c_str(), partitions, replication) != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw std::runtime_error("mock topic " + topic + " not created");
}

void MockCluster::set_down() {
    for (int id = 1; id <= brokers_; ++id) rd_kafka_mock_broker_set_down(mock_, id);
}

void MockCluster::set_up() {
    for (int id = 1; id <= brokers_; ++id) rd_kafka_mock_broker_set_up(mock_, id);
}
void MockCluster::set_rtt(int ms) {
    for (int id = 1; id <= brokers_; ++id) rd_kafka_mock_broker_set_rtt(mock_, id, ms);
}

std::vector<Consumed> consume_all(const std::string& bootstraps, const std::string& topic, int partitions, size_t want,
                                  std::chrono::milliseconds limit) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstraps);
    set(conf, "group.id", "ktrail-test-reader");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "true");
    set(conf, "log_level", "3");
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) throw std::runtime_error(std::string("test consumer: ") + errstr);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p)
        rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    std::vector<Consumed> out;
    std::set<int32_t> at_end;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline &&
           !(out.size() >= want && static_cast<int>(at_end.size()) == partitions)) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end.insert(m->partition);
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            at_end.erase(m->partition);
            Consumed c;
            c.partition = m->partition;
            c.offset = m->offset;
            if (m->key) c.key.assign(static_cast<const char*>(m->key), m->key_len);
            if (m->payload) c.value.assign(static_cast<const char*>(m->payload), m->len);
            rd_kafka_headers_t* hdrs = nullptr;
            const void* v = nullptr;
            size_t n = 0;
            if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                rd_kafka_header_get_last(hdrs, "ktrail.sequence", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
                c.sequence_header.assign(static_cast<const char*>(v), n);
            out.push_back(std::move(c));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

}  // namespace ktrail::test
