"""The worker's Faust agents, tasks and timers: they feed the batch applier and the commits.

Events are taken in batches: each fetch of the input topic at once, handed over below
Faust's per-message path by :class:`streams.worker.fetch.BatchingConsumer` (or, with
``input_batches`` off, Faust's agent stream). Everything a batch causes goes out through
the transactional producer of the *source* partition of the event that caused it: the
metrics snapshots and summaries and the dead letters. A call's state goes to the table
and its changelog once per commit, just before the offset commit
(:mod:`streams.worker.commits`). See docs/pipeline.md for the Faust behaviour this works
around (verified against a real broker with SIGKILL).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any

import faust
from faust.types import TP, StreamT

from streams.coaching.cells import is_cell
from streams.engine.config import EngineConfig
from streams.settings import Settings
from streams.wire.codec import AvroCodec
from streams.worker import faust_adapter, gc_policy
from streams.worker.batches import BatchApplier, InputRecord, Output
from streams.worker.calls import (
    CallProcessor,
    EndedCall,
    ForgottenCall,
    LiveCall,
    LiveCalls,
    LostCall,
    exported_labels,
    read_durable,
)
from streams.worker.commits import CommitProtocol
from streams.worker.exporter import ConsumerLagCollector, PipelineMetrics
from streams.worker.fetch import BatchingConsumer, FetchedBatch
from streams.worker.gc_policy import LongLivedObjects
from streams.worker.scorecard_cells import ScorecardCells
from streams.worker.webhook import NudgeWebhook

log = logging.getLogger(__name__)

# The timer lets the input in every so many calls: with 2,000 live calls it ran for up to
# 0.3 s (the nudge checks that waited for their interval), holding every batch back.
CALLS_PER_TIMER_SLICE = 200


class TableStateSink:
    """The call-state table as the commit protocol writes it: the store of the source's
    partition, and the changelog record in that partition's transaction."""

    def __init__(self, app: faust.App, table: Any, exactly_once: bool) -> None:
        self.app = app
        self.table = table
        self.exactly_once = exactly_once

    def store(self, key: bytes, value: bytes | None, source: Any) -> None:
        # the table's store picks the partition of a write from Faust's current event
        with faust_adapter.current_event(source):
            if value is None:
                faust_adapter.store_delete(self.table, key)
            else:
                faust_adapter.store_put(self.table, key, value)

    async def send(self, key: bytes, value: bytes | None, source: Any) -> Awaitable[Any]:
        changelog = self.table.changelog_topic.get_topic_name()
        transaction = transaction_of(self.app, source) if self.exactly_once else None
        return await self.app.producer.send(
            changelog, key, value, source.partition, None, None, transactional_id=transaction
        )


class RoutedStateSink:
    """Calls' states to the call-state table, scorecard cells to the scorecard table: both
    written by the same commits, in the same transactions."""

    def __init__(self, calls: TableStateSink, scorecards: TableStateSink) -> None:
        self.calls = calls
        self.scorecards = scorecards

    def _sink(self, key: bytes) -> TableStateSink:
        return self.scorecards if is_cell(key) else self.calls

    def store(self, key: bytes, value: bytes | None, source: Any) -> None:
        self._sink(key).store(key, value, source)

    async def send(self, key: bytes, value: bytes | None, source: Any) -> Awaitable[Any]:
        return await self._sink(key).send(key, value, source)


class ConsumerBatchFeed:
    """The batching consumer's fetched batches, as the commit protocol sees them."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    def is_current(self, batch: FetchedBatch) -> bool:
        consumer = self.app.consumer
        return isinstance(consumer, BatchingConsumer) and batch.generation == self.app.consumer_generation_id

    def acknowledge(self, batch: FetchedBatch) -> None:
        consumer = self.app.consumer
        assert isinstance(consumer, BatchingConsumer)
        consumer.ack_batch(batch)

    def waiting(self) -> int:
        consumer = self.app.consumer
        return consumer.batches.qsize() if isinstance(consumer, BatchingConsumer) else 0


def transaction_of(app: faust.App, source: InputRecord) -> str:
    """The transactional id under which Faust commits ``source``'s offset."""
    return faust_adapter.transactional_id(app, source.topic, source.partition)


