"""Every use of Faust's and aiokafka's private internals, one named hook each."""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import faust
import faust.streams

log = logging.getLogger(__name__)

CommitFn = Callable[..., Awaitable[Any]]


def tune_fetcher(app: faust.App, *, max_wait_seconds: float, min_bytes: int) -> bool:
    thread = getattr(app.consumer, "_thread", None)
    consumer = getattr(thread, "_consumer", None)
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not all(hasattr(fetcher, a) for a in ("_fetch_max_wait_ms", "_fetch_min_bytes")):
        log.warning("cannot tune the consumer's fetches (Faust/aiokafka internals changed)")
        return False
    fetcher._fetch_max_wait_ms = int(max_wait_seconds * 1000)
    fetcher._fetch_min_bytes = min_bytes
    return True


def install_commit_wrapper(consumer: Any, wrap: Callable[[CommitFn], CommitFn]) -> None:
    consumer.commit = wrap(consumer.commit)


class _SourceEvent:
    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Any) -> None:
        self.message = message


@contextlib.contextmanager
def current_event(record: Any) -> Iterator[None]:
    event = _SourceEvent(record)
    token = faust.streams._current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)


def store_put(table: Any, key: bytes, value: bytes) -> None:
    table.data[key] = value


def store_delete(table: Any, key: bytes) -> None:
    table.data.pop(key, None)


def transactional_id(app: faust.App, topic: str, partition: int) -> str:
    return f"{app.conf.id}-{app.assignor.group_for_topic(topic)}-{partition}"


def drop_faust_pages(app: faust.App, prefix: str = "faust.web.apps.") -> None:
    manager = app.web.blueprints
    manager._enabled = [
        (at, bp) for at, bp in manager._enabled if not (isinstance(bp, str) and bp.startswith(prefix))
    ]
