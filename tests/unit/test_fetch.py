"""The batching consumer's bookkeeping: what Faust's per-message loop and ``ack`` do, per batch."""

from __future__ import annotations

import asyncio

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams.worker.fetch import BatchingConsumer


def test_the_worker_consumer_batches_the_input_topic_only(
    consumer: BatchingConsumer, input_topic: str
) -> None:
    assert consumer.batch_topics == frozenset({input_topic})


def test_records_already_read_are_skipped_and_offset_gaps_recorded(
    consumer: BatchingConsumer, input_topic: str
) -> None:
    tp = TP(input_topic, 7)
    consumer._read_offset[tp] = 10
    records = [
        ConsumerRecord(input_topic, 7, o, 0, 0, b"k", b"v", None, 1, 1, ()) for o in (8, 10, 11, 14, 15)
    ]
    fresh = asyncio.run(consumer.unread_records(tp, records, acks_enabled=True))
    assert [r.offset for r in fresh] == [10, 11, 14, 15]
    # 12 and 13 (transaction markers, say) are a gap a commit may move past, as in Faust's loop
    assert {o for interval in consumer._gap[tp] for o in range(interval.begin, interval.end)} >= {12, 13}


def test_batch_acks_count_each_offset_once_and_none_below_the_committed_one(
    consumer: BatchingConsumer, input_topic: str
) -> None:
    tp = TP(input_topic, 6)
    consumer._committed_offset[tp] = 5
    before = consumer._n_acked
    consumer.ack_offsets(tp, [4, 5, 6])
    consumer.ack_offsets(tp, [6, 7])
    assert sorted(consumer._acked[tp]) == [5, 6, 7]
    assert consumer._n_acked - before == 3
