"""When the worker last heard from a Kafka broker, for ``/readyz``.

The signal is what the consumer does anyway: aiokafka stamps each assigned partition with
the time of the last fetch response that carried it (``last_poll_timestamp``), and an idle
worker still fetches its input every ``fetch_max_wait_seconds``. Only when that is stale
(no partition assigned, or all paused) does :func:`probe` ask the broker for its metadata,
one small request, so an idle worker is not reported unreachable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from streams.worker import faust_adapter

log = logging.getLogger(__name__)


class BrokerContact:
    """The last time (monotonic) a broker answered; unreachable after ``timeout`` without."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self.last_contact = clock()  # from start: not reported unreachable before it tried
        self._last_fetch_ms = 0

    def fetched(self, fetch_timestamp_ms: int | None) -> bool:
        """Note the newest fetch response time seen; True if it is newer than before."""
        if fetch_timestamp_ms is None or fetch_timestamp_ms <= self._last_fetch_ms:
            return False
        self._last_fetch_ms = fetch_timestamp_ms
        self.last_contact = self.clock()
        return True

    def answered(self) -> None:
        self.last_contact = self.clock()

    def silent_for(self) -> float:
        return self.clock() - self.last_contact

    @property
    def reachable(self) -> bool:
        return self.silent_for() < self.timeout


def newest_fetch_ms(aiokafka_consumer: AIOKafkaConsumer) -> int | None:
    """The newest fetch response time (ms since the epoch) of any assigned partition."""
    stamps = faust_adapter.last_fetch_times_ms(aiokafka_consumer)
    return max((s for s in stamps if s is not None), default=None)


async def probe(contact: BrokerContact, consumer: Any) -> None:
    """Update ``contact`` from the consumer's fetches, or, when they are stale, from a
    metadata request."""
    aiokafka_consumer = faust_adapter.aiokafka_consumer(consumer)
    if aiokafka_consumer is None:
        return
    try:
        if contact.fetched(newest_fetch_ms(aiokafka_consumer)):
            return
    except AttributeError:  # aiokafka internals changed: the metadata request still works
        log.debug("cannot read fetch times of the consumer", exc_info=True)
    if contact.silent_for() < min(1.0, contact.timeout / 2):
        return
    try:
        # on the consumer's own thread and event loop, where its client lives; awaited
        # (not timed out) so that probes never pile up in its queue
        ok = await faust_adapter.force_metadata_update(consumer)
    except Exception:  # any failure: no answer
        return
    if ok:
        contact.answered()
