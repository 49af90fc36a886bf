"""Faust agents: input events -> per-call state -> snapshots, summaries, dead letters.

Events are taken in batches. Each call changed by a batch is written to the durable
``call-state`` table once per batch (not once per event: Faust's table write per event
is the costly part), before the batch's events are acknowledged, so under
``exactly_once`` the changelog records, the outputs and the source offsets commit in
one transaction per partition.
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import Iterator
from typing import Any

import faust.streams
from faust.types import TP, EventT, StreamT

from streams.app import app, codec, engine_config, live_calls, pipeline_metrics, processor, settings
from streams.calls import LiveCall
from streams.errors import InvalidEventError
from streams.events import CallEnded, event_to_record
from streams.outputs import metrics_record, summary_record

log = logging.getLogger(__name__)

call_events = app.topic(settings.topic("call-events"), key_serializer="raw", value_serializer="raw")
dead_letters = app.topic(settings.topic("call-events.dlq"), key_serializer="raw", value_serializer="raw")
call_metrics = app.topic(
    settings.topic("call-metrics"), key_serializer="raw", value_serializer="callfocus.CallMetrics"
)
call_summaries = app.topic(
    settings.topic("call-summaries"), key_serializer="raw", value_serializer="callfocus.CallSummary"
)


# The durable per-call state: key = call_id (the input key, so the changelog partition is
# the source partition), value = LiveCall.to_bytes(). Ended calls are deleted once
# their summary is out.
call_state = app.Table(
    "call-state",
    key_type=bytes,  # bytes key and value: Faust (de)serialises them "raw"
    value_type=bytes,
    partitions=settings.topic_partitions,
    help="Per-call metric engine state (changelog-backed).",
)


def _load_call(call_id: str) -> LiveCall | None:
    raw = call_state.get(call_id.encode())
    return LiveCall.from_bytes(raw, engine_config) if raw else None


live_calls.load = _load_call


@contextlib.contextmanager
def as_current(event: EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event while writing the table for its call.

    Faust picks the changelog partition, the RocksDB partition store and (under
    exactly_once) the transaction from the current event; in a batch that is not
    the event of the call being written, so it is set explicitly (private ContextVar).
    """
    token = faust.streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _send(output: str, topic: Any, **kwargs: Any) -> None:
    """Send one output record; failures are counted and logged, never raised into the stream."""
    try:
        await topic.send(**kwargs)
    except Exception:  # the worker must never stop on output errors: count, log, go on
        pipeline_metrics.output_errors.labels(output).inc()
        log.exception("could not write to %s", output)
    else:
        pipeline_metrics.outputs_produced.labels(output).inc()


async def send_dead_letter(message: Any, value: bytes, error: InvalidEventError) -> None:
    headers = {
        "error.reason": error.reason.encode(),
        "error.detail": error.detail.encode("utf-8", "replace"),
        "source.topic": message.topic.encode(),
        "source.partition": str(message.partition).encode(),
        "source.offset": str(message.offset).encode(),
    }
    # explicit partition: a message without a key still lands in its source partition's transaction
    await _send(
        "dead_letters",
        dead_letters,
        key=message.key,
        value=value,
        headers=headers,
        partition=message.partition,
    )


async def send_snapshot(call: LiveCall) -> None:
    call.snapshot_pending = False
    call.last_snapshot_monotonic = time.monotonic()
    record = metrics_record(call, call.state.metrics(), _now_ms())
    await _send("metrics", call_metrics, key=call.call_id.encode(), value=record)


@app.agent(call_events)
async def process_call_events(stream: StreamT[bytes]) -> None:
    async for batch in stream.take_events(  # type: ignore[attr-defined]
        settings.batch_max_events, within=settings.batch_max_wait_seconds
    ):
        changed: dict[str, tuple[LiveCall, EventT]] = {}
        for event in batch:
            message = event.message
            result = processor.process(event.value, message.partition)
            if result.error is not None:
                await send_dead_letter(message, event.value, result.error)
                continue
            call = result.call
            if call is None:
                continue
            changed[call.call_id] = (call, event)
            if result.ended_now:
                await send_snapshot(call)
                record = summary_record(call, call.state.metrics())
                await _send("summaries", call_summaries, key=call.call_id.encode(), value=record)
            elif time.monotonic() - call.last_snapshot_monotonic >= settings.snapshot_interval_seconds:
                await send_snapshot(call)
        for call_id, (call, event) in changed.items():
            with as_current(event):
                if call.ended_monotonic is not None:
                    call_state.pop(call_id.encode(), None)
                else:
                    call_state[call_id.encode()] = call.to_bytes()


@app.on_rebalance_complete.connect  # type: ignore[arg-type]
async def load_assigned_calls(sender: Any, **kwargs: Any) -> None:
    """After recovery, export the calls of newly assigned partitions before their next event."""
    topic = call_events.get_topic_name()
    active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    loaded = 0
    for key, raw in list(call_state.items()):
        call_id = key.decode()
        if raw and live_calls.get(call_id) is None:
            call = LiveCall.from_bytes(raw, engine_config)
            if call.partition in active:
                live_calls.add(call)
                loaded += 1
    if loaded:
        log.info("rebalance complete: %d live calls loaded from the call-state table", loaded)


@app.timer(interval=1.0)
async def flush_pending_snapshots() -> None:
    """The last change of a call that then went quiet still gets its snapshot."""
    due = time.monotonic() - settings.snapshot_interval_seconds
    for call in live_calls:
        if call.snapshot_pending and call.ended_monotonic is None and call.last_snapshot_monotonic <= due:
            await send_snapshot(call)


@app.timer(interval=5.0)
async def end_idle_calls() -> None:
    """A call silent for idle_timeout ends: a CallEnded(timeout) goes through the input topic,
    so it is processed (and summarised) like any other event of that call."""
    for call in processor.idle_calls(settings.idle_timeout_seconds):
        name, record = event_to_record(CallEnded(call.call_id, _now_ms(), reason="timeout"))
        await call_events.send(key=call.call_id.encode(), value=codec.encode(name, record))
        call.last_event_monotonic = time.monotonic()  # do not send it twice while it travels


@app.timer(interval=1.0)
async def forget_ended_calls() -> None:
    live_calls.drop_ended(time.monotonic() - settings.export_grace_seconds)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def forget_revoked_calls(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
    topic = call_events.get_topic_name()
    dropped = live_calls.drop_partitions({tp.partition for tp in revoked if tp.topic == topic})
    if dropped:
        log.info("partitions revoked: no longer exporting %d calls", dropped)
