"""Each hook of the Faust/aiokafka adapter, against the real classes of the pinned versions.

A test here fails when the private internal its hook relies on changes: run this file first
after changing a pin of faust-streaming, aiokafka or mode-streaming (docs/pipeline.md).
Nothing here needs a broker: the objects are built, not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import faust.streams
import mode
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment as MemberAssignment
from aiokafka.structs import ConsumerRecord
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata
from faust.exceptions import ConsumerNotStarted
from faust.serializers import codecs
from faust.stores import rocksdb
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.consumer import Fetcher as FaustFetcher
from faust.transport.consumer import TransactionManager
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Producer
from faust.types import TP
from faust.web.base import BlueprintManager

from streams.settings import Settings
from streams.worker import faust_adapter
from streams.worker.app import Worker, create_worker
from streams.worker.faust_adapter import HookedRocksStore
from streams.worker.fetch import BatchingConsumer, CommittedEndsConsumerThread
from streams.worker.state_store import CallStateStore

#: sha256 of faust-streaming 0.15.3's ``Consumer._drain_messages``, which
#: ``BatchingConsumer.drain_messages`` copies: compare the two, then update this
FAUST_DRAIN_LOOP_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


@dataclass
class Record:
    """An input record as the worker passes it to :func:`faust_adapter.current_event`."""

    topic: str
    partition: int
    offset: int = 0
    key: bytes = b""
    value: bytes = b""


@contextlib.asynccontextmanager
async def unstarted_consumer() -> AsyncIterator[AIOKafkaConsumer]:
    """A real aiokafka consumer, built (with its client) but never started, closed after."""
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")
    try:
        yield consumer
    finally:
        await consumer.stop()


def source_of(function: Any) -> str:
    return inspect.getsource(function)


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def assign(app: faust.App, topic: str, partition: int, group: int) -> None:
    """Hand the app's assignor an assignment as the group leader sends it."""
    metadata = ClientMetadata(
        assignment=ClientAssignment(actives={topic: [partition]}, standbys={}),
        url=str(app.conf.canonical_url),
        changelog_distribution={},
        topic_groups={topic: group},
    )
    assignment = MemberAssignment(
        0, [MemberAssignment.Assignment(topic, [partition])], zlib.compress(metadata.dumps())
    )
    app.assignor.on_assignment(assignment)


def consumer_record(topic: str, partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"v", None, 1, 1, ())


# -- fetches ---------------------------------------------------------------------------------


def test_aiokafka_consumer_is_the_one_faust_s_consumer_thread_starts(consumer: BatchingConsumer) -> None:
    thread = consumer._thread
    assert isinstance(thread, AIOKafkaConsumerThread)
    assert faust_adapter.aiokafka_consumer(consumer) is None  # built, not started
    assert "self._consumer = self._create_consumer(" in source_of(AIOKafkaConsumerThread.on_start)

    async def started() -> None:
        async with unstarted_consumer() as inner:
            thread._consumer = inner
            assert faust_adapter.aiokafka_consumer(consumer) is inner

    asyncio.run(started())


