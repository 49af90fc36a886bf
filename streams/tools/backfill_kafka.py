"""``callfocus backfill``, the Kafka part: read the retained call-events and the summaries
already written, score with :mod:`streams.tools.backfill`, write the new summaries in one
transaction.

The run is bounded: each partition of ``<prefix>.call-events`` is read from the first offset
at or after ``since`` (less :data:`START_MARGIN_MS`) up to the end taken when the run starts,
and no further than what the workers (consumer group ``APP_ID``) have committed. A call the
workers have not ended yet is theirs: its summary is committed with their offsets, in the
same transaction, so a backfill that read their committed offsets before reading the
summaries sees every summary they wrote up to there and never writes one of its own for
the same call and definitions. Everything is read ``read_committed``.

The summaries go to ``<prefix>.call-summaries`` keyed by call_id, encoded as the worker
encodes them, with the header ``callfocus-source: backfill``, all in one transaction of the
transactional id ``<APP_ID>-backfill``: a run that fails or is killed leaves nothing visible
to ``read_committed`` readers, and a second backfill started meanwhile fences the first.
"""

from __future__ import annotations

import time
from typing import Final

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from streams.kafka_clients import kafka_python_options
from streams.settings import Settings
from streams.tools.backfill import (
    SOURCE_BACKFILL,
    SOURCE_HEADER,
    Backfill,
    BackfillResult,
    Definitions,
    SummariesPresent,
    Window,
)
from streams.tools.topic_reads import (
    Offsets,
    bounded_records,
    committed_reader,
    offsets_at,
    topic_partitions,
)
from streams.wire.codec import AvroCodec

# read from this long before ``since``: a CallStarted stamped at ``since`` may sit in a
# record whose timestamp (the producer's clock) is a little earlier; the window rule uses
# the event's own started_at
START_MARGIN_MS: Final = 5 * 60 * 1000
# a partition that stops moving for this long before its end fails the run
STALL_SECONDS: Final = 60.0
# how long a retriable answer (the group coordinator not yet there) is asked again
RETRY_SECONDS: Final = 30.0
# the broker's default transaction.max.timeout.ms: the one transaction of a run may last this long
TRANSACTION_TIMEOUT_MS: Final = 15 * 60 * 1000


def _worker_progress(settings: Settings, partitions: list[TopicPartition]) -> Offsets:
    """The offsets the workers' consumer group has committed on call-events (none if it never ran)."""
    admin = KafkaAdminClient(client_id="callfocus-backfill", **kafka_python_options(settings.kafka))
    deadline = time.monotonic() + RETRY_SECONDS
    try:
        while True:
            try:
                found = admin.list_group_offsets({settings.app_id: partitions}).get(settings.app_id, {})
                break
            except KafkaError as error:  # the coordinator loading (a new cluster's offsets topic)
                if not error.retriable or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        admin.close()
    return {tp: meta.offset for tp, meta in found.items() if meta is not None and meta.offset >= 0}


def run_backfill(
    settings: Settings, definitions: Definitions, window: Window, *, dry_run: bool = False
) -> BackfillResult:
    codec = AvroCodec()
    events_topic, summaries_topic = settings.topic("call-events"), settings.topic("call-summaries")
    consumer = committed_reader(
        settings,
        "callfocus-backfill",
        max_partition_fetch_bytes=max(settings.max_record_bytes, 1024 * 1024),
    )
    try:
        event_partitions = topic_partitions(consumer, events_topic)
        summary_partitions = topic_partitions(consumer, summaries_topic)
        # 1. how far to read the events: their end now, or the workers' progress if behind it
        ends = consumer.end_offsets(event_partitions)
        progress = _worker_progress(settings, event_partitions)
        stops = {tp: min(ends[tp], progress.get(tp, ends[tp])) for tp in event_partitions}
        behind = sum(1 for tp in event_partitions if stops[tp] < ends[tp])
        read_from = window.since_ms - START_MARGIN_MS
        # 2. then the summaries already there, up to their end now (after 1: the workers'
        # summaries of the events up to their progress are in it)
        present = SummariesPresent(codec)
        summary_ends = consumer.end_offsets(summary_partitions)
        summary_starts = offsets_at(consumer, summary_partitions, read_from, summary_ends)
        for record in bounded_records(consumer, summary_starts, summary_ends, STALL_SECONDS):
            present.add_record(record.value)
        # 3. the events, each call through the worker's processor
        backfill = Backfill(definitions, window, present, codec)
        starts = offsets_at(consumer, event_partitions, read_from, ends)
        # a partition read from its first retained record, stamped after the read's start:
        # retention dropped part of the window
        kept_from = consumer.beginning_offsets(event_partitions)
        cut = {tp.partition: kept_from[tp] for tp in event_partitions if starts[tp] == kept_from[tp] > 0}
        retained_from: int | None = None
        for record in bounded_records(consumer, starts, stops, STALL_SECONDS):
            if cut.get(record.partition) == record.offset and record.timestamp > read_from:
                retained_from = min(record.timestamp, retained_from or record.timestamp)
            backfill.feed(record.key, record.value, record.partition)
    finally:
        consumer.close()
    result = backfill.result()
    result.partitions_at_worker_progress = behind
    result.retained_from_ms = retained_from
    result.dry_run = dry_run
    if not dry_run and result.summaries:
        result.written = _write(settings, summaries_topic, result.summaries)
    return result


def _write(settings: Settings, topic: str, summaries: list[tuple[bytes, bytes]]) -> int:
    """All summaries in one transaction: all visible, or none."""
    producer = KafkaProducer(
        client_id="callfocus-backfill",
        transactional_id=f"{settings.app_id}-backfill",
        transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
        acks="all",
        linger_ms=5,
        max_request_size=settings.max_record_bytes,
        **kafka_python_options(settings.kafka),
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        try:
            headers = [(SOURCE_HEADER, SOURCE_BACKFILL)]
            for key, value in summaries:
                producer.send(topic, key=key, value=value, headers=headers)
            producer.commit_transaction()
        except BaseException:
            producer.abort_transaction()
            raise
    finally:
        producer.close()
    return len(summaries)
