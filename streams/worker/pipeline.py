"""Faust agents: input events -> per-call state -> snapshots, summaries, dead letters.

Events are taken in batches: each fetch of the input topic at once, handed over below
Faust's per-message path by :class:`streams.worker.fetch.BatchingConsumer` (or, with
``input_batches`` off, Faust's agent stream). Everything a batch causes goes out through the
transactional producer of the *source* partition of the event that caused it: the
metrics snapshots and summaries and the dead letters. A call's state goes to the table
and its changelog once per commit interval, just before the offset commit, however many
events changed it (Faust's table write per event is the costly part of its usual
pattern). Batches and commits take one lock, so under ``exactly_once`` a commit never
splits a batch: outputs, state and source offsets of a partition commit in one
transaction, or not at all. See docs/pipeline.md for the Faust behaviour this works
around (verified against a real broker with SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import faust
import faust.streams
import orjson
from faust.types import TP, StreamT

from streams.engine.nudges import Nudge, masked_snippet
from streams.errors import InvalidEventError
from streams.wire.events import CallEnded, event_to_record
from streams.worker import gc_policy
from streams.worker.app import (
    app,
    codec,
    engine_config,
    live_calls,
    pipeline_metrics,
    processor,
    registry,
    settings,
)
from streams.worker.calls import EndedCall, ForgottenCall, LiveCall, LostCall, read_durable
from streams.worker.exporter import ConsumerLagCollector
from streams.worker.fetch import BatchingConsumer, FetchedBatch
from streams.worker.gc_policy import LongLivedObjects
from streams.worker.outputs import metrics_record, nudge_record, summary_record
from streams.worker.webhook import NudgeWebhook

log = logging.getLogger(__name__)

EXACTLY_ONCE = settings.processing_guarantee == "exactly_once"
call_events = app.topic(settings.topic("call-events"), key_serializer="raw", value_serializer="raw")
METRICS_TOPIC = settings.topic("call-metrics")
SUMMARIES_TOPIC = settings.topic("call-summaries")
DEAD_LETTER_TOPIC = settings.topic("call-events.dlq")
NUDGES_TOPIC = settings.topic("nudges")

# The durable per-call state: key = call_id (the input key), value = LiveCall.to_bytes().
# Ended calls are deleted once their summary is out.
call_state = app.Table(
    "call-state",
    key_type=bytes,  # bytes key and value: Faust (de)serialises them "raw"
    value_type=bytes,
    partitions=settings.topic_partitions,
    help="Per-call metric engine state (changelog-backed).",
    # a state record as large as any other callfocus record (settings.max_record_bytes)
    extra_topic_configs={"max.message.bytes": str(settings.topic_max_message_bytes)},
)
# Faust's periodic offset commit takes this lock too (installed at start-up): a commit
# then never falls between a batch's outputs and its acknowledgements, and the states it
# writes hold exactly the events whose offsets it commits.
batch_lock = asyncio.Lock()
# The input offset last processed per partition (for the consumer lag gauge).
processed_offsets: dict[int, int] = {}
nudge_webhook = (
    NudgeWebhook(
        settings.nudge_webhook_url,
        pipeline_metrics.nudge_webhook_failures,
        timeout_seconds=settings.nudge_webhook_timeout_seconds,
        retries=settings.nudge_webhook_retries,
    )
    if settings.nudge_webhook_url
    else None
)


class InputRecord(Protocol):
    """An input record as the pipeline reads it: aiokafka's ``ConsumerRecord`` (fetched
    batches) and Faust's ``Message`` (its agent stream) both are one."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


def read_state(call_id: str, raw: bytes) -> LiveCall | EndedCall | LostCall:
    """A call from its durable state (or the marker of its end); a :class:`LostCall`,
    counted and logged, if the state cannot be read (written by an incompatible version, or
    damaged): one call starting again is better than a worker that crashes at every start."""
    try:
        return read_durable(call_id, raw, engine_config)
    except Exception as error:
        pipeline_metrics.unreadable_states.inc()
        log.error("call %s: unreadable state in the call-state table (%r); it starts again", call_id, error)
        return LostCall(call_id)