def test_tune_fetcher_sets_what_aiokafka_s_fetcher_puts_in_each_fetch_request(
    worker: Worker, consumer: BatchingConsumer
) -> None:
    # AIOKafkaConsumer.start creates the fetcher; each fetch request reads both fields
    assert "self._fetcher = Fetcher(" in source_of(AIOKafkaConsumer.start)
    request = source_of(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms" in request and "self._fetch_min_bytes" in request

    async def tune() -> tuple[int, int]:
        async with unstarted_consumer() as inner:
            fetcher = Fetcher(inner._client, inner._subscription, fetch_max_wait_ms=1500, fetch_min_bytes=1)
            inner._fetcher = fetcher
            consumer._thread._consumer = inner
            assert faust_adapter.tune_fetcher(worker.app, max_wait_seconds=0.25, min_bytes=65536)
            return fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes

    assert asyncio.run(tune()) == (250, 65536)


def test_tune_fetcher_warns_and_says_so_when_there_is_no_fetcher(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=faust_adapter.__name__):
        assert not faust_adapter.tune_fetcher(worker.app, max_wait_seconds=0.25, min_bytes=1)
    assert "cannot tune" in caplog.text


def test_last_fetch_times_are_the_stamps_aiokafka_s_fetcher_puts_on_each_partition() -> None:
    assert "tp_state.timestamp = now_ms" in source_of(Fetcher)

    async def stamps() -> tuple[list[int | None], list[int | None], list[int | None]]:
        async with unstarted_consumer() as inner:
            before = faust_adapter.last_fetch_times_ms(inner)
            tps = [TopicPartition("in", 0), TopicPartition("in", 1)]
            inner.assign(tps)
            assigned = faust_adapter.last_fetch_times_ms(inner)
            inner._subscription.subscription.assignment.state_value(tps[1]).timestamp = 1_234
            return before, assigned, faust_adapter.last_fetch_times_ms(inner)

    before, assigned, fetched = asyncio.run(stamps())
    assert before == []
    assert assigned == [None, None]
    assert sorted(fetched, key=lambda s: s or 0) == [None, 1_234]


def test_the_metadata_requests_go_through_aiokafka_s_client(consumer: BatchingConsumer) -> None:
    async def client_of_a_consumer() -> Any:
        async with unstarted_consumer() as inner:
            return inner._client

    assert isinstance(asyncio.run(client_of_a_consumer()), AIOKafkaClient)
    # force_metadata_update: a plain call returning a future that says whether it worked
    assert parameters(AIOKafkaClient.force_metadata_update) == ["self"]
    assert "return asyncio.shield(" in source_of(AIOKafkaClient.force_metadata_update)
    assert inspect.iscoroutinefunction(AIOKafkaClient.fetch_all_metadata)
    assert parameters(AIOKafkaClient.fetch_all_metadata) == ["self"]
    assert "ClusterMetadata(" in source_of(AIOKafkaClient.fetch_all_metadata)
    assert callable(ClusterMetadata.partitions_for_topic)
    # run on the consumer thread's loop, where the client lives
    assert parameters(consumer._thread.call_thread)[:1] == ["fun"]


# -- commits and transactions ----------------------------------------------------------------


def test_commit_wrapper_sees_faust_s_own_commits(consumer: BatchingConsumer) -> None:
    assert parameters(FaustConsumer.commit) == ["self", "topics", "start_new_transaction"]
    defaults = inspect.signature(FaustConsumer.commit).parameters
    assert defaults["topics"].default is None and defaults["start_new_transaction"].default is True
    # the commit timer: a call of self.commit() at each interval
    assert "await self.commit()" in source_of(FaustConsumer._commit_handler.fun)
    calls: list[tuple[Any, bool]] = []

    def wrap(commit: faust_adapter.CommitFn) -> faust_adapter.CommitFn:
        async def recorded(topics: Any = None, start_new_transaction: bool = True) -> Any:
            calls.append((topics, start_new_transaction))
            return False

        return recorded

    faust_adapter.install_commit_wrapper(consumer, wrap)

    async def faust_commits() -> None:
        await consumer.commit_and_end_transactions()  # before a rebalance or a stop
        await consumer.on_task_error(RuntimeError("agent failed"))

    consumer.loop.run_until_complete(faust_commits())
    assert calls == [(None, False), (None, True)]


def test_transactional_id_is_the_one_faust_commits_a_partition_s_offsets_under(
    worker: Worker, input_topic: str
) -> None:
    assert worker.settings.processing_guarantee == "exactly_once"
    assign(worker.app, input_topic, partition=3, group=1)
    transactions = worker.app.consumer.transactions
    assert isinstance(transactions, TransactionManager)
    ours = faust_adapter.transactional_id(worker.app, input_topic, 3)
    assert ours == f"{worker.app.conf.id}-1-3"
    assert transactions._tps_to_transactional_ids({TP(input_topic, 3)}) == {ours}
    # the commit of offsets and Faust's own sends build the same id inline
    assert 'f"{group_id}-{group}-{tp.partition}"' in source_of(TransactionManager.commit)
    assert 'f"{self.app.conf.id}-{group}-{p}"' in source_of(TransactionManager.send)
    # and the producer takes it for a record the worker sends itself
    assert "transactional_id" in parameters(Producer.send)


# -- the table's store -----------------------------------------------------------------------


def test_current_event_is_what_faust_s_current_event_returns() -> None:
    record = Record("in", 2)
    assert faust.streams.current_event() is None
    with faust_adapter.current_event(record):
        event = faust.streams.current_event()
        assert event is not None and event.message is record
    assert faust.streams.current_event() is None


def test_store_writes_land_in_the_current_event_s_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[int] = []

    def open_partition(store: HookedRocksStore, partition: int) -> Any:
        opened.append(partition)
        return HookedRocksStore.open_partition(store, partition)

    monkeypatch.setattr(CallStateStore, "open_partition", open_partition)
    table = create_worker(Settings(store="rocksdb", data_dir=tmp_path)).call_state
    store = table.data
    assert isinstance(store, CallStateStore) and isinstance(store, rocksdb.Store)
    with pytest.raises(AssertionError):  # no current event: Faust cannot tell the partition
        faust_adapter.store_put(table, b"call-1", b"{}")
    with faust_adapter.current_event(Record("in", 2)):
        faust_adapter.store_put(table, b"call-1", b'{"a": 1}')
    assert opened == [2]  # Faust opened partition 2's database through the hook
    assert store._db_for_partition(2)[b"call-1"] == b'{"a": 1}'
    with faust_adapter.current_event(Record("in", 2)):
        faust_adapter.store_delete(table, b"call-1")
        faust_adapter.store_delete(table, b"never-written")
    assert b"call-1" not in store._db_for_partition(2)
    assert parameters(rocksdb.Store._open_for_partition) == ["self", "partition"]
    assert "self._open_for_partition(partition)" in source_of(rocksdb.Store._db_for_partition)


# -- web -------------------------------------------------------------------------------------


def test_drop_faust_pages_edits_the_list_faust_mounts_from() -> None:
    app = faust.App("cf-adapter-pages", web_enabled=True)
    manager = app.web.blueprints
    assert isinstance(manager, BlueprintManager)
    before = list(manager._enabled)
    assert any(isinstance(bp, str) and bp.startswith(faust_adapter.FAUST_PAGES) for _, bp in before)
    faust_adapter.drop_faust_pages(app)
    assert manager._enabled == [
        (at, bp)
        for at, bp in before
        if not (isinstance(bp, str) and bp.startswith(faust_adapter.FAUST_PAGES))
    ]
    assert "for prefix, blueprint in self._enabled" in source_of(BlueprintManager.apply)


# -- the consumer and its thread -------------------------------------------------------------


def test_faust_creates_the_consumer_thread_through_the_hook(consumer: BatchingConsumer) -> None:
    assert isinstance(consumer._thread, CommittedEndsConsumerThread)  # made in Faust's __init__
    assert isinstance(consumer._new_consumer_thread(), CommittedEndsConsumerThread)


def test_recovery_reads_partition_ends_through_the_hook(
    consumer: BatchingConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Faust's highwaters(*partitions) runs _highwaters(partitions) on the thread
    assert "self._highwaters" in source_of(AIOKafkaConsumerThread.highwaters)
    assert parameters(AIOKafkaConsumerThread._highwaters) == ["self", "partitions"]
    assert "last_stable_offset" in source_of(AIOKafkaConsumerThread._highwaters)
    assert "end_offsets" in source_of(CommittedEndsConsumerThread.partition_ends)
    thread = consumer._thread
    tp = TP("changelog", 0)

    async def ends(partitions: list[TP]) -> Mapping[TP, int]:
        return dict.fromkeys(partitions, 42)

    monkeypatch.setattr(thread, "partition_ends", ends)
    assert asyncio.run(thread._highwaters([tp])) == {tp: 42}


def test_started_consumer_is_faust_s_ensured_consumer(consumer: BatchingConsumer) -> None:
    thread = consumer._thread
    assert isinstance(thread, CommittedEndsConsumerThread)
    with pytest.raises(ConsumerNotStarted):
        thread.started_consumer()

    async def started() -> None:
        async with unstarted_consumer() as inner:
            thread._consumer = inner
            assert thread.started_consumer() is inner

    asyncio.run(started())


def test_faust_s_fetcher_runs_the_drain_hook(
    consumer: BatchingConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "consumer._drain_messages(self)" in source_of(FaustFetcher._fetcher.fun)
    ran: list[Any] = []

    async def drain(fetcher: Any) -> None:
        ran.append(fetcher)

    monkeypatch.setattr(consumer, "drain_messages", drain)
    fetcher = mode.Service()
    consumer.loop.run_until_complete(consumer._drain_messages(fetcher))
    assert ran == [fetcher]


def test_faust_s_drain_loop_is_the_one_the_batching_loop_copies() -> None:
    digest = hashlib.sha256(source_of(FaustConsumer._drain_messages).encode()).hexdigest()
    assert digest == FAUST_DRAIN_LOOP_SHA256, (
        "Faust's drain loop changed: bring BatchingConsumer.drain_messages (streams/worker/fetch.py) "
        "in line with it, then update FAUST_DRAIN_LOOP_SHA256"
    )


def test_stop_requested_follows_mode_s_stop_of_either_service(consumer: BatchingConsumer) -> None:
    async def stopped_fetcher() -> mode.Service:
        fetcher = mode.Service()
        await fetcher.start()
        await fetcher.stop()
        return fetcher

    assert not consumer.stop_requested(mode.Service())
    assert consumer.stop_requested(asyncio.run(stopped_fetcher()))
    loop = source_of(FaustConsumer._drain_messages)
    assert "cast(Service, self)._stopped.is_set" in loop
    assert "cast(Service, fetcher)._stopped.is_set" in loop


def test_next_records_is_one_fetch_of_the_active_partitions(consumer: BatchingConsumer) -> None:
    assert parameters(FaustConsumer._wait_next_records) == ["self", "timeout"]
    assert "self._getmany(" in source_of(FaustConsumer._wait_next_records)
    # nothing assigned: no fetch, and no active partition
    records, active = consumer.loop.run_until_complete(consumer.next_records(0.01))
    assert records == {} and active == set()


def test_buffered_partitions_are_taken_as_faust_s_loop_takes_them(consumer: BatchingConsumer) -> None:
    tp, other = TP("in", 0), TP("in", 1)
    assert consumer.takes_records_of(tp, None)
    assert consumer.takes_records_of(tp, {tp}) and not consumer.takes_records_of(other, {tp})
    assert isinstance(consumer._buffered_partitions, set)
    consumer._buffered_partitions.add(other)
    assert consumer.takes_records_of(other, {tp})


def test_read_offsets_and_gaps_are_the_ones_faust_s_commit_uses(consumer: BatchingConsumer) -> None:
    tp = TP("in", 5)
    consumer._committed_offset[tp] = 4
    consumer.mark_read(tp, 7)
    assert consumer._read_offset[tp] == 7
    fresh = asyncio.run(consumer.unread_records(tp, [consumer_record("in", 5, o) for o in (6, 7, 10)], True))
    assert [r.offset for r in fresh] == [7, 10]  # 6 was read already; 8, 9 are a gap
    consumer.ack_offsets(tp, [4, 5, 6, 7, 10])
    # Faust's own choice of the offset to commit: past the gap, after the last acknowledged
    assert consumer._new_offset(tp) == 11


def test_to_message_is_faust_s_message_for_the_record(consumer: BatchingConsumer) -> None:
    message = consumer.to_message(TP("in", 3), consumer_record("in", 3, 17))
    assert (message.topic, message.partition, message.offset) == ("in", 3, 17)
    assert (message.key, message.value) == (b"k", b"v")


def test_commit_if_due_commits_after_faust_s_count_of_acknowledgements(
    consumer: BatchingConsumer, input_topic: str
) -> None:
    commits: list[bool] = []

    async def commit(topics: Any = None, start_new_transaction: bool = True) -> bool:
        commits.append(start_new_transaction)
        return True

    consumer.commit = commit  # type: ignore[method-assign]
    consumer._commit_every = 3
    tp = TP(input_topic, 0)
    consumer.ack_offsets(tp, [0, 1])
    asyncio.run(consumer.commit_if_due())
    assert commits == []
    consumer.ack_offsets(tp, [2])
    asyncio.run(consumer.commit_if_due())
    assert commits == [True] and consumer._n_acked == 0
    assert "self._n_acked >= commit_every" in source_of(FaustConsumer._drain_messages)


def test_is_changelog_knows_the_call_state_changelog(worker: Worker, consumer: BatchingConsumer) -> None:
    changelog = worker.call_state.changelog_topic.get_topic_name()
    assert consumer.is_changelog(TP(changelog, 0))
    assert not consumer.is_changelog(TP(worker.settings.topic("call-events"), 0))


# -- public names the worker relies on that Faust's own types do not declare ------------------


def test_the_untyped_public_names_the_worker_uses_are_there(worker: Worker) -> None:
    app = worker.app
    assert parameters(faust.Stream.take_events) == ["self", "max_", "within"]
    assert app.rebalancing is False and app.consumer_generation_id == 0
    recovery = app.tables.recovery
    assert isinstance(recovery, Recovery) and not recovery.completed.is_set()
    assert app.assignor.assigned_actives() == set()
    # Faust's documented way to write a codec is to implement _dumps and _loads
    assert "._dumps(obj)" in source_of(codecs.Codec.dumps) and "._loads(s)" in source_of(codecs.Codec.loads)
