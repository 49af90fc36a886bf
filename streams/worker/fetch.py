"""Input records handed to the pipeline one fetch at a time, below Faust's per-message path.

Faust's consumer loop delivers every record on its own: a ``wait_first`` with two new
tasks, the conductor, a channel queue and the stream, 75-165 µs per record on a 2-core
machine before any work (docs/pipeline.md). :class:`BatchingConsumer` is Faust's aiokafka
consumer with one change: the records of the topics in ``batch_topics`` go, a whole
fetch at a time, into a bounded queue, while every other topic (table changelogs during
recovery, Faust's own topics) keeps Faust's path unchanged. Faust keeps the group, the
assignment, the seek to committed offsets after each rebalance, the commits and, under
exactly-once, the transactions: the pipeline acknowledges each batch's offsets with
:meth:`BatchingConsumer.ack_offsets`, and Faust's commit takes only acknowledged offsets.

A batch fetched in an earlier consumer generation is dropped unprocessed (never
acknowledged): after a rebalance Faust seeks every partition back to its committed
offset, so its records are fetched again by whoever owns them now.

:class:`CallfocusConsumer` (the base of both) fixes two things of Faust's consumer around a
rebalance: input partitions start fetching only once the seek to the committed offsets is
done, and the changelog ends that table recovery checks against come from the broker.

Both reach Faust's consumer only through the hooks of :mod:`streams.worker.faust_adapter`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from faust.transport.consumer import CONSUMER_FETCHING, ensure_TPset
from faust.transport.drivers.aiokafka import (
    AIOKafkaConsumerThread,
    credentials_to_aiokafka_auth,
    server_list,
)
from faust.types import TP
from mode import ServiceT

from streams.worker.faust_adapter import HookedConsumer, HookedConsumerThread


@dataclass(frozen=True, slots=True)
class FetchedBatch:
    """The records of one fetch for the batch topics, by partition, and the consumer
    generation they were fetched in."""

    generation: int
    records: dict[TP, list[ConsumerRecord]]


class CommittedEndsConsumerThread(HookedConsumerThread):
    """Faust's consumer thread, asking the broker for the changelog ends recovery needs."""

    #: records before a changelog's end first read to find its last committed record
    TAIL_WINDOW = 64

    async def partition_ends(self, partitions: list[TP]) -> dict[TP, int]:
        # Under exactly-once Faust takes aiokafka's last_stable_offset(tp): the end seen in
        # the last fetch response, None for a partition not fetched since the assignment,
        # which Faust reads as "empty changelog" (-1). A partition it had recovered before
        # the rebalance then failed recovery with ConsistencyError "(6 > -1)", and a fresh
        # one skipped recovery. end_offsets asks the broker, under the consumer's isolation
        # level: read_committed gives the last stable offset.
        consumer = self.started_consumer()
        ends = cast(dict[TP, int], await consumer.end_offsets(partitions))
        if not self.consumer.in_transaction:
            return ends
        return {**ends, **await self._after_last_records(ends)}

    async def _after_last_records(self, ends: dict[TP, int]) -> dict[TP, int]:
        """:func:`after_last_records`, with a reader of the app's brokers and credentials.

        Under exactly-once a changelog ends with a transaction marker, which no consumer
        reads, so Faust's recovery never reaches the end it was given: it waited for two of
        its 5 s timeouts before it checked the consumer's position, 10 of the ~15 s a worker
        took to be ready after a SIGKILL.
        """
        consumer = self.started_consumer()
        begins = cast(dict[TP, int], await consumer.beginning_offsets(list(ends)))
        if all(ends[tp] <= begins[tp] for tp in ends):
            return {}
        conf = self.app.conf
        transport = cast(Any, self.transport)
        reader = AIOKafkaConsumer(
            bootstrap_servers=server_list(transport.url, transport.default_port),
            isolation_level="read_committed",
            enable_auto_commit=False,
            request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
            **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
        )
        await reader.start()
        try:
            return await after_last_records(reader, begins, ends, self.TAIL_WINDOW)
        finally:
            await reader.stop()


async def after_last_records(
    reader: AIOKafkaConsumer, begins: dict[TP, int], ends: dict[TP, int], window: int = 64
) -> dict[TP, int]:
    """The offset after the last committed record of each partition that has one, read
    with ``reader`` (read_committed) back from ``ends``: ``window`` records first, eight
    times more where only transaction markers or aborted records were found."""
    todo = {tp: end for tp, end in ends.items() if end > begins[tp]}
    found: dict[TP, int] = {}
    while todo:
        reader.assign(list(todo))
        for tp, end in todo.items():
            reader.seek(tp, max(begins[tp], end - window))
        last, complete = await _last_offsets(reader, todo)
        if not complete:  # a slow broker: these keep their end (and Faust's own wait)
            return found
        for tp in list(todo):
            if tp in last:
                found[tp] = last[tp] + 1
            if tp in last or todo[tp] - window <= begins[tp]:
                del todo[tp]  # found, or nothing committed at all: Faust's own wait
        window *= 8
    return found


