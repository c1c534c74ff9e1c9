#include "CRdKafka.h"
#include <string.h>

static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
    (void)rk;
    eventlog_kafka_deliveries *counts = opaque;
    if (counts == NULL) return;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        __atomic_add_fetch(&counts->delivered, 1, __ATOMIC_RELAXED);
        return;
    }
    if (__atomic_add_fetch(&counts->failed, 1, __ATOMIC_RELAXED) == 1) {
        counts->first_error = message->err;
        strncpy(counts->first_error_text, rd_kafka_err2str(message->err), sizeof counts->first_error_text - 1);
    }
}

void eventlog_kafka_track_deliveries(rd_kafka_conf_t *conf, eventlog_kafka_deliveries *counts) {
    memset(counts, 0, sizeof *counts);
    rd_kafka_conf_set_opaque(conf, counts);
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
}

void eventlog_kafka_read_deliveries(const eventlog_kafka_deliveries *counts, int64_t *delivered, int64_t *failed) {
    *delivered = __atomic_load_n(&counts->delivered, __ATOMIC_RELAXED);
    *failed = __atomic_load_n(&counts->failed, __ATOMIC_RELAXED);
}

rd_kafka_resp_err_t eventlog_kafka_produce(
    rd_kafka_t *rk, const char *topic, int32_t partition, const void *key, size_t key_length, const void *value,
    size_t value_length, int64_t timestamp, int header_count, const char *const *header_names,
    const void *const *header_values, const size_t *header_lengths) {
    rd_kafka_headers_t *headers = NULL;
    if (header_count > 0) {
        headers = rd_kafka_headers_new((size_t)header_count);
        for (int i = 0; i < header_count; i++) {
            rd_kafka_header_add(headers, header_names[i], -1, header_values[i], (ssize_t)header_lengths[i]);
        }
    }
    rd_kafka_resp_err_t err =
        headers == NULL
            ? rd_kafka_producev(
                  rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY((void *)key, key_length),
                  RD_KAFKA_V_VALUE((void *)value, value_length), RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_END)
            : rd_kafka_producev(
                  rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY((void *)key, key_length),
                  RD_KAFKA_V_VALUE((void *)value, value_length), RD_KAFKA_V_TIMESTAMP(timestamp),
                  RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    // On success the message owns the headers; on failure they are still ours.
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && headers != NULL) rd_kafka_headers_destroy(headers);
    return err;
}
