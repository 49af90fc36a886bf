"""Supervisor console: every call of the cluster, live, on any worker.

A worker's own call state covers only its partitions, so the console keeps a view of
its own, fed by *all* partitions of ``<prefix>.call-metrics`` and ``<prefix>.nudges``
through a group-less aiokafka consumer (``isolation_level=read_committed``) that starts
at ``now - console_history_seconds``. docs/console.md says why this is not a Faust
``GlobalTable``.

The reader runs only while the console is used: decoding every snapshot of the cluster
cost a worker about 9 % of its CPU under load (py-spy) whether anyone looked or not. The
first console request starts it and waits (a few seconds at most) for it to catch
up; it stops ``console_idle_seconds`` after the last request when no stream is open.

HTTP (Faust's aiohttp web server):

- ``GET /console`` and ``GET /console/static/<file>``: the page (plain HTML/JS/CSS).
- ``GET /api/calls?team=&limit=``: live calls, lowest score first, unscored last.
- ``GET /api/calls/{call_id}``: the latest snapshot, the metric history and the nudges.
- ``GET /api/teams``.
- ``GET /api/nudges/stream?team=``: Server-Sent Events: ``nudge`` (backlog on connect,
  then live) and ``calls`` (the call list, at most once a second, when it changed).

With ``console_token`` set the API and the stream want ``Authorization: Bearer <token>``
or ``?token=<token>`` (EventSource cannot send headers); the page itself is open and
asks for the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faust
from aiohttp import web as aiohttp_web
from mode import Service

from streams.console.state import ConsoleDemand, ConsoleState, SkippedRecords
from streams.kafka_clients import aiokafka_options
from streams.settings import Settings
from streams.wire.codec import AvroCodec, CodecError
from streams.worker import faust_adapter
from streams.worker.web import add_page

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {
    "console.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class Console:
    """One worker's console: the state it shows, when its reader runs, what it skipped."""

    def __init__(self, settings: Settings, codec: AvroCodec) -> None:
        self.settings = settings
        self.codec = codec
        self.state = ConsoleState(history_seconds=settings.console_history_seconds)
        self.demand = ConsoleDemand(settings.console_idle_seconds)
        self.skipped = SkippedRecords()
        self.feed = ConsoleFeed(self)


