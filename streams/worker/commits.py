"""The commit protocol: which states a commit writes, and how commits and batches take turns.

Under ``exactly_once`` Faust commits a partition's input offsets in the transaction of
that partition. The worker keeps each call's state in memory and writes it to the
call-state table (store and changelog) once per commit, not per event; for that to be
exact, the states a commit writes must hold exactly the events whose offsets it commits.
:class:`CommitProtocol` wraps Faust's commit to make it so:

1. once a state could not be written, every later commit fails (the worker stops and
   starts again from the last commit: nothing half-written is ever committed);
2. a commit waits for the batch under way: a commit never splits a batch;
3. the commit point: the calls changed until now are what it writes;
4. batches go on while it writes, but their outputs and acknowledgements wait;
5. it writes the states in slices, each in the transaction of the partition of the
   record that last changed the call, letting waiting input in between slices;
6. Faust commits the offsets and the transactions, and whoever asked is told which
   states are now committed (the per-agent scorecard counters read only those);
7. the batches that ran meanwhile are sent and acknowledged, in the next transaction.

The agents (:mod:`streams.worker.agents`) give it the table and the consumer through the
small protocols below; tests give it in-memory ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from streams.worker.batches import RECORD_OVERHEAD_BYTES, Output
from streams.worker.calls import TakenState, UnwrittenStates
from streams.worker.exporter import PipelineMetrics
from streams.worker.output_kinds import OutputKind

log = logging.getLogger(__name__)

# Faust's consumer.commit: (topics=None, start_new_transaction=True) -> committed or not
CommitFn = Callable[..., Awaitable[Any]]


class StateWriteError(RuntimeError):
    """A call's state could not be written: the commit fails, so its input offsets are not
    committed and the events that made the state are read again after the restart."""


class StateSink(Protocol):
    """Where a commit writes call states: the table's local store and its changelog."""

    def store(self, key: bytes, value: bytes | None, source: Any) -> None:
        """Write (``None``: delete) the state in the local store of ``source``'s partition."""

    async def send(self, key: bytes, value: bytes | None, source: Any) -> Awaitable[Any]:
        """Send the changelog record in ``source``'s partition's transaction; returns its delivery."""


class BatchFeed(Protocol):
    """The consumer's side of fetched batches."""

    def is_current(self, batch: Any) -> bool:
        """Fetched since the latest rebalance (else its records come again after the seek)."""

    def acknowledge(self, batch: Any) -> None:
        """Mark the batch's records done: the next commit commits their offsets."""

    def waiting(self) -> int:
        """Fetched batches not yet applied."""


@dataclass
class WaitingBatch:
    """A batch applied while a commit wrote: its outputs and acknowledgement follow the commit."""

    batch: Any
    outputs: list[Output]
    call_ids: set[str]


