// librdkafka (Debian's librdkafka-dev) for the package's Kafka client, plus the few calls Swift cannot make
// itself: librdkafka's produce call is variadic, and its delivery reports arrive through a C callback.
#ifndef EVENTLOG_CRDKAFKA_H
#define EVENTLOG_CRDKAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/// Counts a producer's delivery reports (set as the configuration's opaque by eventlog_kafka_track_deliveries).
typedef struct eventlog_kafka_deliveries {
    int64_t delivered;
    int64_t failed;
    /// The first failure's error code and text (0 / empty when none).
    int first_error;
    char first_error_text[256];
} eventlog_kafka_deliveries;

/// Makes `conf`'s producer count its delivery reports into `counts` (which must outlive the producer).
void eventlog_kafka_track_deliveries(rd_kafka_conf_t *conf, eventlog_kafka_deliveries *counts);

/// Reads the counts (the callback runs on the thread that calls rd_kafka_poll / rd_kafka_flush).
void eventlog_kafka_read_deliveries(const eventlog_kafka_deliveries *counts, int64_t *delivered, int64_t *failed);

/// Produces one message with key, value (either may be NULL), headers (`header_count` names, values and
/// lengths; a NULL value is a null header) and timestamp (0: now); partition -1 lets the partitioner
/// choose. Returns librdkafka's error code (RD_KAFKA_RESP_ERR_NO_ERROR when queued).
rd_kafka_resp_err_t eventlog_kafka_produce(
    rd_kafka_t *rk, const char *topic, int32_t partition, const void *key, size_t key_length, const void *value,
    size_t value_length, int64_t timestamp, int header_count, const char *const *header_names,
    const void *const *header_values, const size_t *header_lengths);

#endif