# -- Kafka feed -------------------------------------------------------------------------
class ConsoleFeed(Service):
    """Reads every partition of call-metrics and nudges into its console's state."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.settings = settings = console.settings
        self.metrics_topic = settings.topic("call-metrics")
        self.nudges_topic = settings.topic("nudges")
        self.consumer: Any = None

    async def on_stop(self) -> None:
        self.console.state.close_subscribers()
        await self._stop_consumer()

    async def _start_consumer(self) -> tuple[Any, dict[Any, int]]:
        """A consumer positioned at ``now - console_history_seconds``, and the end offsets."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        settings = self.settings

        consumer = AIOKafkaConsumer(
            client_id=f"{settings.app_id}-console",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="latest",
            fetch_max_wait_ms=200,
            **aiokafka_options(settings.kafka),
        )
        await consumer.start()
        try:
            while not self.should_stop:
                # the metadata of every topic (what consumer.topics() reads), with partitions
                cluster = await faust_adapter.fetch_all_metadata(consumer)
                found = {t: cluster.partitions_for_topic(t) for t in (self.metrics_topic, self.nudges_topic)}
                if all(found.values()):
                    break
                log.info("console: waiting for topics %s", [t for t, p in found.items() if not p])
                await self.sleep(5.0)
            partitions = [TopicPartition(t, p) for t, ps in found.items() for p in sorted(ps or ())]
            consumer.assign(partitions)
            since_seconds = settings.console_history_seconds
            since = int((time.time() - since_seconds) * 1000)
            offsets = await consumer.offsets_for_times(dict.fromkeys(partitions, since))
            # no record since then: start at today's end offset (an explicit offset, not a
            # lazy seek_to_end, so nothing produced in between is skipped)
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                found_offset = offsets.get(tp)
                consumer.seek(tp, ends[tp] if found_offset is None else found_offset.offset)
        except BaseException:
            await consumer.stop()
            raise
        log.info("console: reading %d partitions from %.0f s back", len(partitions), since_seconds)
        return consumer, ends

    def _apply(self, topic: str, value: bytes | None) -> None:
        if value is None:
            return
        try:
            name, record = self.console.codec.decode(value)
        except Exception as error:  # a record the console cannot read must not stop it
            reason = error.reason if isinstance(error, CodecError) else type(error).__name__
            if message := self.console.skipped.skip(topic, reason):
                log.warning(message)
            return
        if name == "CallMetrics":
            self.console.state.apply_metrics(record)
        elif name == "Nudge":
            self.console.state.apply_nudge(record)

    async def _stop_consumer(self) -> None:
        consumer, self.consumer = self.consumer, None
        self.console.demand.caught_up.clear()
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _caught_up(self, ends: dict[Any, int]) -> bool:
        for tp, end in ends.items():
            if await self.consumer.position(tp) < end:
                return False
        return True

    @Service.task
    async def _read(self) -> None:
        demand, state = self.console.demand, self.console.state
        ends: dict[Any, int] = {}
        while not self.should_stop:
            try:
                if self.consumer is None:
                    await demand.wanted.wait()
                    self.consumer, ends = await self._start_consumer()
                batches = await self.consumer.getmany(timeout_ms=500, max_records=2000)
                for tp, messages in batches.items():
                    for message in messages:
                        self._apply(tp.topic, message.value)
                if not demand.caught_up.is_set() and await self._caught_up(ends):
                    demand.caught_up.set()
                if demand.idle(len(state.subscribers)):
                    log.info("console: unused for %.0f s; reader stopped", demand.idle_seconds)
                    await self._stop_consumer()
                    demand.wanted.clear()
                    state.clear()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self.should_stop:  # on_stop took the consumer away under this read
                    break
                log.exception("console: Kafka consumer failed; restarting it in 5 s")
                await self._stop_consumer()
                await self.sleep(5.0)

    @Service.timer(1.0)
    async def _expire(self) -> None:
        self.console.state.expire(int(time.time() * 1000))


# -- HTTP -------------------------------------------------------------------------------
def _token_of(request: Any) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return str(value.strip())
    query = request.query.get("token")
    return str(query) if query else None


def authorized(request: Any, expected: str | None) -> bool:
    """True when no token is configured or the request carries it (constant-time compare)."""
    if expected is None:
        return True
    given = _token_of(request)
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _json(view: Any, body: Any, status: int = 200) -> Any:
    return view.json(body, status=status, headers=dict(SECURITY_HEADERS))


def _unauthorized(view: Any) -> Any:
    headers = {**SECURITY_HEADERS, "WWW-Authenticate": 'Bearer realm="callfocus console"'}
    body = {"error": "unauthorized", "detail": "console token required"}
    return view.json(body, status=401, headers=headers)


def _limit(request: Any, default: int = 500) -> int:
    try:
        return max(1, min(5000, int(request.query.get("limit", default))))
    except ValueError:
        return default


def _static(view: Any, name: str) -> Any:
    content_type = STATIC_FILES.get(name)
    path = STATIC_DIR / name
    if content_type is None or not path.is_file():
        return view.json({"error": "not found"}, status=404)
    headers = {**SECURITY_HEADERS, "Content-Type": content_type, "Cache-Control": "no-cache"}
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = PAGE_CSP
    return view.bytes(path.read_bytes(), headers=headers)


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event (JSON on one line, so no ``data:`` splitting is needed)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def calls_message(console: ConsoleState, team: str | None, limit: int) -> dict[str, Any]:
    return {
        "calls": console.call_list(team, limit),
        "teams": console.teams(),
        "total": len(console.calls),
        "server_time": int(time.time() * 1000),
    }


HEARTBEAT_SECONDS = 15.0
CALLS_INTERVAL_SECONDS = 1.0


