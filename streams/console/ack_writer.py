"""Writes a supervisor's nudge acknowledgement to ``<prefix>.nudge-acks`` and waits for Kafka.

The console answers ``POST /api/nudges/{nudge_id}/ack`` only once the broker has the record
(``acks=all``: every in-sync replica), so an acknowledgement the supervisor saw accepted is on
the topic that every worker's console reads. The producer starts with the first
acknowledgement and stays until the web server stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from streams.kafka_clients import aiokafka_options
from streams.settings import Settings
from streams.wire.codec import AvroCodec

log = logging.getLogger(__name__)

ACK_RECORD = "NudgeAck"
SEND_TIMEOUT_SECONDS = 10.0


class AckWriteError(Exception):
    """The acknowledgement did not reach Kafka; the message says why in one line."""


class AckWriter:
    def __init__(self, settings: Settings, codec: AvroCodec) -> None:
        self.settings = settings
        self.codec = codec
        self.topic = settings.topic("nudge-acks")
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def _started(self) -> Any:
        async with self._lock:
            if self._producer is None:
                from aiokafka import AIOKafkaProducer

                producer = AIOKafkaProducer(
                    client_id=f"{self.settings.app_id}-console-acks",
                    acks="all",
                    # not idempotent: a retried send may write the same acknowledgement twice,
                    # which compaction and the console both take as one (no IdempotentWrite ACL)
                    request_timeout_ms=int(SEND_TIMEOUT_SECONDS * 1000),
                    **aiokafka_options(self.settings.kafka),
                )
                try:
                    await asyncio.wait_for(producer.start(), SEND_TIMEOUT_SECONDS)
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def write(self, record: Mapping[str, Any]) -> None:
        """Send one ``NudgeAck`` keyed by its nudge id and wait for the broker's acknowledgement."""
        try:
            value = self.codec.encode(ACK_RECORD, record)
            producer = await self._started()
            await asyncio.wait_for(
                producer.send_and_wait(self.topic, key=str(record["nudge_id"]).encode(), value=value),
                SEND_TIMEOUT_SECONDS,
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("console: acknowledgement of nudge %s not written: %r", record["nudge_id"], error)
            raise AckWriteError(f"Kafka did not take the acknowledgement: {type(error).__name__}") from None

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