def _load_call(call_id: str) -> LiveCall | EndedCall | LostCall | None:
    raw = call_state.get(call_id.encode())
    return read_state(call_id, raw) if raw else None


live_calls.load = _load_call


def tune_fetches() -> None:
    """Make the broker hold a fetch of this worker at most ``fetch_max_wait_seconds``, and
    answer it early only once it has ``fetch_min_bytes``.

    Faust creates its consumer with ``fetch_max_wait_ms=1500`` and also assigns it
    partitions it does not read from (its ``__assignor-__leader`` topic, the changelogs
    of the tables it owns). While the input partitions still hold records the agent has
    not taken, aiokafka sends a fetch for those other partitions alone; having no data,
    the broker holds it for the whole wait, and aiokafka sends no other fetch to that
    broker meanwhile. Under load the input then arrived in bursts 1-1.5 s late: at 1,000
    live segments/s the worker, 40 % busy, fell seconds behind (docs/pipeline.md).

    With aiokafka's ``fetch_min_bytes=1`` the broker answered each fetch with the few
    records that had come since the last: at 5,000 live segments/s the worker's CPU was
    0.59-0.62 of a core, and 0.47 with fetches that wait for 64 KiB or the wait (the
    broker's 0.24-0.25 fell to 0.22; probe, two runs each; docs/pipeline.md).
    """
    thread = getattr(app.consumer, "_thread", None)
    consumer = getattr(thread, "_consumer", None)
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not all(hasattr(fetcher, a) for a in ("_fetch_max_wait_ms", "_fetch_min_bytes")):
        log.warning("cannot tune the consumer's fetches (Faust/aiokafka internals changed)")
        return
    fetcher._fetch_max_wait_ms = int(settings.fetch_max_wait_seconds * 1000)
    fetcher._fetch_min_bytes = settings.fetch_min_bytes


class CommitOverlap:
    """Fetched batches that ran while a commit wrote its states and committed.

    A commit takes the state of every changed call at once, between two batches, then
    spends most of its time on the broker: the state records, the offsets, the
    transactions. Batches go on meanwhile (the input waited for all of it: a 5,000
    segments/s probe spent up to 280 ms per commit), but none of their changes is in the
    states the commit writes, so their outputs and acknowledgements wait here and follow
    the commit, in the next transaction: the commit holds exactly the batches before it.
    Nudges go out at once, outside any transaction, as always.
    """

    def __init__(self) -> None:
        self.running = False
        self.waiting: list[tuple[FetchedBatch, list[Output], set[str]]] = []

    async def release(self) -> None:
        """Send what the waiting batches caused and acknowledge them; the caller holds
        ``batch_lock``. A batch from before a rebalance is not sent: its records come again
        after the seek to the committed offsets, so its calls are forgotten here and start
        again from their committed state (the table)."""
        consumer = app.consumer
        waiting, self.waiting, self.running = self.waiting, [], False
        for fetched, outputs, call_ids in waiting:
            if fetched.generation != app.consumer_generation_id or not isinstance(consumer, BatchingConsumer):
                pipeline_metrics.input_batches.labels("dropped").inc()
                for call_id in call_ids:
                    live_calls.forget(call_id)
                continue
            await send_outputs(outputs)
            consumer.ack_batch(fetched)
            pipeline_metrics.input_batches.labels("processed").inc()


commit_overlap = CommitOverlap()
# Once a call's state could not be written, no later commit may move the offsets past the
# events that made it: the worker stops (Faust crashes the consumer) and starts again from
# the last commit.
failed_state_write: StateWriteError | None = None
# one commit at a time: Faust's own guard returns to a second caller only when the
# first is done, and the batches waiting on the first must be sent before that
commit_lock = asyncio.Lock()