async def stream_events(
    console: Console, request: Any, team: str | None, limit: int, backlog: Iterable[dict[str, Any]]
) -> aiohttp_web.StreamResponse:
    state = console.state
    response = aiohttp_web.StreamResponse(
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no",  # no proxy buffering (nginx)
        }
    )
    queue = state.subscribe()  # before the backlog: nothing falls in between
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        for nudge in backlog:
            await response.write(sse("nudge", nudge))
        await response.write(sse("calls", calls_message(state, team, limit)))
        sent_version = state.version
        loop = asyncio.get_running_loop()
        next_calls = loop.time() + CALLS_INTERVAL_SECONDS
        last_write = loop.time()
        while True:
            timeout = max(0.0, min(next_calls, last_write + HEARTBEAT_SECONDS) - loop.time())
            try:
                message = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                message = {}
            if message is None:  # cut off (too slow) or the worker stops
                break
            now = loop.time()
            if message and (team is None or message["data"].get("team") == team):
                await response.write(sse(message["event"], message["data"]))
                last_write = now
            if now >= next_calls:
                next_calls = now + CALLS_INTERVAL_SECONDS
                if state.version != sent_version:
                    sent_version = state.version
                    await response.write(sse("calls", calls_message(state, team, limit)))
                    last_write = now
            if now - last_write >= HEARTBEAT_SECONDS:
                await response.write(b": heartbeat\n\n")
                last_write = now
    except (ConnectionResetError, ConnectionError, RuntimeError):
        pass  # the browser went away
    finally:
        state.unsubscribe(queue)
        console.demand.touch()  # the idle time counts from when the last stream closed
    return response


class ConsolePages:
    """The console's pages on a worker's web server."""

    def __init__(self, console: Console) -> None:
        self.console = console
        token = console.settings.console_token
        self.token = token.get_secret_value() if token is not None else None

    async def console_page(self, view: Any, request: Any) -> Any:
        self.console.demand.touch()  # the reader starts while the page loads
        return _static(view, "console.html")

    async def console_static(self, view: Any, request: Any, name: str) -> Any:
        return _static(view, name)

    async def api_calls(self, view: Any, request: Any) -> Any:
        if not authorized(request, self.token):
            return _unauthorized(view)
        await self.console.demand.ready()
        team = request.query.get("team") or None
        return _json(view, self.console.state.call_list(team, _limit(request)))

    async def api_call(self, view: Any, request: Any, call_id: str) -> Any:
        if not authorized(request, self.token):
            return _unauthorized(view)
        await self.console.demand.ready()
        detail = self.console.state.call_detail(call_id)
        if detail is None:
            return _json(view, {"error": "not found", "call_id": call_id}, status=404)
        return _json(view, detail)

    async def api_teams(self, view: Any, request: Any) -> Any:
        if not authorized(request, self.token):
            return _unauthorized(view)
        await self.console.demand.ready()
        return _json(view, self.console.state.teams())

    async def api_stream(self, view: Any, request: Any) -> Any:
        if not authorized(request, self.token):
            return _unauthorized(view)
        await self.console.demand.ready()
        team = request.query.get("team") or None
        backlog = [n for n in self.console.state.recent_nudges() if team is None or n["team"] == team]
        return await stream_events(self.console, request, team, _limit(request), backlog)

    async def close_streams(self, _: Any) -> None:
        self.console.state.close_subscribers()


def install_console(app: faust.App, settings: Settings, codec: AvroCodec) -> Console:
    """The console of a worker: its reader as a service of ``app``, its pages on ``app``'s web server."""
    console = Console(settings, codec)
    app.service(console.feed)  # type: ignore[arg-type]
    pages = ConsolePages(console)
    add_page(app, "/console", pages.console_page)
    add_page(app, "/console/static/{name}", pages.console_static)
    add_page(app, "/api/calls", pages.api_calls)
    add_page(app, "/api/calls/{call_id}", pages.api_call)
    add_page(app, "/api/teams", pages.api_teams)
    add_page(app, "/api/nudges/stream", pages.api_stream)
    web_app = getattr(app.web, "web_app", None)
    if web_app is not None:  # the aiohttp driver: end the streams before it waits for handlers
        web_app.on_shutdown.append(pages.close_streams)
    return console
