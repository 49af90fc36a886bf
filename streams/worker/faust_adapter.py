"""Every use the worker makes of Faust's, mode's and aiokafka's private internals, one named hook each.

faust-streaming, aiokafka and mode-streaming are pinned exactly in pyproject.toml because of
what is here; nothing else in ``streams`` reaches below their public names. Each hook says
in one line why the public API does not do, and tests/unit/test_faust_adapter.py has a test
per hook that fails when the internal it relies on changes (docs/pipeline.md, "Faust and
aiokafka versions", says how to upgrade the pins).
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, cast

import faust
import faust.streams
from aiokafka import AIOKafkaConsumer
from aiokafka.cluster import ClusterMetadata
from aiokafka.structs import ConsumerRecord
from faust.stores import rocksdb
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from faust.types import TP, Message
from faust.types.tuples import ack_lock
from mode import Service, ServiceT
from mode.utils.futures import notify

log = logging.getLogger(__name__)

#: Faust's consumer commit: ``await commit(topics=None, start_new_transaction=True)``
CommitFn = Callable[..., Awaitable[Any]]

#: where Faust's own web pages live: every blueprint it mounts by default is under this
FAUST_PAGES = "faust.web.apps."


# -- fetches ---------------------------------------------------------------------------------


def aiokafka_consumer(consumer: Any) -> AIOKafkaConsumer | None:
    """The aiokafka consumer inside Faust's consumer; None before its thread has started.

    Why: Faust keeps it on its consumer thread (``_thread._consumer``) with no public accessor.
    """
    return cast(AIOKafkaConsumer | None, getattr(getattr(consumer, "_thread", None), "_consumer", None))


def tune_fetcher(app: faust.App, *, max_wait_seconds: float, min_bytes: int) -> bool:
    """Set the running consumer's fetch wait and minimum fetch size; False (and a warning)
    when the internals are not there.

    Why: Faust creates aiokafka's consumer with ``fetch_max_wait_ms=1500`` and
    ``fetch_min_bytes=1`` and has no setting for either; aiokafka's fetcher reads both
    (``_fetch_max_wait_ms``, ``_fetch_min_bytes``) for every fetch request it builds.
    """
    fetcher = getattr(aiokafka_consumer(app.consumer), "_fetcher", None)
    if fetcher is None or not all(hasattr(fetcher, a) for a in ("_fetch_max_wait_ms", "_fetch_min_bytes")):
        log.warning("cannot tune the consumer's fetches (Faust/aiokafka internals changed)")
        return False
    fetcher._fetch_max_wait_ms = int(max_wait_seconds * 1000)
    fetcher._fetch_min_bytes = min_bytes
    return True


def last_fetch_times_ms(consumer: AIOKafkaConsumer) -> list[int | None]:
    """When the last fetch response carrying each assigned partition came (ms since the
    epoch; None: none yet); empty without an assignment.

    Why: aiokafka stamps it on its subscription state (``_subscription``), which it does not
    expose; it tells that a broker answered without another request.
    """
    subscription = consumer._subscription.subscription
    if subscription is None or subscription.assignment is None:
        return []
    assignment = subscription.assignment
    return [assignment.state_value(tp).timestamp for tp in assignment.tps]


async def force_metadata_update(consumer: Any) -> bool:
    """Ask a broker for the cluster's metadata, on the consumer's own thread; True if one answered.

    Why: aiokafka's client (``_client``) is private to its consumer, and lives on the event
    loop of Faust's consumer thread (``_thread``), so the request must run there.
    """
    thread = consumer._thread
    client = thread._consumer._client
    return bool(await thread.call_thread(client.force_metadata_update))


async def fetch_all_metadata(consumer: AIOKafkaConsumer) -> ClusterMetadata:
    """The metadata of every topic, with its partitions, from a broker.

    Why: ``AIOKafkaConsumer.topics()`` makes this very request but returns only the topic
    names, and the console needs their partitions before it assigns any.
    """
    return cast(ClusterMetadata, await consumer._client.fetch_all_metadata())


# -- commits and transactions ----------------------------------------------------------------


def install_commit_wrapper(consumer: Any, wrap: Callable[[CommitFn], CommitFn]) -> None:
    """Replace the consumer's ``commit`` with ``wrap(commit)``.

    Why: Faust has no hook around a commit, but every commit of its own (the commit timer,
    the one before a rebalance or a stop, after a task error, the drain loop's) is a call
    of ``self.commit(topics, start_new_transaction=...)``, so a wrapper on the instance
    sees them all.
    """
    consumer.commit = wrap(consumer.commit)


def transactional_id(app: faust.App, topic: str, partition: int) -> str:
    """The transactional id under which Faust commits the offsets of ``topic``'s ``partition``.

    Why: records sent in that transaction commit with those offsets, and Faust builds the id
    inline (``TransactionManager.commit``, ``.send``) from the app id and the assignor's
    group, with no function to call.
    """
    return f"{app.conf.id}-{app.assignor.group_for_topic(topic)}-{partition}"


# -- the table's store -----------------------------------------------------------------------


class _SourceEvent:
    """What Faust's stores read of the current event: its ``message`` (topic, partition)."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Any) -> None:
        self.message = message


@contextlib.contextmanager
def current_event(record: Any) -> Iterator[None]:
    """Make ``record`` (``.topic``, ``.partition``, ...) Faust's current event inside the block.

    Why: the table's store picks the partition of a write from the current event, which
    Faust only sets in its own stream (private ContextVar ``faust.streams._current_event``,
    holding a weak reference), and a fetched batch has none.
    """
    event = _SourceEvent(record)
    token = faust.streams._current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)