@app.task
async def serialise_commits_with_batches() -> None:
    consumer = app.consumer
    commit = consumer.commit

    async def commit_between_batches(topics: Any = None, start_new_transaction: bool = True) -> Any:
        # batches run during the commit only if it opens the next transaction for their
        # outputs (not the last commit before a rebalance or a stop)
        overlap = start_new_transaction and isinstance(consumer, BatchingConsumer)
        async with commit_lock:
            if failed_state_write is not None:  # e.g. the commit Faust makes as it stops
                raise failed_state_write
            await batch_lock.acquire()
            began = time.monotonic()
            try:
                live_calls.unwritten.begin()
                if overlap:
                    commit_overlap.running = True
                    batch_lock.release()
                await write_states()
                return await commit(topics, start_new_transaction=start_new_transaction)
            finally:
                pipeline_metrics.commit_duration.observe(time.monotonic() - began)
                if commit_overlap.running:
                    async with batch_lock:
                        await commit_overlap.release()
                else:
                    batch_lock.release()

    consumer.commit = commit_between_batches  # type: ignore[method-assign]


class _SourceEvent:
    """What Faust's stores read of the current event: its ``message``'s partition."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: InputRecord) -> None:
        self.message = message


@contextlib.contextmanager
def as_current(record: InputRecord) -> Iterator[None]:
    """Make ``record`` Faust's current event (private ContextVar): the table's store picks
    the partition of a write from it, and in a batch there is none."""
    event = _SourceEvent(record)
    token = faust.streams._current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)


def _transaction_of(source: InputRecord | None) -> str | None:
    """The transactional id under which Faust commits ``source``'s offset (none for
    records without a source record)."""
    if not EXACTLY_ONCE or source is None:
        return None
    return f"{app.conf.id}-{app.assignor.group_for_topic(source.topic)}-{source.partition}"


async def _produce(
    output: str,
    source: InputRecord | None,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    partition: int | None = None,
    headers: dict[str, bytes] | None = None,
) -> None:
    """Send one record in the transaction of ``source``'s partition, or outside any
    transaction without a source (timers and nudges have no source partition whose
    transaction would commit them).

    Faust's own topic.send would send records for topics this app does not consume
    outside any transaction; the producer is called with the transaction explicitly.
    """
    try:
        await app.producer.send(
            topic, key, value, partition, None, headers, transactional_id=_transaction_of(source)
        )
    except Exception:  # the worker must never stop on output errors: count, log, go on
        pipeline_metrics.output_errors.labels(output).inc()
        log.exception("could not write to %s", topic)
    else:
        pipeline_metrics.produced_by_output[output].inc()


def _now_ms() -> int:
    return int(time.time() * 1000)


async def send_nudge(call: LiveCall, nudge: Nudge) -> None:
    """Out at once, outside any transaction: a supervisor needs it within a second, not at the
    next commit. At-least-once: a crash before the commit can raise a nudge again."""
    snippet = masked_snippet(call.last_text) if settings.nudge_snippets and call.last_text else None
    record = nudge_record(call, nudge, _now_ms(), snippet)
    await _produce("nudges", None, NUDGES_TOPIC, call.call_id.encode(), codec.encode("Nudge", record))
    if nudge_webhook is not None:
        nudge_webhook.offer(record)


# States written between two looks at the event loop: batches that run meanwhile (during
# the commit, CommitOverlap) wait for a slice, not for every changed call's state.
STATES_PER_SLICE = 100
# Fetched batches that go before the next slice when they wait: the input first, and a
# commit still gets a slice in every few batches under a backlog.
BATCHES_BEFORE_A_SLICE = 4


async def let_input_first() -> None:
    """Between two slices of a commit that batches run during (CommitOverlap): yield, and
    yield again while fetched batches wait, up to ``BATCHES_BEFORE_A_SLICE`` times.

    At 5,000 live segments/s the input needs most of the worker's time, and a commit's
    2,500 states (140-410 ms of writing) took turns with it slice by slice; the latencies
    above 250 ms all fell in commits (docs/pipeline.md). With batches ahead of the
    slices, a waiting batch does not wait for the commit's writing; the commit takes
    longer instead, and only its outputs wait for it.
    """
    await asyncio.sleep(0)
    consumer = app.consumer
    if not (commit_overlap.running and isinstance(consumer, BatchingConsumer)):
        return
    for _ in range(BATCHES_BEFORE_A_SLICE):
        if not consumer.batches.qsize():
            return
        await asyncio.sleep(0)


class StateWriteError(RuntimeError):
    """A call's state could not be written: the commit fails, so its input offsets are not
    committed and the events that made the state are read again after the restart."""


async def write_states() -> None:
    """Write the states of the commit that has begun (``UnwrittenStates``): each as JSON
    in the table's store, and its changelog record in its partition's transaction. Raises
    :class:`StateWriteError`, before the offsets commit, if one cannot be written whole;
    every later commit then raises it too."""
    global failed_state_write
    try:
        await _write_states()
    except StateWriteError as error:
        failed_state_write = error
        pipeline_metrics.output_errors.labels("state").inc()
        log.error("%s: no offsets are committed from now on; the worker stops", error)
        raise


async def _write_states() -> None:
    changelog = call_state.changelog_topic.get_topic_name()
    deliveries = []
    while states := live_calls.unwritten.take(STATES_PER_SLICE):
        for key, data, source in states:
            value = None if data is None else orjson.dumps(data)
            if (
                value is not None
                and len(key) + len(value) > settings.max_record_bytes - RECORD_OVERHEAD_BYTES
            ):
                raise StateWriteError(
                    f"call {key.decode()}: state of {len(value)} bytes is over the record limit"
                )
            with as_current(source):
                if value is None:
                    call_state.data.pop(key, None)
                else:
                    call_state.data[key] = value
            try:
                deliveries.append(
                    await app.producer.send(
                        changelog,
                        key,
                        value,
                        source.partition,
                        None,
                        None,
                        transactional_id=_transaction_of(source),
                    )
                )
            except Exception as error:
                raise StateWriteError(f"call {key.decode()}: {error!r}") from error
        await let_input_first()
    for delivery in deliveries:  # the broker took every state, or the commit fails
        try:
            await delivery
        except Exception as error:
            raise StateWriteError(f"a state record was refused: {error!r}") from error
    pipeline_metrics.produced_by_output["state"].inc(len(deliveries))


class PartitionSource:
    """The input partition a change without an input record belongs to (an end marker's
    deletion): its transaction carries the write."""

    __slots__ = ("partition", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition


Output = tuple[str, InputRecord, str, bytes | None, bytes | None, int | None, dict[str, bytes] | None]
# Room a record's batch framing and headers take beyond its key and value.
RECORD_OVERHEAD_BYTES = 1024


def dead_letter(record: InputRecord, error: InvalidEventError) -> Output:
    headers = {
        "error.reason": error.reason.encode(),
        "error.detail": error.detail.encode("utf-8", "replace")[:1024],
        "source.topic": record.topic.encode(),
        "source.partition": str(record.partition).encode(),
        "source.offset": str(record.offset).encode(),
    }
    value = record.value
    room = settings.max_record_bytes - RECORD_OVERHEAD_BYTES - len(record.key or b"")
    if value is not None and len(value) > room:
        # kept whole, the copy would not fit a record: cut, with what identifies the original
        headers["original.size"] = str(len(value)).encode()
        headers["original.sha256"] = hashlib.sha256(value).hexdigest().encode()
        value = value[: max(room, 0)]
        pipeline_metrics.dead_letters_truncated.inc()
    # explicit partition: a message without a key still lands in its source partition
    return ("dead_letters", record, DEAD_LETTER_TOPIC, record.key, value, record.partition, headers)


def snapshot_value(call: LiveCall) -> bytes:
    """The call's ``CallMetrics`` snapshot now; the next is due a snapshot interval later."""
    call.snapshot_pending = False
    call.last_snapshot_monotonic = time.monotonic()
    return codec.encode("CallMetrics", metrics_record(call, call.state.metrics(), _now_ms()))


