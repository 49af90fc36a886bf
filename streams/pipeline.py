"""Faust agents: input events -> per-call state; invalid events -> dead-letter topic."""

from __future__ import annotations

import logging
import time
from typing import Any

from faust.types import TP, StreamT

from streams.app import app, live_calls, pipeline_metrics, processor, settings

log = logging.getLogger(__name__)

call_events = app.topic(settings.topic("call-events"), key_serializer="raw", value_serializer="raw")
dead_letters = app.topic(settings.topic("call-events.dlq"), key_serializer="raw", value_serializer="raw")


@app.agent(call_events)
async def process_call_events(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        message = event.message
        error = processor.process(event.value, message.partition)
        if error is not None:
            headers = {
                "error.reason": error.reason.encode(),
                "error.detail": error.detail.encode("utf-8", "replace"),
                "source.topic": message.topic.encode(),
                "source.partition": str(message.partition).encode(),
                "source.offset": str(message.offset).encode(),
            }
            try:
                await dead_letters.send(key=message.key, value=event.value, headers=headers)
            except Exception:  # the worker must never stop on input: count, log, go on
                pipeline_metrics.dead_letters_failed.inc()
                log.exception("could not write dead letter for %s:%s", message.partition, message.offset)


@app.timer(interval=1.0)
async def forget_ended_calls() -> None:
    live_calls.drop_ended(time.monotonic() - settings.export_grace_seconds)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def forget_revoked_calls(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
    topic = call_events.get_topic_name()
    dropped = live_calls.drop_partitions({tp.partition for tp in revoked if tp.topic == topic})
    if dropped:
        log.info("partitions revoked: no longer exporting %d calls", dropped)