def store_put(table: Any, key: bytes, value: bytes) -> None:
    """Put ``value`` under ``key`` in the table's local store, not its changelog.

    Why: a table write sends a changelog record per write, outside the worker's transaction
    for the source partition; the worker sends one per commit itself. Uses
    :func:`current_event` for the partition.
    """
    table.data[key] = value


def store_delete(table: Any, key: bytes) -> None:
    """Delete ``key`` from the table's local store (if there), not from its changelog; as
    :func:`store_put`."""
    table.data.pop(key, None)


class HookedRocksStore(rocksdb.Store):
    """Faust's RocksDB store, with the opening of a partition's database under a public name."""

    def _open_for_partition(self, partition: int) -> Any:
        return self.open_partition(partition)

    def open_partition(self, partition: int) -> Any:
        """Open the database of one partition (override to change its options).

        Why: Faust opens each partition's database on first use in ``_open_for_partition``,
        with no option for the write options.
        """
        return super()._open_for_partition(partition)


# -- web -------------------------------------------------------------------------------------


def drop_faust_pages(app: faust.App, prefix: str = FAUST_PAGES) -> None:
    """Drop every blueprint whose module path starts with ``prefix`` from what Faust's web
    server will mount.

    Why: Faust mounts its index page (``{"status": "OK"}`` at ``/``) whenever its statistics
    pages are off, with no setting of its own; the blueprints still to mount are
    ``BlueprintManager._enabled``, a list of ``(url prefix, "module:blueprint")``.
    """
    manager = app.web.blueprints
    manager._enabled = [
        (at, bp) for at, bp in manager._enabled if not (isinstance(bp, str) and bp.startswith(prefix))
    ]


# -- the consumer ----------------------------------------------------------------------------