def snapshot(call: LiveCall, source: InputRecord) -> Output:
    return ("metrics", source, METRICS_TOPIC, call.call_id.encode(), snapshot_value(call), None, None)


def apply_batch(
    batch: Sequence[InputRecord],
) -> tuple[list[Output], list[tuple[LiveCall, Nudge]], set[str]]:
    """Apply a batch to the engine; returns its transactional outputs, its nudges and the
    calls it changed (no Kafka here: the caller sends them)."""
    outputs: list[Output] = []
    batch_calls: dict[str, tuple[LiveCall, InputRecord]] = {}
    for record in batch:
        processed_offsets[record.partition] = record.offset
        result = processor.process_record(record.key, record.value, record.partition)
        if result.error is not None:
            outputs.append(dead_letter(record, result.error))
            continue
        call = result.call
        if call is None:
            continue
        batch_calls[call.call_id] = (call, record)
        if result.ended_now:
            try:
                outputs.append(snapshot(call, record))
                summary = codec.encode(
                    "CallSummary", summary_record(call, call.state.metrics(), call.nudges.fired)
                )
            except Exception:  # the call has ended all the same: counted and logged
                pipeline_metrics.output_errors.labels("summaries").inc()
                log.exception("call %s: its summary could not be made", call.call_id)
                continue
            outputs.append(("summaries", record, SUMMARIES_TOPIC, call.call_id.encode(), summary, None, None))
    # once per changed call per batch, not per event: reading a call's metrics is the
    # costly part of a snapshot and of a nudge check
    nudges: list[tuple[LiveCall, Nudge]] = []
    snapshots_due = time.monotonic() - settings.snapshot_interval_seconds
    for call, record in batch_calls.values():
        # the next commit writes the call, in the transaction of the record that last changed it
        live_calls.unwritten.changed(call, record)
        if call.ended_monotonic is not None:
            continue
        try:
            call.state.make_new_rows()
            snapshot_due = call.snapshot_pending and call.last_snapshot_monotonic <= snapshots_due
            if snapshot_due:
                outputs.append(snapshot(call, record))
            # nudges off: the processor has no rules, and no check waits
            nudges += [(call, n) for n in processor.nudges(call, _nudge_interval_after(snapshot_due))]
        except Exception:  # a call's outputs fail, not the batch: its events are applied
            pipeline_metrics.output_errors.labels("metrics").inc()
            log.exception("call %s: its snapshot or nudge check failed", call.call_id)
    return outputs, nudges, set(batch_calls)


