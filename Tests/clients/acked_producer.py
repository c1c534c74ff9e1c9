#!/usr/bin/env python3
"""Produces COUNT messages with librdkafka (confluent-kafka): acks=all, idempotence on, retries for as long
as it takes; writes the value of every acknowledged message to ACKED (one per line, flushed at once).

usage: acked_producer.py BOOTSTRAP TOPIC COUNT ACKED

For the kill -9 test: the server is killed and restarted while this runs; afterwards every value in ACKED
must be in the log exactly once.
"""
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, count, acked_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
acked = open(acked_path, "w", buffering=1)
failures = []


def delivered(err, msg):
    if err is None:
        acked.write(msg.value().decode() + "\n")
    else:
        failures.append(str(err))


producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                     "message.timeout.ms": 300000, "linger.ms": 2, "reconnect.backoff.ms": 50,
                     "reconnect.backoff.max.ms": 200})
for i in range(count):
    while True:
        try:
            producer.produce(topic, key=f"k{i % 7}", value=f"m-{i}", on_delivery=delivered)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)
    if i % 100 == 0:
        time.sleep(0.01)  # about 10,000 messages per second, so the kills land mid-stream
remaining = producer.flush(300)
acked.close()
print(f"remaining={remaining} failures={len(failures)} {failures[:3]}")
