#!/usr/bin/env python3
"""Drives a Kafka-protocol broker with a real Python client, for the KafkaServer tests.

usage: kafka_clients.py BOOTSTRAP confluent|kafka-python TOPIC GROUP COUNT

Produces COUNT messages (confluent-kafka: idempotent, zstd; kafka-python: idempotent, uncompressed),
then consumes the topic in consumer group GROUP with manual synchronous commits until all COUNT are read,
then consumes again in the same group and expects nothing new. Prints one JSON line with what happened.
"""
import json
import sys
import time

bootstrap, library, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
result = {"library": library}


def confluent():
    from confluent_kafka import Consumer, Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "compression.type": "zstd",
                         "linger.ms": 5})
    delivered = []
    for i in range(count):
        producer.produce(topic, key=f"k{i % 10}", value=f"message-{i}",
                         on_delivery=lambda err, msg: delivered.append(err is None))
    result["unflushed"] = producer.flush(30)
    result["delivered"] = sum(delivered)

    def consume_all(limit_seconds):
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                             "enable.auto.commit": False})
        consumer.subscribe([topic])
        values = []
        deadline = time.time() + limit_seconds
        while time.time() < deadline and len(values) < count:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            values.append(message.value().decode())
            consumer.commit(asynchronous=False)
        consumer.close()
        return values

    first = consume_all(60)
    result["consumed"] = len(first)
    result["distinct"] = len(set(first))
    result["in_order"] = all(int(a.split("-")[1]) < int(b.split("-")[1]) for a, b in zip(first, first[1:])) or None
    result["again"] = len(consume_all(6))


def kafka_python():
    from kafka import KafkaConsumer, KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    futures = [producer.send(topic, key=f"k{i % 10}".encode(), value=f"message-{i}".encode()) for i in range(count)]
    producer.flush(30)
    result["delivered"] = sum(1 for f in futures if f.succeeded())
    result["unflushed"] = count - result["delivered"]
    producer.close()

    def consume_all(limit_seconds):
        consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                 enable_auto_commit=False)
        values = []
        deadline = time.time() + limit_seconds
        while time.time() < deadline and len(values) < count:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(r.value.decode() for r in records)
            consumer.commit()
        consumer.close()
        return values

    first = consume_all(60)
    result["consumed"] = len(first)
    result["distinct"] = len(set(first))
    result["again"] = len(consume_all(6))


{"confluent": confluent, "kafka-python": kafka_python}[library]()
print(json.dumps(result))