def _nudge_interval_after(snapshot_taken: bool) -> float:
    """A snapshot has just read the call's metrics: the nudge check that follows it reuses
    them, whatever the interval. Checks then ride on snapshots, and a call changing all the
    time has its metrics read twice a second, not three times (snapshot_interval 1 s,
    nudge_interval 0.5 s), at 10-25 µs a read."""
    return 0.0 if snapshot_taken else settings.nudge_interval_seconds


async def apply_batch_send_nudges(batch: Sequence[InputRecord]) -> tuple[list[Output], set[str]]:
    """Apply a batch and send its nudges at once; returns its other outputs, for the caller
    (who holds ``batch_lock``) to send, and the calls it changed."""
    outputs, nudges, call_ids = apply_batch(batch)
    for call, nudge in nudges:
        await send_nudge(call, nudge)
    return outputs, call_ids


async def send_outputs(outputs: list[Output]) -> None:
    for output in outputs:
        await _produce(*output)


@app.agent(call_events)
async def process_call_events(stream: StreamT[bytes]) -> None:
    """The input as Faust's stream delivers it, event by event: with ``input_batches`` on,
    the worker's input arrives as fetched batches instead (:func:`process_fetched_batches`);
    this agent still declares the input topic to Faust (subscription, acknowledgements,
    co-partitioning with the table) and serves ``test_context``."""
    async for events in stream.take_events(  # type: ignore[attr-defined]
        settings.batch_max_events, within=settings.batch_max_wait_seconds
    ):
        async with batch_lock:
            outputs, _ = await apply_batch_send_nudges([event.message for event in events])
            await send_outputs(outputs)
            for event in events:  # acknowledged before the lock lets a commit in
                await stream.ack(event)