class HookedConsumerThread(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, with the end offsets recovery reads under a public name."""

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        return await self.partition_ends(partitions)

    async def partition_ends(self, partitions: list[TP]) -> Mapping[TP, int]:
        """The end offsets of ``partitions`` that table recovery reads to (override to change).

        Why: Faust's ``highwaters`` calls ``_highwaters`` on the thread, which under
        exactly-once reads ends only known once a partition was fetched.
        """
        return await super()._highwaters(partitions)

    def started_consumer(self) -> AIOKafkaConsumer:
        """The started aiokafka consumer of this thread.

        Why: Faust's ``_ensure_consumer`` (it raises before the start) has no public name.
        """
        return self._ensure_consumer()


class HookedConsumer(Consumer):
    """Faust's aiokafka consumer, with its override points and per-message bookkeeping
    under public names, for a consumer that takes a fetch at a time."""

    # -- override points

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return self.new_consumer_thread()

    def new_consumer_thread(self) -> AIOKafkaConsumerThread:
        """The consumer thread to create (override to use another class).

        Why: Faust creates it in ``_new_consumer_thread``, with no setting for the class.
        """
        return super()._new_consumer_thread()

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        await self.drain_messages(fetcher)

    async def drain_messages(self, fetcher: ServiceT) -> None:
        """The loop from fetched records to the streams, run by Faust's fetcher service
        (override to take other paths).

        Why: Faust's fetcher runs ``consumer._drain_messages(fetcher)``, which hands records
        over one at a time with no other way in.
        """
        await super()._drain_messages(fetcher)

    # -- what Faust's drain loop reads

    def is_changelog(self, tp: TP) -> bool:
        """Whether ``tp`` is of a table's changelog. Why: Faust's test is ``_is_changelog_tp``."""
        return self._is_changelog_tp(tp)

    def stop_requested(self, fetcher: ServiceT) -> bool:
        """Whether this consumer or the fetcher running its loop is stopping.

        Why: Faust's loop checks mode's private ``Service._stopped`` event of both.
        """
        return cast(Service, self)._stopped.is_set() or cast(Service, fetcher)._stopped.is_set()

    async def next_records(self, timeout: float) -> tuple[Mapping[TP, list[Any]], set[TP] | None]:
        """The next fetch's records by partition, and the active partitions (None: all).

        Why: ``_wait_next_records`` is Faust's one fetch with its flow control (pause,
        active partitions); ``getmany`` yields one record at a time.
        """
        records, active = await self._wait_next_records(timeout)
        return records or {}, active

    def takes_records_of(self, tp: TP, active_partitions: set[TP] | None) -> bool:
        """Whether records fetched for ``tp`` are to be taken now, as Faust's loop decides.

        Why: a partition buffered while paused (``_buffered_partitions``) is still taken.
        """
        return active_partitions is None or tp in active_partitions or tp in self._buffered_partitions

    async def unread_records(
        self, tp: TP, records: list[ConsumerRecord], acks_enabled: bool
    ) -> list[ConsumerRecord]:
        """The records not read yet; gaps in the offsets (transaction markers, compaction)
        are recorded as Faust's loop does, so commits can move past them.

        Why: the read offsets (``_read_offset``) and gaps (``_add_gap``) are Faust's own.
        """
        last = self._read_offset[tp]
        fresh = []
        for record in records:
            offset = record.offset
            if last is None or offset >= last:
                if acks_enabled and last and offset - last > 1:
                    await self._add_gap(tp, last + 1, offset)
                fresh.append(record)
                last = offset
        return fresh

    def mark_read(self, tp: TP, offset: int) -> None:
        """Note ``offset`` as read: a later fetch of it is skipped. Why: ``_read_offset``."""
        self._read_offset[tp] = offset

    def to_message(self, tp: TP, record: ConsumerRecord) -> Message:
        """Faust's message for an aiokafka record. Why: ``_to_message`` has no public name."""
        return self._to_message(tp, record)

    def ack_offsets(self, tp: TP, offsets: list[int]) -> None:
        """Acknowledge processed records by offset: what ``ack`` does for one message, for a
        batch at once.

        Why: ``ack`` takes Faust messages, and a fetched batch has none; Faust's commit reads
        what is acknowledged from ``_acked``, ``_acked_index``, ``_n_acked`` under ``ack_lock``.
        """
        with ack_lock:
            committed = self._committed_offset[tp]
            acked_index = self._acked_index[tp]
            acked = self._acked[tp]
            new = [o for o in offsets if (committed is None or o >= committed) and o not in acked_index]
            acked_index.update(new)
            acked.extend(new)
            self._n_acked += len(new)
            notify(self._waiting_for_ack)

    async def commit_if_due(self) -> None:
        """Commit when ``broker_commit_every`` acknowledgements came since the last, as
        Faust's loop does. Why: the count (``_n_acked``, ``_commit_every``) is Faust's own."""
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()
