"""Reads topics with kafka-python, which has no snappy/lz4/zstd support
without extra libraries, and prints what it read as JSON:
{"topic": [{"value": str, "headers": {k: v}}, ...]}.

usage: kafka_python_read.py BOOTSTRAP TOPIC [TOPIC ...]
"""
import json
import sys

from kafka import KafkaConsumer, TopicPartition


def read(bootstrap, topic):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    out = []
    while any(consumer.position(tp) < ends[tp] for tp in parts):
        batch = consumer.poll(timeout_ms=5000)
        if not batch:
            break
        for records in batch.values():
            for r in records:
                out.append({"value": r.value.decode("utf-8", "replace") if r.value else "",
                            "headers": {k: v.decode("utf-8", "replace") for k, v in (r.headers or [])}})
    consumer.close()
    return out


def main():
    bootstrap, topics = sys.argv[1], sys.argv[2:]
    print(json.dumps({t: read(bootstrap, t) for t in topics}))


if __name__ == "__main__":
    main()