@app.task
async def process_fetched_batches() -> None:
    """The input, one fetch at a time (streams.worker.fetch): a batch fetched before the latest
    rebalance is dropped unacknowledged, since Faust seeks back to the committed offsets
    and its records come again, to this worker or the partition's new owner."""
    consumer = app.consumer
    if not isinstance(consumer, BatchingConsumer):
        return
    while True:
        fetched = await consumer.batches.get()
        async with batch_lock:
            if app.rebalancing or fetched.generation != app.consumer_generation_id:
                pipeline_metrics.input_batches.labels("dropped").inc()
                continue
            records = [r for records in fetched.records.values() for r in records]
            outputs, call_ids = await apply_batch_send_nudges(records)
            if commit_overlap.running:  # sent and acknowledged after the commit
                commit_overlap.waiting.append((fetched, outputs, call_ids))
                pipeline_metrics.batches_during_commit.inc()
                continue
            await send_outputs(outputs)
            consumer.ack_batch(fetched)  # before the lock lets a commit in
        pipeline_metrics.input_batches.labels("processed").inc()


@app.on_partitions_assigned.connect  # type: ignore[arg-type]
async def tune_fetches_for_recovery(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
    """Before table recovery, not only after it: each of recovery's requests to the consumer
    waited for the fetch under way, held by the broker for Faust's 1.5 s fetch wait (five
    such waits, 7.5 s of the 10.4 s a worker of a chaos run took to be ready)."""
    tune_fetches()


@app.on_rebalance_complete.connect  # type: ignore[arg-type]
async def load_assigned_calls(sender: Any, **kwargs: Any) -> None:
    """After recovery, export the calls of newly assigned partitions before their next event."""
    tune_fetches()  # the consumer exists by now, and may have been recreated
    topic = call_events.get_topic_name()
    active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    loaded = 0
    for key, raw in list(call_state.items()):
        call_id = key.decode()
        if raw and live_calls.get(call_id) is None:
            call = read_state(call_id, raw)
            if isinstance(call, LostCall) or call.partition not in active:
                continue
            if isinstance(call, EndedCall):
                live_calls.remember_ended(call)
            else:
                live_calls.add(call)
                loaded += 1
    if loaded:
        log.info("rebalance complete: %d live calls loaded from the call-state table", loaded)


# The timer lets the input in every so many calls: with 2,000 live calls it ran for up to
# 0.3 s (the nudge checks that waited for their interval), holding every batch back.
CALLS_PER_TIMER_SLICE = 200


@app.timer(interval=0.25)
async def flush_pending_outputs() -> None:
    """The last change of a call that then went quiet still gets its snapshot, and a change
    whose nudge check waited for the interval gets it.

    A timer's record has no source partition whose transaction would commit it, so it
    goes out through the plain producer, in both modes. Snapshots are observations of a
    call's latest state, not counted results: if the change they show is rolled back by
    a crash, the replayed events produce the same state and a newer snapshot.
    """
    now = time.monotonic()
    due = now - settings.snapshot_interval_seconds
    for checked, call in enumerate(live_calls.pending(), 1):
        if checked % CALLS_PER_TIMER_SLICE == 0:
            await asyncio.sleep(0)
        if call.ended_monotonic is not None:  # ended while the timer let the input in
            continue
        # a call still receiving events gets its snapshot from the next one
        quiet = call.last_event_monotonic <= due and call.last_snapshot_monotonic <= due
        snapshot_due = call.snapshot_pending and quiet
        if snapshot_due:
            await _produce("metrics", None, METRICS_TOPIC, call.call_id.encode(), snapshot_value(call))
        for nudge in processor.nudges(call, _nudge_interval_after(snapshot_due)):
            await send_nudge(call, nudge)


@app.timer(interval=5.0)
async def end_idle_calls() -> None:
    """A call silent for idle_timeout ends: a CallEnded(timeout) goes through the input topic,
    so it is processed (and summarised) in its partition like any other event."""
    for call in processor.idle_calls(settings.idle_timeout_seconds):
        name, record = event_to_record(CallEnded(call.call_id, _now_ms(), reason="timeout"))
        value = codec.encode(name, record)
        await _produce("idle_call_ends", None, call_events.get_topic_name(), call.call_id.encode(), value)
        call.last_event_monotonic = time.monotonic()  # do not send it twice while it travels


long_lived_objects = (
    LongLivedObjects(settings.gc_full_collection_seconds) if settings.gc_full_collection_seconds else None
)


@app.task
async def apply_gc_policy() -> None:
    gc_policy.apply(settings.gc_automatic_collections, settings.gc_young_collection_objects)


@app.timer(interval=LongLivedObjects.FREEZE_INTERVAL_SECONDS)
async def freeze_long_lived_objects() -> None:
    if long_lived_objects is not None:
        long_lived_objects.tick()


@app.timer(interval=1.0)
async def forget_ended_calls() -> None:
    live_calls.drop_ended(time.monotonic() - settings.export_grace_seconds)
    # teams and queues without calls for the grace period: their series go, their slot frees
    pipeline_metrics.expire_labels(live_calls)


@app.timer(interval=30.0)
async def forget_old_ends() -> None:
    """An ended call's marker goes ``ended_call_memory_seconds`` after its end: the next
    commit deletes it, in the transaction of its partition (if this worker still owns it)."""
    topic = call_events.get_topic_name()
    active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    for ended in live_calls.expire_ended(_now_ms() - int(settings.ended_call_memory_seconds * 1000)):
        if ended.partition in active:
            live_calls.unwritten.changed(
                ForgottenCall(ended.call_id), PartitionSource(topic, ended.partition)
            )


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def forget_revoked_calls(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
    topic = call_events.get_topic_name()
    dropped = live_calls.drop_partitions({tp.partition for tp in revoked if tp.topic == topic})
    if dropped:
        log.info("partitions revoked: no longer exporting %d calls", dropped)


@app.task
async def deliver_webhook_nudges() -> None:
    if nudge_webhook is not None:
        await nudge_webhook.run()


def input_lag() -> dict[tuple[str, int], int]:
    """Records not yet processed in each assigned input partition this worker has read from."""
    topic = call_events.get_topic_name()
    lag = {}
    for tp in app.assignor.assigned_actives():
        if tp.topic == topic and tp.partition in processed_offsets:
            lag[(topic, tp.partition)] = max(
                0, app.consumer.highwater(tp) - processed_offsets[tp.partition] - 1
            )
    return lag


registry.register(ConsumerLagCollector(input_lag))


class PipelineSensor(faust.Sensor):
    """Faust's rebalances, in callfocus' own Prometheus name."""

    def on_rebalance_start(self, app: faust.types.AppT) -> dict:
        pipeline_metrics.rebalances.inc()
        return super().on_rebalance_start(app)


app.sensors.add(PipelineSensor())
