"""The commit protocol against an in-memory transactional producer: its invariants.

The producer keeps one open transaction per input partition; a commit of the offsets
commits them all at once (as Faust's commit does under ``exactly_once``). Batches run
concurrently with commits, and every state write yields, so batches do run while a
commit writes: the interleavings the worker meets under load.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import pytest

from streams.engine import EngineConfig
from streams.worker.batches import BatchApplier, Output
from streams.worker.calls import LiveCall, read_durable
from streams.worker.commits import CommitProtocol, StateWriteError
from tests.unit.batch_fixtures import CODEC, FakeClock, Input, Record, make_applier


@dataclass
class Transaction:
    """What one commit made visible: records by kind and the input offsets it committed."""

    dead_letter_offsets: set[tuple[int, int]] = field(default_factory=set)
    states: dict[str, int] = field(default_factory=dict)  # call -> media time of its written state
    offsets: dict[int, int] = field(default_factory=dict)  # partition -> next offset to read


@dataclass
class FetchedBatch:
    records: list[Record]


class MemoryProducer:
    """An exactly-once producer and consumer in memory: open transactions, committed ones."""

    def __init__(self, fail_state_of: str | None = None) -> None:
        self.open = Transaction()
        self.committed: list[Transaction] = []
        self.acknowledged: dict[int, int] = {}
        self.queue: list[FetchedBatch] = []
        self.store: dict[bytes, bytes] = {}
        self.fail_state_of = fail_state_of

    # StateSink
    def store_state(self, key: bytes, value: bytes | None, source: Any) -> None:
        if value is None:
            self.store.pop(key, None)
        else:
            self.store[key] = value

    async def send_state(self, key: bytes, value: bytes | None, source: Any) -> Awaitable[Any]:
        await asyncio.sleep(0)  # the broker round trip: batches run meanwhile
        if key.decode() == self.fail_state_of:
            raise RuntimeError("broker refused the record")
        assert value is not None
        call = read_durable(key.decode(), value, EngineConfig())
        assert isinstance(call, LiveCall)
        self.open.states[key.decode()] = call.state.metrics().media_time_ms
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_outputs(self, outputs: list[Output]) -> None:
        for output in outputs:
            assert output.source is not None  # every output of a batch is transactional
            if output.kind == "dead_letters":
                self.open.dead_letter_offsets.add((output.source.partition, output.source.offset))

    # BatchFeed
    def is_current(self, batch: FetchedBatch) -> bool:
        return True

    def acknowledge(self, batch: FetchedBatch) -> None:
        for record in batch.records:
            self.acknowledged[record.partition] = record.offset + 1

    def waiting(self) -> int:
        return len(self.queue)

    # Faust's consumer.commit
    async def commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        await asyncio.sleep(0)
        self.open.offsets = dict(self.acknowledged)
        self.committed.append(self.open)
        self.open = Transaction()
        return True


class Sink:
    def __init__(self, producer: MemoryProducer) -> None:
        self.store = producer.store_state
        self.send = producer.send_state


def protocol_for(applier: BatchApplier, producer: MemoryProducer) -> CommitProtocol:
    protocol = CommitProtocol(
        applier.live_calls.unwritten,
        Sink(producer),
        producer.send_outputs,
        applier.live_calls.forget,
        applier.metrics,
        max_record_bytes=1024 * 1024,
        feed=producer,
    )
    protocol.STATES_PER_SLICE = 1  # every state its own slice: the most interleaving
    return protocol


def make_batches(
    count: int, seed: int = 7
) -> tuple[list[FetchedBatch], dict[tuple[int, int], tuple[str, int]]]:
    """Batches over 6 calls in 2 partitions, each with one unreadable record; and, per
    (partition, offset) of a segment, its call and the media time it brings the call to."""
    rng = random.Random(seed)
    feed = Input()
    calls = {f"c{i}": i % 2 for i in range(6)}
    segments = dict.fromkeys(calls, 0)
    brings: dict[tuple[int, int], tuple[str, int]] = {}
    batches = [FetchedBatch([feed.started(p, c) for c, p in calls.items()])]
    for _ in range(count):
        records = [feed.record(rng.randrange(2), b"bad", b"\x00junk")]
        for call in rng.sample(sorted(calls), 3):
            record = feed.segment(calls[call], call, segments[call])
            segments[call] += 1
            brings[(record.partition, record.offset)] = (call, segments[call] * 1000)
            records.append(record)
        batches.append(FetchedBatch(records))
    return batches, brings


async def run(
    protocol: CommitProtocol, applier: BatchApplier, producer: MemoryProducer, batches: list[FetchedBatch]
) -> None:
    producer.queue = list(batches)
    fetch_time = random.Random(3)

    async def input_loop() -> None:
        while producer.queue:
            batch = producer.queue.pop(0)
            async with protocol.batch_lock:
                applied = applier.apply(batch.records)
                await protocol.deliver(batch, applied.outputs, applied.call_ids)
            for _ in range(fetch_time.randrange(1, 12)):  # the next fetch takes a while
                await asyncio.sleep(0)

    async def commit_loop() -> None:
        while producer.queue:
            await protocol.commit(producer.commit)
            await asyncio.sleep(0)

    await asyncio.gather(input_loop(), commit_loop())
    await protocol.commit(producer.commit, start_new_transaction=False)  # the last, as Faust stops


def test_every_acknowledged_event_is_in_exactly_one_committed_transaction() -> None:
    applier, producer = make_applier(FakeClock()), MemoryProducer()
    protocol = protocol_for(applier, producer)
    batches, brings = make_batches(60)
    asyncio.run(run(protocol, applier, producer, batches))

    assert applier.metrics.batches_during_commit._value.get() > 0, "no batch ran during a commit"
    assert len(producer.committed) > 5
    bad = {(r.partition, r.offset) for batch in batches for r in batch.records if r.key == b"bad"}
    previous: dict[int, int] = {}
    seen_dead_letters: set[tuple[int, int]] = set()
    media_time = {f"c{i}": 0 for i in range(6)}
    for transaction in producer.committed:
        committed_now = {
            (p, o) for p, end in transaction.offsets.items() for o in range(previous.get(p, 0), end)
        }
        # a batch's outputs go in the transaction that commits the batch's offsets, once
        bad_now = committed_now & bad
        assert transaction.dead_letter_offsets == bad_now
        assert not seen_dead_letters & transaction.dead_letter_offsets
        seen_dead_letters |= transaction.dead_letter_offsets
        # the states written hold exactly the events whose offsets the commit commits
        for position in sorted(committed_now, key=lambda po: po[1]):
            if position in brings:
                call, media = brings[position]
                media_time[call] = max(media_time[call], media)
        for call, written in transaction.states.items():
            assert written == media_time[call], f"{call}: state {written} for offsets {transaction.offsets}"
        previous = transaction.offsets
    assert previous == producer.acknowledged  # the last commit holds everything acknowledged
    assert seen_dead_letters == bad


def test_a_commit_never_splits_a_batch() -> None:
    applier, producer = make_applier(FakeClock()), MemoryProducer()
    protocol = protocol_for(applier, producer)
    batches, _ = make_batches(60, seed=11)
    asyncio.run(run(protocol, applier, producer, batches))
    for transaction in producer.committed:
        for batch in batches:
            inside = {r.offset < transaction.offsets.get(r.partition, 0) for r in batch.records}
            assert len(inside) == 1, "a commit holds part of a batch"


def test_a_commit_that_ends_the_transactions_lets_no_batch_run_while_it_writes() -> None:
    applier, producer = make_applier(FakeClock()), MemoryProducer()
    protocol = protocol_for(applier, producer)
    batches, _ = make_batches(5)

    async def scenario() -> bool:
        for batch in batches[:3]:
            async with protocol.batch_lock:
                applied = applier.apply(batch.records)
                await protocol.deliver(batch, applied.outputs, applied.call_ids)
        commit = asyncio.ensure_future(protocol.commit(producer.commit, start_new_transaction=False))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        locked = protocol.batch_lock.locked() and not protocol.running
        await commit
        return locked

    assert asyncio.run(scenario())
    assert producer.committed[-1].offsets == producer.acknowledged


def test_a_failed_state_write_commits_nothing_then_or_later() -> None:
    applier, producer = make_applier(FakeClock()), MemoryProducer(fail_state_of="c3")
    protocol = protocol_for(applier, producer)
    batches, _ = make_batches(4)

    async def scenario() -> None:
        for batch in batches:
            async with protocol.batch_lock:
                applied = applier.apply(batch.records)
                await protocol.deliver(batch, applied.outputs, applied.call_ids)
        with pytest.raises(StateWriteError, match="c3"):
            await protocol.commit(producer.commit)
        with pytest.raises(StateWriteError):  # e.g. the commit Faust makes as it stops
            await protocol.commit(producer.commit, start_new_transaction=False)

    asyncio.run(scenario())
    assert producer.committed == []  # the open transaction is never committed: aborted
    assert applier.metrics.output_errors.labels("state")._value.get() == 1
    assert not protocol.batch_lock.locked() and not protocol.running


def test_a_state_over_the_record_limit_fails_the_commit_before_anything_is_sent() -> None:
    applier, producer = make_applier(FakeClock()), MemoryProducer()
    protocol = protocol_for(applier, producer)
    protocol.max_record_bytes = 1100  # room for 76 bytes of state: none fits
    batch = make_batches(1)[0][0]

    async def scenario() -> None:
        async with protocol.batch_lock:
            applied = applier.apply(batch.records)
            await protocol.deliver(batch, applied.outputs, applied.call_ids)
        with pytest.raises(StateWriteError, match="over the record limit"):
            await protocol.commit(producer.commit)

    asyncio.run(scenario())
    assert producer.committed == [] and producer.open.states == {}


def test_batches_fetched_before_a_rebalance_are_dropped_and_their_calls_forgotten() -> None:
    applier, producer = make_applier(FakeClock()), MemoryProducer()
    protocol = protocol_for(applier, producer)
    batches, _ = make_batches(2)

    async def scenario() -> None:
        async with protocol.batch_lock:
            applied = applier.apply(batches[0].records)
            await protocol.deliver(batches[0], applied.outputs, applied.call_ids)
        protocol.running = True  # a commit is writing: the next batch waits for it
        async with protocol.batch_lock:
            applied = applier.apply(batches[1].records)
            await protocol.deliver(batches[1], applied.outputs, applied.call_ids)
        assert len(protocol.waiting) == 1
        producer.is_current = lambda batch: False  # type: ignore[method-assign]  # a rebalance
        async with protocol.batch_lock:
            await protocol._release_waiting()

    asyncio.run(scenario())
    assert applier.metrics.input_batches.labels("dropped")._value.get() == 1
    changed = {r.key.decode() for r in batches[1].records if r.key and r.key != b"bad"}
    assert all(applier.live_calls.get(call) is None for call in changed)
    assert producer.acknowledged == {p: o + 1 for p, o in _last_offsets(batches[0].records).items()}


def _last_offsets(records: list[Record]) -> dict[int, int]:
    last: dict[int, int] = {}
    for record in records:
        last[record.partition] = max(last.get(record.partition, -1), record.offset)
    return last


def test_the_test_records_are_what_the_codec_reads() -> None:
    record = Input().segment(0, "c1", 4)
    name, segment = CODEC.decode(record.value or b"")
    assert name == "TranscriptSegment" and segment["end_ms"] == 5000