async def _last_offsets(
    reader: AIOKafkaConsumer, ends: dict[TP, int], timeout: float = 30.0
) -> tuple[dict[TP, int], bool]:
    """The offset of the last committed record from the reader's positions up to
    ``ends``, per partition that has one, and whether every partition was read to its end
    within ``timeout``."""
    last: dict[TP, int] = {}
    waiting = dict(ends)
    deadline = asyncio.get_running_loop().time() + timeout
    while waiting and asyncio.get_running_loop().time() < deadline:
        fetched = await reader.getmany(*waiting, timeout_ms=500)
        for tp, records in fetched.items():
            if records:
                last[tp] = max(last.get(tp, -1), records[-1].offset)
        for tp in list(waiting):
            if await reader.position(tp) >= waiting[tp]:
                del waiting[tp]
    return last, not waiting


class CallfocusConsumer(HookedConsumer):
    """Faust's aiokafka consumer with the input held back until the seek after a rebalance.

    After recovery Faust resumes the input partitions, *then* seeks them to their
    committed offsets. Records fetched in between were applied, then fetched and applied
    again from the committed offset: segments came back as ``call_ended`` / ``too_late``
    dead letters after every restart. Here a resume of an input partition (any topic
    that is not a table changelog) waits until :meth:`perform_seek` of the current
    consumer generation is done.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sought_generation: int | None = None
        self._held_partitions: set[TP] = set()

    def new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return CommittedEndsConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def seek_pending(self) -> bool:
        """No seek to the committed offsets yet in this consumer generation."""
        return self._sought_generation != self.app.consumer_generation_id

    def resume_partitions(self, tps: Any) -> None:
        tpset = ensure_TPset(tps)
        held = {tp for tp in tpset if not self.is_changelog(tp)} if self.seek_pending else set()
        self._held_partitions |= held
        super().resume_partitions(tpset - held)

    async def perform_seek(self) -> None:
        generation = self.app.consumer_generation_id
        await super().perform_seek()
        if generation != self.app.consumer_generation_id:
            return  # a newer rebalance began: its own seek releases its partitions
        self._sought_generation = generation
        held, self._held_partitions = self._held_partitions, set()
        super().resume_partitions(held)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self._held_partitions.clear()  # held for an older assignment
        await super().on_partitions_assigned(assigned, generation_id)


class BatchingConsumer(CallfocusConsumer):
    """Faust's aiokafka consumer; records of ``batch_topics`` are queued per fetch."""

    #: topic names whose records go to :attr:`batches` instead of Faust's channels
    batch_topics: frozenset[str] = frozenset()
    #: fetches ahead of the pipeline: enough to keep it busy, bounded for memory
    queued_batches: int = 2

    @classmethod
    def for_topics(cls, *topics: str) -> type[BatchingConsumer]:
        """A consumer class that batches ``topics``."""
        return type(cls.__name__, (cls,), {"batch_topics": frozenset(topics)})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: asyncio.Queue[FetchedBatch] = asyncio.Queue(maxsize=self.queued_batches)

    def ack_batch(self, fetched: FetchedBatch) -> None:
        """Acknowledge every record of a fetched batch."""
        for tp, records in fetched.records.items():
            self.ack_offsets(tp, [r.offset for r in records])

    async def drain_messages(self, fetcher: ServiceT) -> None:
        # Faust's own drain loop (HookedConsumer.drain_messages runs it), taking the records
        # of a fetch per partition instead of per message
        callback = self.callback
        acks_enabled_for = self.app.topics.acks_enabled_for
        batch_topics = self.batch_topics
        try:
            while not self.stop_requested(fetcher):
                self.diag.set_flag(CONSUMER_FETCHING)
                records, active_partitions = await self.next_records(1.0)
                await asyncio.sleep(0)  # getmany can return at once, again and again
                if not records or self.should_stop:
                    continue
                generation = self.app.consumer_generation_id
                batch: dict[TP, list[ConsumerRecord]] = {}
                for tp, tp_records in records.items():
                    if not self.flow_active or self.app.consumer_generation_id != generation:
                        break
                    if not self.takes_records_of(tp, active_partitions):
                        continue
                    fresh = await self.unread_records(tp, tp_records, acks_enabled_for(tp.topic))
                    if not fresh:
                        continue
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    if tp.topic in batch_topics:
                        batch[tp] = fresh
                        self.mark_read(tp, fresh[-1].offset)
                        continue
                    for record in fresh:
                        await self.wait_first(callback(self.to_message(tp, record)), self.suspend_flow.wait())
                        self.mark_read(tp, record.offset)
                if batch:
                    await self.wait_first(
                        self.batches.put(FetchedBatch(generation, batch)), self.suspend_flow.wait()
                    )
                await self.commit_if_due()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)
