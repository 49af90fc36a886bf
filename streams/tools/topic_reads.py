"""Bounded reads of a topic for the offline commands (``report``, ``backfill``).

A command reads each partition from the first offset at or after a time up to an end
taken when it starts, ``read_committed``: it ends while the workers keep writing, and never
sees a record of an aborted transaction. A partition that stops moving before its end fails
the read rather than hanging.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from streams.kafka_clients import kafka_python_options
from streams.settings import Settings

Offsets = dict[TopicPartition, int]


class TopicReadError(Exception):
    """A read that cannot go on: the topic is missing (exit status 2: the prefix is a
    setting) or a partition stopped moving before its end (1)."""

    def __init__(self, message: str, exit_status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_status = exit_status


def committed_reader(settings: Settings, client_id: str, **options: Any) -> KafkaConsumer:
    """A consumer without a group that reads what transactions committed, and never creates
    a topic (a mistyped prefix must not)."""
    return KafkaConsumer(
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        allow_auto_create_topics=False,
        **options,
        **kafka_python_options(settings.kafka),
    )


def topic_partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise TopicReadError(
            f"topic {topic} does not exist (CALLFOCUS_TOPIC_PREFIX; callfocus topics creates it)", 2
        )
    return [TopicPartition(topic, p) for p in sorted(partitions)]


def offsets_at(
    consumer: KafkaConsumer, partitions: list[TopicPartition], since_ms: int, ends: Offsets
) -> Offsets:
    """The first offset at or after ``since_ms`` per partition; its end when there is none.
    Kafka's timestamps start at the epoch: a time before it reads from the start."""
    found = consumer.offsets_for_times({tp: max(since_ms, 0) for tp in partitions})
    return {tp: found[tp].offset if found.get(tp) is not None else ends[tp] for tp in partitions}


def bounded_records(
    consumer: KafkaConsumer,
    starts: Offsets,
    stops: Offsets,
    stall_seconds: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Any]:
    """Every committed record of each partition from its start offset to (not including) its
    stop offset, in each partition's order."""
    todo = {tp for tp in starts if starts[tp] < stops[tp]}
    consumer.assign(sorted(starts, key=lambda tp: (tp.topic, tp.partition)))
    for tp in starts:
        if tp in todo:
            consumer.seek(tp, starts[tp])
        else:
            consumer.pause(tp)
    moved = clock()
    while todo:
        polled = consumer.poll(timeout_ms=1000, max_records=2000)
        for tp, records in polled.items():
            for record in records:
                if record.offset >= stops[tp]:
                    break
                yield record
        for tp in list(todo):
            # transaction markers and aborted records are skipped: the position passes them
            if consumer.position(tp) >= stops[tp]:
                todo.discard(tp)
                consumer.pause(tp)
        if polled:
            moved = clock()
        elif clock() - moved > stall_seconds:
            left = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(todo))
            raise TopicReadError(f"no records came for {stall_seconds:.0f} s before the end of {left}")