class PartitionSource:
    """The input partition a change without an input record belongs to (an end marker's
    deletion): its transaction carries the write."""

    __slots__ = ("partition", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition


class WorkerAgents:
    """Registers the worker's agents, tasks, timers and signal handlers on its Faust app."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        codec: AvroCodec,
        engine_config: EngineConfig,
        live_calls: LiveCalls,
        processor: CallProcessor,
        metrics: PipelineMetrics,
        call_state: Any,
        applier: BatchApplier,
        scorecard_table: Any,
        scorecards: ScorecardCells,
    ) -> None:
        self.app = app
        self.settings = settings
        self.codec = codec
        self.engine_config = engine_config
        self.live_calls = live_calls
        self.processor = processor
        self.metrics = metrics
        self.call_state = call_state
        self.applier = applier
        self.scorecard_table = scorecard_table
        self.scorecards = scorecards
        self.exactly_once = settings.processing_guarantee == "exactly_once"
        self.call_events = applier.topics.call_events
        self.call_events_topic = app.topic(self.call_events, key_serializer="raw", value_serializer="raw")
        self.commits = CommitProtocol(
            live_calls.unwritten,
            RoutedStateSink(
                TableStateSink(app, call_state, self.exactly_once),
                TableStateSink(app, scorecard_table, self.exactly_once),
            ),
            self.send_outputs,
            self.forget,
            metrics,
            max_record_bytes=settings.max_record_bytes,
            feed=ConsumerBatchFeed(app) if settings.input_batches else None,
            on_committed=scorecards.committed_states,
        )
        self.nudge_webhook = (
            NudgeWebhook(
                settings.nudge_webhook_url,
                metrics.nudge_webhook_failures,
                timeout_seconds=settings.nudge_webhook_timeout_seconds,
                retries=settings.nudge_webhook_retries,
            )
            if settings.nudge_webhook_url
            else None
        )
        self.long_lived_objects = (
            LongLivedObjects(settings.gc_full_collection_seconds)
            if settings.gc_full_collection_seconds
            else None
        )
        live_calls.load = self.load_call
        scorecards.load = self.load_cell
        scorecards.on_unreadable = metrics.unreadable_states.inc
        self.process_call_events = app.agent(self.call_events_topic, name="process_call_events")(
            self._process_call_events
        )
        for task in (
            self.serialise_commits_with_batches,
            self.process_fetched_batches,
            self.apply_gc_policy,
            self.deliver_webhook_nudges,
        ):
            app.task(task)
        for interval, timer in (
            (0.25, self.flush_pending_outputs),
            (5.0, self.end_idle_calls),
            (LongLivedObjects.FREEZE_INTERVAL_SECONDS, self.freeze_long_lived_objects),
            (1.0, self.forget_ended_calls),
            (30.0, self.forget_old_ends),
            (600.0, self.forget_old_scorecards),
        ):
            app.timer(interval=interval)(timer)
        app.on_partitions_assigned.connect(self.tune_fetches_for_recovery)  # type: ignore[arg-type]
        app.on_rebalance_complete.connect(self.load_assigned_calls)  # type: ignore[arg-type]
        app.on_partitions_revoked.connect(self.forget_revoked_calls)  # type: ignore[arg-type]
        app.sensors.add(RebalanceSensor(metrics))

    # -- reading states -------------------------------------------------------------------

    def read_state(self, call_id: str, raw: bytes) -> LiveCall | EndedCall | LostCall:
        """A call from its durable state (or the marker of its end); a :class:`LostCall`,
        counted and logged, if the state cannot be read (written by an incompatible version, or
        damaged): one call starting again is better than a worker that crashes at every start."""
        try:
            return read_durable(call_id, raw, self.engine_config)
        except Exception as error:
            self.metrics.unreadable_states.inc()
            log.error(
                "call %s: unreadable state in the call-state table (%r); it starts again", call_id, error
            )
            return LostCall(call_id)

    def load_call(self, call_id: str) -> LiveCall | EndedCall | LostCall | None:
        raw = self.call_state.get(call_id.encode())
        return self.read_state(call_id, raw) if raw else None

    def load_cell(self, key: str) -> bytes | None:
        raw: bytes | None = self.scorecard_table.get(key.encode())
        return raw

    def forget(self, key: str) -> None:
        """Forget a call's or a scorecard cell's changes not yet written (a dropped batch's):
        the next change reads it again from its table."""
        if is_cell(key):
            self.scorecards.forget(key)
        else:
            self.live_calls.forget(key)

    # -- sending ----------------------------------------------------------------------------

    async def produce(self, output: Output) -> None:
        """Send one record in the transaction of its source's partition, or outside any
        transaction without a source (timers and nudges have no source partition whose
        transaction would commit them).

        Faust's own topic.send would send records for topics this app does not consume
        outside any transaction; the producer is called with the transaction explicitly.
        """
        source = output.source
        transaction = transaction_of(self.app, source) if self.exactly_once and source is not None else None
        try:
            await self.app.producer.send(
                output.topic,
                output.key,
                output.value,
                output.partition,
                None,
                output.headers,
                transactional_id=transaction,
            )
        except Exception:  # the worker must never stop on output errors: count, log, go on
            self.metrics.output_errors.labels(output.kind).inc()
            log.exception("could not write to %s", output.topic)
        else:
            self.metrics.produced_by_output[output.kind].inc()

    async def send_outputs(self, outputs: list[Output]) -> None:
        for output in outputs:
            await self.produce(output)

    async def send_nudge(self, call: LiveCall, nudge: Any) -> None:
        """Out at once, outside any transaction. At-least-once: a crash before the commit can
        raise a nudge again."""
        output, record = self.applier.nudge(call, nudge)
        await self.produce(output)
        if self.nudge_webhook is not None:
            self.nudge_webhook.offer(record)

    async def apply_batch_send_nudges(self, batch: Sequence[InputRecord]) -> tuple[list[Output], set[str]]:
        """Apply a batch and send its nudges at once; returns its other outputs, for the caller
        (who holds the batch lock) to send, and the calls it changed."""
        applied = self.applier.apply(batch)
        for call, nudge in applied.nudges:
            await self.send_nudge(call, nudge)
        return applied.outputs, applied.call_ids

    # -- the input --------------------------------------------------------------------------

    async def _process_call_events(self, stream: StreamT[bytes]) -> None:
        """The input as Faust's stream delivers it, event by event: with ``input_batches`` on,
        the worker's input arrives as fetched batches instead (:meth:`process_fetched_batches`);
        this agent still declares the input topic to Faust (subscription, acknowledgements,
        co-partitioning with the table) and serves ``test_context``."""
        async for events in stream.take_events(  # type: ignore[attr-defined]
            self.settings.batch_max_events, within=self.settings.batch_max_wait_seconds
        ):
            async with self.commits.batch_lock:
                outputs, _ = await self.apply_batch_send_nudges([event.message for event in events])
                await self.send_outputs(outputs)
                for event in events:  # acknowledged before the lock lets a commit in
                    await stream.ack(event)

    async def process_fetched_batches(self) -> None:
        """The input, one fetch at a time (streams.worker.fetch): a batch fetched before the
        latest rebalance is dropped unacknowledged, since Faust seeks back to the committed
        offsets and its records come again, to this worker or the partition's new owner."""
        consumer = self.app.consumer
        if not isinstance(consumer, BatchingConsumer):
            return
        while True:
            fetched = await consumer.batches.get()
            async with self.commits.batch_lock:
                if self.app.rebalancing or fetched.generation != self.app.consumer_generation_id:
                    self.metrics.input_batches.labels("dropped").inc()
                    continue
                records = [r for records in fetched.records.values() for r in records]
                outputs, call_ids = await self.apply_batch_send_nudges(records)
                await self.commits.deliver(fetched, outputs, call_ids)  # before the lock lets a commit in

    async def serialise_commits_with_batches(self) -> None:
        faust_adapter.install_commit_wrapper(self.app.consumer, self.commits.wrap)

    # -- fetches and rebalances ---------------------------------------------------------------

    def tune_fetches(self) -> None:
        """Make the broker hold a fetch of this worker at most ``fetch_max_wait_seconds``, and
        answer it early only once it has ``fetch_min_bytes``.

        Faust creates its consumer with ``fetch_max_wait_ms=1500`` and also assigns it
        partitions it does not read from (its ``__assignor-__leader`` topic, the changelogs
        of the tables it owns). While the input partitions still hold records the agent has
        not taken, aiokafka sends a fetch for those other partitions alone; having no data,
        the broker holds it for the whole wait, and aiokafka sends no other fetch to that
        broker meanwhile: at 1,000 live segments/s the worker, 40 % busy, fell seconds
        behind. With ``fetch_min_bytes=1`` the broker answered each fetch with the few
        records that had come since the last: at 5,000 live segments/s the worker's CPU was
        0.59-0.62 of a core, and 0.47 with fetches that wait for 64 KiB or the wait.
        """
        faust_adapter.tune_fetcher(
            self.app,
            max_wait_seconds=self.settings.fetch_max_wait_seconds,
            min_bytes=self.settings.fetch_min_bytes,
        )

    async def tune_fetches_for_recovery(self, sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        """Before table recovery, not only after it: each of recovery's requests to the consumer
        waited for the fetch under way, held by the broker for Faust's 1.5 s fetch wait (five
        such waits, 7.5 s of the 10.4 s a worker of a chaos run took to be ready)."""
        self.tune_fetches()

    def active_input_partitions(self) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.call_events}

    async def load_assigned_calls(self, sender: Any, **kwargs: Any) -> None:
        """After recovery, export the calls of newly assigned partitions before their next event."""
        self.tune_fetches()  # the consumer exists by now, and may have been recreated
        active = self.active_input_partitions()
        loaded = 0
        for key, raw in list(self.call_state.items()):
            call_id = key.decode()
            if raw and self.live_calls.get(call_id) is None:
                call = self.read_state(call_id, raw)
                if isinstance(call, LostCall) or call.partition not in active:
                    continue
                if isinstance(call, EndedCall):
                    self.live_calls.remember_ended(call)
                else:
                    self.live_calls.add(call)
                    loaded += 1
        if loaded:
            log.info("rebalance complete: %d live calls loaded from the call-state table", loaded)
        cells = self.scorecards.load_partitions(list(self.scorecard_table.items()), active)
        if cells:
            log.info("rebalance complete: %d scorecard cells loaded from the scorecard table", cells)

    async def forget_revoked_calls(self, sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        dropped = self.live_calls.drop_partitions(
            {tp.partition for tp in revoked if tp.topic == self.call_events}
        )
        if dropped:
            log.info("partitions revoked: no longer exporting %d calls", dropped)
        self.scorecards.drop_partitions({tp.partition for tp in revoked if tp.topic == self.call_events})

    def input_lag(self) -> dict[tuple[str, int], int]:
        """Records not yet processed in each assigned input partition this worker has read from."""
        processed = self.applier.processed_offsets
        lag = {}
        for tp in self.app.assignor.assigned_actives():
            if tp.topic == self.call_events and tp.partition in processed:
                lag[(tp.topic, tp.partition)] = max(
                    0, self.app.consumer.highwater(tp) - processed[tp.partition] - 1
                )
        return lag

    def lag_collector(self) -> ConsumerLagCollector:
        return ConsumerLagCollector(self.input_lag)

    # -- timers -----------------------------------------------------------------------------

    async def flush_pending_outputs(self) -> None:
        """The last change of a call that then went quiet still gets its snapshot, and a change
        whose nudge check waited for the interval gets it (:meth:`BatchApplier.quiet_calls`)."""
        for checked, (call, snapshot, nudges) in enumerate(self.applier.quiet_calls(), 1):
            if snapshot is not None:
                await self.produce(snapshot)
            for nudge in nudges:
                await self.send_nudge(call, nudge)
            if checked % CALLS_PER_TIMER_SLICE == 0:
                await asyncio.sleep(0)

    async def end_idle_calls(self) -> None:
        """A call silent for idle_timeout ends: a CallEnded(timeout) goes through the input topic."""
        await self.send_outputs(self.applier.idle_call_ends(self.settings.idle_timeout_seconds))

    async def apply_gc_policy(self) -> None:
        gc_policy.apply(self.settings.gc_automatic_collections, self.settings.gc_young_collection_objects)

    async def freeze_long_lived_objects(self) -> None:
        if self.long_lived_objects is not None:
            self.long_lived_objects.tick()

    async def forget_ended_calls(self) -> None:
        self.live_calls.drop_ended(time.monotonic() - self.settings.export_grace_seconds)
        # teams and queues without calls for the grace period: their series go, their slot frees
        self.metrics.expire_labels(exported_labels(call) for call in self.live_calls)

    async def forget_old_ends(self) -> None:
        """An ended call's marker goes ``ended_call_memory_seconds`` after its end: the next
        commit deletes it, in the transaction of its partition (if this worker still owns it)."""
        active = self.active_input_partitions()
        memory_ms = int(self.settings.ended_call_memory_seconds * 1000)
        for ended in self.live_calls.expire_ended(self.applier.wall_clock_ms() - memory_ms):
            if ended.partition in active:
                source = PartitionSource(self.call_events, ended.partition)
                self.live_calls.unwritten.changed(ForgottenCall(ended.call_id), source)

    async def forget_old_scorecards(self) -> None:
        """Cells past ``scorecard_days`` are deleted by the next commit, in the transaction of
        their partition."""
        now_ms = self.applier.wall_clock_ms()
        for deletion, partition in self.scorecards.expire(now_ms, self.settings.scorecard_days):
            source = PartitionSource(self.call_events, partition)
            self.live_calls.unwritten.changed(deletion, source)

    async def deliver_webhook_nudges(self) -> None:
        if self.nudge_webhook is not None:
            await self.nudge_webhook.run()


class RebalanceSensor(faust.Sensor):
    """Faust's rebalances, in callfocus' own Prometheus name."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        super().__init__()
        self.metrics = metrics

    def on_rebalance_start(self, app: faust.types.AppT) -> dict:
        self.metrics.rebalances.inc()
        return super().on_rebalance_start(app)