class CommitProtocol:
    """Commits that hold exactly the batches before them, written in their partitions' transactions."""

    # States written between two looks at the event loop: batches that run meanwhile
    # wait for a slice, not for every changed call's state.
    STATES_PER_SLICE = 100
    # Fetched batches that go before the next slice when they wait: the input first, and a
    # commit still gets a slice in every few batches under a backlog. At 5,000 live
    # segments/s a commit's 2,500 states took 140-410 ms to write, and every latency
    # above 250 ms fell in commits while the two took strict turns.
    BATCHES_BEFORE_A_SLICE = 4

    def __init__(
        self,
        unwritten: UnwrittenStates,
        sink: StateSink,
        send_outputs: Callable[[list[Output]], Awaitable[None]],
        forget_call: Callable[[str], None],
        metrics: PipelineMetrics,
        *,
        max_record_bytes: int,
        feed: BatchFeed | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        on_committed: Callable[[list[TakenState]], None] | None = None,
    ) -> None:
        self.unwritten = unwritten
        self.sink = sink
        self.send_outputs = send_outputs
        self.forget_call = forget_call
        self.metrics = metrics
        self.max_record_bytes = max_record_bytes
        # None: the input comes through Faust's stream, event by event; no batch runs during a commit
        self.feed = feed
        self.monotonic = monotonic
        self.on_committed = on_committed
        # the states the commit under way wrote
        self.written: list[TakenState] = []
        # every batch and the start and end of every commit take it
        self.batch_lock = asyncio.Lock()
        # one commit at a time: Faust's own guard returns to a second caller only when the
        # first is done, and the batches waiting on the first must be sent before that
        self._commit_lock = asyncio.Lock()
        self.running = False
        self.waiting: list[WaitingBatch] = []
        self.failed: StateWriteError | None = None

    def wrap(self, commit: CommitFn) -> CommitFn:
        """Faust's commit, made to follow this protocol (installed by the adapter)."""

        async def commit_between_batches(topics: Any = None, start_new_transaction: bool = True) -> Any:
            return await self.commit(commit, topics, start_new_transaction)

        return commit_between_batches

    async def commit(self, commit: CommitFn, topics: Any = None, start_new_transaction: bool = True) -> Any:
        # batches run during the commit only if it opens the next transaction for their
        # outputs (not the last commit before a rebalance or a stop)
        overlap = start_new_transaction and self.feed is not None
        async with self._commit_lock:
            if self.failed is not None:  # 1. e.g. the commit Faust makes as it stops
                raise self.failed
            await self.batch_lock.acquire()  # 2.
            began = self.monotonic()
            try:
                self.unwritten.begin()  # 3.
                if overlap:  # 4.
                    self.running = True
                    self.batch_lock.release()
                await self.write_states()  # 5.
                committed = await commit(topics, start_new_transaction=start_new_transaction)  # 6.
                if self.on_committed is not None:
                    self.on_committed(self.written)
                return committed
            finally:
                self.written = []  # the states' data, held no longer than the commit
                self.metrics.commit_duration.observe(self.monotonic() - began)
                if self.running:
                    async with self.batch_lock:
                        await self._release_waiting()  # 7.
                else:
                    self.batch_lock.release()

    async def deliver(self, batch: Any, outputs: list[Output], call_ids: set[str]) -> None:
        """Send a fetched batch's outputs and acknowledge it, or, while a commit writes, queue
        both for after it. The caller holds :attr:`batch_lock`."""
        if self.running:
            self.waiting.append(WaitingBatch(batch, outputs, call_ids))
            self.metrics.batches_during_commit.inc()
            return
        await self.send_outputs(outputs)
        self._acknowledge(batch)

    def _acknowledge(self, batch: Any) -> None:
        assert self.feed is not None
        self.feed.acknowledge(batch)
        self.metrics.input_batches.labels("processed").inc()

    async def _release_waiting(self) -> None:
        """Send what the waiting batches caused and acknowledge them. A batch from before a
        rebalance is not sent: its records come again after the seek to the committed
        offsets, so its calls are forgotten here and start again from their committed state."""
        waiting, self.waiting, self.running = self.waiting, [], False
        for entry in waiting:
            if self.feed is None or not self.feed.is_current(entry.batch):
                self.metrics.input_batches.labels("dropped").inc()
                for call_id in entry.call_ids:
                    self.forget_call(call_id)
                continue
            await self.send_outputs(entry.outputs)
            self._acknowledge(entry.batch)

    async def write_states(self) -> None:
        """Write the states of the commit that has begun. Raises :class:`StateWriteError`,
        before the offsets commit, if one cannot be written whole; every later commit then
        raises it too."""
        try:
            await self._write_states()
        except StateWriteError as error:
            self.failed = error
            self.metrics.output_errors.labels(OutputKind.STATE).inc()
            log.error("%s: no offsets are committed from now on; the worker stops", error)
            raise

    async def _write_states(self) -> None:
        deliveries = []
        limit = self.max_record_bytes - RECORD_OVERHEAD_BYTES
        while states := self.unwritten.take(self.STATES_PER_SLICE):
            if self.on_committed is not None:
                self.written += states
            for key, data, source in states:
                value = None if data is None else orjson.dumps(data)
                if value is not None and len(key) + len(value) > limit:
                    raise StateWriteError(
                        f"call {key.decode()}: state of {len(value)} bytes is over the record limit"
                    )
                self.sink.store(key, value, source)
                try:
                    deliveries.append(await self.sink.send(key, value, source))
                except Exception as error:
                    raise StateWriteError(f"call {key.decode()}: {error!r}") from error
            await self._let_input_first()
        for delivery in deliveries:  # the broker took every state, or the commit fails
            try:
                await delivery
            except Exception as error:
                raise StateWriteError(f"a state record was refused: {error!r}") from error
        self.metrics.produced_by_output[OutputKind.STATE].inc(len(deliveries))

    async def _let_input_first(self) -> None:
        """Between two slices: yield, and yield again while fetched batches wait, up to
        ``BATCHES_BEFORE_A_SLICE`` times, so a waiting batch does not wait for the writing;
        the commit takes longer instead, and only its outputs wait for it."""
        await asyncio.sleep(0)
        if not self.running or self.feed is None:
            return
        for _ in range(self.BATCHES_BEFORE_A_SLICE):
            if not self.feed.waiting():
                return
            await asyncio.sleep(0)
