"""Where a changelog's last committed record is, read back from its end on a real broker:
recovery is given that end, not the transaction marker after it (streams/worker/fetch.py)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.types import TP
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from streams.worker.fetch import after_last_records


async def write_and_read_back(bootstrap: str, topic: str) -> tuple[dict[TP, int], dict[TP, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-tx")
    await producer.start()
    try:
        # partition 0: 3 committed records, then 2 aborted, then 100 committed, then 200 aborted
        for count, commit in ((3, True), (2, False), (100, True), (200, False)):
            await producer.begin_transaction()
            for n in range(count):
                await producer.send_and_wait(topic, f"{n}".encode(), key=b"k", partition=0)
            await (producer.commit_transaction() if commit else producer.abort_transaction())
        # partition 1: one aborted transaction only; partition 2: nothing
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"x", key=b"k", partition=1)
        await producer.abort_transaction()
    finally:
        await producer.stop()
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    await reader.start()
    try:
        tps = [TP(topic, p) for p in range(3)]
        ends = await reader.end_offsets(tps)
        begins = await reader.beginning_offsets(tps)
        found = await after_last_records(reader, begins, ends, window=16)
    finally:
        await reader.stop()
    return ends, found


def test_the_end_after_the_last_committed_record_skips_markers_and_aborted_records(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"{unique}-changelog"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    admin.close()
    ends, found = asyncio.run(write_and_read_back(kafka_bootstrap, topic))
    # offsets of partition 0: 0-2 data, 3 commit marker, 4-5 aborted, 6 abort marker,
    # 7-106 data, 107 commit marker, 108-307 aborted, 308 abort marker: the end is 309
    assert ends[TP(topic, 0)] == 309
    assert found[TP(topic, 0)] == 107, "after the last committed record (106), past 202 other records"
    assert TP(topic, 1) not in found and TP(topic, 2) not in found, "nothing committed: the end stays"
