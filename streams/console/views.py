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

:func:`install_console` puts all of it on a given Faust app (its pages, the reader as a
service, a shutdown hook); importing this module builds nothing.

HTTP (Faust's aiohttp web server):

- ``GET /console`` and ``GET /console/static/<file>``: the page (plain HTML/JS/CSS),
  served by aiohttp's ``FileResponse``.
- ``GET /api/calls?team=&limit=``: live calls, lowest score first, unscored last.
- ``GET /api/calls/{call_id}``: the latest snapshot, the metric history and the nudges.
- ``GET /api/teams``.
- ``GET /api/feed?team=``: the feed's entries (nudges and call alerts merged), newest change first.
- ``GET /api/nudges/stream?team=``: Server-Sent Events (aiohttp-sse): ``entry`` (the feed's
  entries, nudges and call alerts merged per call and type: backlog on connect, then each
  change) and ``calls`` (the call list, at most once a second, when it changed).
- ``POST /api/alertmanager``: Alertmanager's webhook notifications (its call alerts join the feed).
- ``GET /api/agents/{agent_id}?team=``: one agent's recent calls (live ones and ended ones from
  ``<prefix>.call-summaries``) and the per-day trend of their score (streams.console.agents).
- ``POST /api/nudges/{nudge_id}/ack``: mark a nudge handled, with an optional note; written to
  the compacted ``<prefix>.nudge-acks``, which every worker's console reads from the beginning
  (streams.console.acks).
- ``GET /api/scorecards?team=&agent=&since=&until=&period=&timezone=``: the scorecards of the
  summaries the console holds, newest period first; ``GET /api/report?...&format=csv|json|html``:
  the same cards as ``callfocus report`` renders them (streams.console.scorecards).
  ``source=table`` answers both from the worker's scorecard table instead: its changelog
  ``<app_id>-scorecards-changelog`` (compacted, written in the workers' transactions) is
  read whole from the beginning, as the acknowledgements are (streams.console.scorecard_table),
  so every call the workers committed counts once, on the days of the table's zone
  (``scorecard_timezone``: another ``timezone`` is a 400), ``since`` and ``until`` counting
  every day they touch. ``source=summaries`` is the default; any other source is a 400.
  Until a worker has made the table the console answers with no cards and looks for it
  every 30 s.

With ``console_token`` set the API and the stream want ``Authorization: Bearer <token>``
or ``?token=<token>`` (EventSource cannot send headers); the page itself is open and
asks for the token. With ``console_oidc_*`` set a supervisor's OIDC token is accepted too,
and every answer is limited to the teams it names (streams/console/oidc.py). A middleware
authenticates each ``/api/`` request before its view runs and writes one access record per
console request (streams/console/access.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from aiohttp import web as aiohttp_web
from aiohttp_sse import EventSourceResponse
from mode import Service

from streams.coaching.cells import changelog_topic
from streams.console.access import (
    ANONYMOUS,
    Principal,
    Refusal,
    access_record,
    bearer_token,
    log_access,
    logged_path,
    static_token_principal,
)
from streams.console.ack_writer import AckWriteError, AckWriter
from streams.console.acks import MAX_BODY_BYTES, AckRequestError, ack_problem, ack_record, parse_ack_request
from streams.console.alerts import PayloadError, parse_notification
from streams.console.oidc import KeysUnavailable, TokenRejected, TokenVerifier, build_verifier
from streams.console.state import ConsoleDemand, ConsoleState, SkippedRecords
from streams.kafka_clients import aiokafka_options
from streams.settings import Settings
from streams.wire.codec import AvroCodec, CodecError
from streams.worker import faust_adapter

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
HEARTBEAT_SECONDS = 15.0
CALLS_INTERVAL_SECONDS = 1.0
RECONNECT_MS = 2000  # the browser's wait before it reconnects a dropped stream
# An Alertmanager notification of the shipped receiver (max_alerts 50, ~1.5 KB an alert) is
# well under 100 KB; anything past this is not one.
MAX_NOTIFICATION_BYTES = 512 * 1024
# how often a reader that started before any worker made the scorecard table looks for it
TABLE_LOOK_SECONDS = 30.0
SCORECARD_SOURCES = ("summaries", "table")


# -- Kafka feed -------------------------------------------------------------------------
class ConsoleFeed(Service):
    """Reads every partition of call-metrics and nudges into the console's state while it is
    used; with them the ended calls, the acknowledgements and the worker's scorecard table."""

    def __init__(
        self,
        settings: Settings,
        codec: AvroCodec,
        calls: ConsoleState,
        demand: ConsoleDemand,
        skipped: SkippedRecords,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.codec = codec
        self.calls = calls  # the console's state (mode's Service has a "state" of its own)
        self.demand = demand
        self.skipped = skipped
        self.metrics_topic = settings.topic("call-metrics")
        self.nudges_topic = settings.topic("nudges")
        # the agent page's ended calls, and the acknowledgements (compacted: read from the start)
        self.summaries_topic = settings.topic("call-summaries")
        self.acks_topic = settings.topic("nudge-acks")
        # the worker's scorecard table (compacted: read from the start); optional, see _start_consumer
        self.table_topic = changelog_topic(settings.app_id)
        # compacted, the latest record per key: read whole, from their first offsets
        self.whole_topics = (self.acks_topic, self.table_topic)
        self.consumer: Any = None

    async def on_stop(self) -> None:
        self.calls.close_subscribers()
        await self._stop_consumer()

    async def _start_consumer(self) -> tuple[Any, dict[Any, int]]:
        """A consumer positioned at ``now - console_history_seconds``, and the end offsets."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            client_id=f"{self.settings.app_id}-console",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="latest",
            fetch_max_wait_ms=200,
            **aiokafka_options(self.settings.kafka),
        )
        await consumer.start()
        try:
            while not self.should_stop:
                # the metadata of every topic (what consumer.topics() reads), with partitions
                cluster = await faust_adapter.fetch_all_metadata(consumer)
                read = (self.metrics_topic, self.nudges_topic, self.summaries_topic, self.acks_topic)
                found = {t: cluster.partitions_for_topic(t) for t in read}
                if all(found.values()):
                    break
                log.info("console: waiting for topics %s", [t for t, p in found.items() if not p])
                await self.sleep(5.0)
            # the table's changelog exists once a worker has run: until then the console
            # serves everything else and looks for it every TABLE_LOOK_SECONDS (_add_table)
            found[self.table_topic] = cluster.partitions_for_topic(self.table_topic)
            partitions = [TopicPartition(t, p) for t, ps in found.items() for p in sorted(ps or ())]
            consumer.assign(partitions)
            since_seconds = self.settings.console_history_seconds
            offsets = await consumer.offsets_for_times(self._start_times(partitions))
            # no record since then: start at today's end offset (an explicit offset, not a
            # lazy seek_to_end, so nothing produced in between is skipped)
            ends = await consumer.end_offsets(partitions)
            firsts = await consumer.beginning_offsets(
                [tp for tp in partitions if tp.topic in self.whole_topics]
            )
            for tp in partitions:
                found_offset = offsets.get(tp)
                if tp in firsts:
                    consumer.seek(tp, firsts[tp])
                else:
                    consumer.seek(tp, ends[tp] if found_offset is None else found_offset.offset)
        except BaseException:
            await consumer.stop()
            raise
        self._start_table(bool(found[self.table_topic]))
        log.info("console: reading %d partitions from %.0f s back", len(partitions), since_seconds)
        return consumer, ends

    def _start_table(self, found: bool) -> None:
        # the table is read again from its start: a cell whose tombstone was compacted away
        # since the last read must not stay held
        table = self.calls.scorecard_table
        table.clear()
        table.reading = found
        if not found:
            log.info(
                "console: no scorecard table yet (%s): looking for it every %.0f s",
                self.table_topic,
                TABLE_LOOK_SECONDS,
            )

    async def _add_table(self) -> None:
        """Read the scorecard table from the start once a worker has made its changelog."""
        from aiokafka import TopicPartition

        cluster = await faust_adapter.fetch_all_metadata(self.consumer)
        found = cluster.partitions_for_topic(self.table_topic)
        if not found:
            return
        table = [TopicPartition(self.table_topic, p) for p in sorted(found)]
        # assign() replaces the assignment and forgets its positions: the others go on from theirs
        positions = {tp: await self.consumer.position(tp) for tp in self.consumer.assignment()}
        firsts = await self.consumer.beginning_offsets(table)
        self.consumer.assign([*positions, *table])
        for tp, offset in positions.items():
            self.consumer.seek(tp, offset)
        for tp in table:
            self.consumer.seek(tp, firsts[tp])
        self._start_table(True)
        log.info("console: reading the scorecard table %s (%d partitions)", self.table_topic, len(table))

    def _start_times(self, partitions: Iterable[Any]) -> dict[Any, int]:
        """Where each partition's reading starts (ms): the history for the live topics,
        ``console_summary_history_days`` for the summaries."""
        now = time.time()
        live = int((now - self.settings.console_history_seconds) * 1000)
        summaries = int((now - self.settings.console_summary_history_days * 86_400) * 1000)
        return {
            tp: summaries if tp.topic == self.summaries_topic else live
            for tp in partitions
            if tp.topic not in self.whole_topics
        }

    def _apply(self, topic: str, value: bytes | None) -> None:
        if value is None:
            return
        try:
            name, record = self.codec.decode(value)
        except Exception as error:  # a record the console cannot read must not stop it
            reason = error.reason if isinstance(error, CodecError) else type(error).__name__
            if message := self.skipped.skip(topic, reason):
                log.warning(message)
            return
        if name == "CallMetrics":
            self.calls.apply_metrics(record)
        elif name == "Nudge":
            self.calls.apply_nudge(record)
        elif name == "CallSummary":
            self.calls.apply_summary(record)
        elif name == "NudgeAck":
            problem = ack_problem(record)
            if problem is not None:
                if message := self.skipped.skip(topic, problem):
                    log.warning(message)
                return
            self.calls.apply_ack(record)

    def _apply_cells(self, messages: Iterable[Any]) -> None:
        table = self.calls.scorecard_table
        for message in messages:
            reason = table.apply(message.key, message.value)
            if reason is not None and (text := self.skipped.skip(self.table_topic, reason)):
                log.warning(text)

    async def _stop_consumer(self) -> None:
        consumer, self.consumer = self.consumer, None
        self.demand.caught_up.clear()
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
        ends: dict[Any, int] = {}
        look_for_table_at = 0.0
        while not self.should_stop:
            try:
                if self.consumer is None:
                    await self.demand.wanted.wait()
                    self.consumer, ends = await self._start_consumer()
                    look_for_table_at = time.monotonic() + TABLE_LOOK_SECONDS
                batches = await self.consumer.getmany(timeout_ms=500, max_records=2000)
                for tp, messages in batches.items():
                    if tp.topic == self.table_topic:
                        self._apply_cells(messages)
                        continue
                    for message in messages:
                        if message.value is None and tp.topic == self.acks_topic and message.key:
                            self.calls.forget_ack(message.key.decode(errors="replace"))  # a tombstone
                            continue
                        self._apply(tp.topic, message.value)
                if not self.demand.caught_up.is_set() and await self._caught_up(ends):
                    self.demand.caught_up.set()
                if not self.calls.scorecard_table.reading and time.monotonic() >= look_for_table_at:
                    look_for_table_at = time.monotonic() + TABLE_LOOK_SECONDS
                    await self._add_table()
                if self.demand.idle(len(self.calls.subscribers)):
                    log.info("console: unused for %.0f s; reader stopped", self.demand.idle_seconds)
                    await self._stop_consumer()
                    self.demand.wanted.clear()
                    self.calls.clear()
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
        self.calls.expire(int(time.time() * 1000))


# -- HTTP -------------------------------------------------------------------------------
def _json(view: Any, body: Any, status: int = 200) -> Any:
    return view.json(body, status=status, headers=dict(SECURITY_HEADERS))


def _unauthorized(view: Any) -> Any:
    headers = {**SECURITY_HEADERS, "WWW-Authenticate": 'Bearer realm="callfocus console"'}
    body = {"error": "unauthorized", "detail": "console token required"}
    return view.json(body, status=401, headers=headers)


def _forbidden(view: Any, team: str | None) -> Any:
    body = {
        "error": "forbidden",
        "detail": f"not a team of yours: {team}" if team else "name one of your teams",
    }
    return view.json(body, status=403, headers=dict(SECURITY_HEADERS))


ALERTMANAGER_ONLY = {"error": "forbidden", "detail": "Alertmanager's webhook takes the console token only"}


def call_team(detail: dict[str, Any]) -> str | None:
    """The team of a call's detail: its snapshot's, else its nudges' or feed entries'."""
    if detail.get("snapshot"):
        return detail["snapshot"].get("team")
    for item in [*detail.get("nudges", ()), *detail.get("feed", ())]:
        if item.get("team"):
            return str(item["team"])
    return None


def _asker(console: Console, view: Any, request: Any) -> tuple[Principal, str | None] | Any:
    """Who asks and the team they ask for (``?team=``, None: not one), or the 401 or 403
    that answers instead."""
    principal = console.principal(request)
    if principal is None:
        return _unauthorized(view)
    team = request.query.get("team") or None
    if team is not None and not principal.sees(team):
        return _forbidden(view, team)
    return principal, team


def _limit(request: Any, default: int = 500) -> int:
    try:
        return max(1, min(5000, int(request.query.get("limit", default))))
    except ValueError:
        return default


def _static(view: Any, name: str) -> Any:
    # only the names listed reach the file system: "..", "%2e%2e" or any other name is a 404
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        return view.json({"error": "not found"}, status=404)
    headers = {**SECURITY_HEADERS, "Content-Type": content_type, "Cache-Control": "no-cache"}
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = PAGE_CSP
    # aiohttp's file response: ETag and Last-Modified, so a revalidation answers 304
    return aiohttp_web.FileResponse(STATIC_DIR / name, headers=headers)


def _bad_request(view: Any, status: int, reason: str) -> Any:
    return view.json(
        {"error": "bad request", "detail": reason}, status=status, headers=dict(SECURITY_HEADERS)
    )


async def read_notification(request: Any, limit: int = MAX_NOTIFICATION_BYTES) -> tuple[int, str] | Any:
    """The decoded JSON body, or (status, reason) when it is too large (413) or not JSON (400);
    at most ``limit`` bytes are ever held."""
    if request.content_length is not None and request.content_length > limit:
        return 413, f"body of {request.content_length} bytes, at most {limit}"
    chunks, size = [], 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            return 413, f"body over {limit} bytes"
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return 400, f"not JSON: {error}".splitlines()[0][:200]


async def send_event(response: EventSourceResponse, event: str, data: Any, retry: int | None = None) -> None:
    """One Server-Sent Event, its data JSON on one line (so one ``data:`` field)."""
    await response.send(json.dumps(data, separators=(",", ":")), event=event, retry=retry)


# -- the console on an app ---------------------------------------------------------------
@dataclass
class Console:
    """One worker's console: its view of the cluster's calls, whether it is used, the
    records it skipped, the reader that feeds it, and the settings it answers with."""

    settings: Settings
    state: ConsoleState
    demand: ConsoleDemand
    skipped: SkippedRecords
    feed: ConsoleFeed
    verifier: TokenVerifier | None = None  # supervisors' OIDC tokens, when configured
    ack_writer: AckWriter | None = None  # None: acknowledgements are refused (503)

    def principal(self, request: Any) -> Principal | None:
        """Who asks, and which teams they see; None when the credentials are missing or
        wrong (a 401). The middleware has usually decided already (keys loaded and all)."""
        known = request.get(PRINCIPAL_KEY) if hasattr(request, "get") else None
        if isinstance(known, Principal):
            return known
        outcome = self.identify(request)
        return outcome if isinstance(outcome, Principal) else None

    def authorized(self, request: Any) -> bool:
        return self.principal(request) is not None

    def identify(self, request: Any) -> Principal | Refusal:
        """The static token (every team), else a supervisor's OIDC token (their teams), else
        no credentials needed when neither is configured."""
        token = bearer_token(request)
        expected = self.settings.console_token
        secret = None if expected is None else expected.get_secret_value()
        if secret is not None and token is not None:
            static = static_token_principal(token, secret)
            if static is not None:
                return static
        if self.verifier is not None:
            if token is None:
                return Refusal(401, "bearer token required")
            try:
                return self.verifier.verify(token)
            except TokenRejected as error:
                return Refusal(401, error.detail)
            except KeysUnavailable as error:
                return Refusal(503, str(error))
        if secret is not None:
            return Refusal(401, "console token required")
        return ANONYMOUS

    async def authenticate(self, request: Any) -> Principal | Refusal:
        """:meth:`identify`, after loading the signing keys a token's ``kid`` asks for."""
        token = bearer_token(request)
        if self.verifier is not None and token is not None:
            await self.verifier.prepare(token)
        return self.identify(request)

    def call_list(self, principal: Principal, team: str | None, limit: int) -> list[dict[str, Any]]:
        """The calls of ``team``, or of every team the principal sees (``team`` None)."""
        if team is not None or principal.every_team:
            return self.state.call_list(team, limit)
        return self.state.call_list(None, limit, teams=principal.teams)

    def calls_message(self, team: str | None, limit: int, principal: Principal = ANONYMOUS) -> dict[str, Any]:
        if principal.every_team:
            total = len(self.state.calls)
        else:
            total = sum(1 for view in self.state.calls.values() if principal.sees(view.snapshot["team"]))
        return {
            "calls": self.call_list(principal, team, limit),
            "teams": principal.visible(self.state.teams()),
            "total": total,
            "server_time": int(time.time() * 1000),
        }

    async def stream_events(
        self,
        request: Any,
        team: str | None,
        limit: int,
        backlog: Iterable[dict[str, Any]],
        principal: Principal = ANONYMOUS,
    ) -> EventSourceResponse:
        """The backlog, the call list, then live feed entries and call lists until the browser
        leaves, the worker stops or the principal's credentials expire (the browser reconnects
        and is asked again); aiohttp-sse frames the events and sends the heartbeat. Only what
        ``principal`` sees is sent."""
        response = EventSourceResponse(
            headers=SECURITY_HEADERS,
            sep="\n",
            ping_interval=HEARTBEAT_SECONDS,
            allow_all_methods=True,  # HEAD is routed with GET, and answers as it
        )
        response.headers["Cache-Control"] = SECURITY_HEADERS["Cache-Control"]  # aiohttp-sse sets no-cache
        queue = self.state.subscribe()  # before the backlog: nothing falls in between
        try:
            await response.prepare(request)
            async with response:  # ends the heartbeat when the stream ends
                first = [("entry", entry) for entry in backlog if principal.sees(entry.get("team"))]
                first.append(("calls", self.calls_message(team, limit, principal)))
                for index, (event, data) in enumerate(first):
                    await send_event(response, event, data, retry=RECONNECT_MS if index == 0 else None)
                await self._follow(response, queue, team, limit, principal)
        except (ConnectionError, RuntimeError, TimeoutError):
            pass  # the browser went away (or stalled past aiohttp-sse's send timeout)
        finally:
            self.state.unsubscribe(queue)
            self.demand.touch()  # the idle time counts from when the last stream closed
        return response

    async def _follow(
        self,
        response: EventSourceResponse,
        queue: asyncio.Queue[Any],
        team: str | None,
        limit: int,
        principal: Principal = ANONYMOUS,
    ) -> None:
        sent_version = self.state.version
        loop = asyncio.get_running_loop()
        next_calls = loop.time() + CALLS_INTERVAL_SECONDS
        while True:
            if principal.expires_at is not None and time.time() >= principal.expires_at:
                return  # the browser reconnects and must show valid credentials again
            try:
                message = await asyncio.wait_for(queue.get(), max(0.0, next_calls - loop.time()))
            except TimeoutError:
                message = {}
            if message is None:  # cut off (too slow) or the worker stops
                return
            entry_team = message["data"].get("team") if message else None
            if message and (team is None or entry_team == team) and principal.sees(entry_team):
                await send_event(response, message["event"], message["data"])
            now = loop.time()
            if now >= next_calls:
                next_calls = now + CALLS_INTERVAL_SECONDS
                if self.state.version != sent_version:
                    sent_version = self.state.version
                    await send_event(response, "calls", self.calls_message(team, limit, principal))


def install_console(app: faust.App, settings: Settings, codec: AvroCodec) -> Console:
    """Put the console on ``app``: its pages, its Kafka reader (a service started with the
    app) and the hook that ends open streams when the web server shuts down."""
    state = ConsoleState(
        history_seconds=settings.console_history_seconds,
        summary_history_days=settings.console_summary_history_days,
        max_summaries_per_agent=settings.console_max_summaries_per_agent,
        max_summaries=settings.console_max_summaries,
        max_acks=settings.console_max_acks,
        max_scorecard_cells=settings.console_max_scorecard_cells,
    )
    demand = ConsoleDemand(settings.console_idle_seconds)
    skipped = SkippedRecords()
    feed = ConsoleFeed(settings, codec, state, demand, skipped, beacon=app.beacon)
    console = Console(
        settings, state, demand, skipped, feed, build_verifier(settings.console), AckWriter(settings, codec)
    )
    # Faust starts a service instance as it does a class (App.on_init_extra_service takes either)
    app.service(feed)  # type: ignore[arg-type]
    _add_pages(app, console)
    _add_agent_pages(app, console)
    _add_scorecard_pages(app, console)

    async def close_streams(_: Any) -> None:
        state.close_subscribers()

    web_app = getattr(app.web, "web_app", None)
    if web_app is not None:  # the aiohttp driver: end the streams before it waits for handlers
        web_app.on_shutdown.append(close_streams)
        web_app.middlewares.append(access_middleware(console))

        async def stop_ack_writer(_: Any) -> None:
            if console.ack_writer is not None:
                await console.ack_writer.stop()

        web_app.on_cleanup.append(stop_ack_writer)
    return console


# -- authentication and access records ---------------------------------------------------
PRINCIPAL_KEY = aiohttp_web.RequestKey("callfocus_principal", Principal)
CONSOLE_PATHS = ("/api/", "/console")


def _refused(refusal: Refusal) -> Any:
    headers = dict(SECURITY_HEADERS)
    if refusal.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="callfocus console"'
    error = "unauthorized" if refusal.status == 401 else "unavailable"
    return aiohttp_web.json_response(
        {"error": error, "detail": refusal.detail}, status=refusal.status, headers=headers
    )


def access_middleware(console: Console) -> Any:
    """Authenticates every ``/api/`` request before its view (401/503 without a principal;
    the view then asks :meth:`Console.principal`) and logs one access record for each
    console request, streams included (when they end)."""

    @aiohttp_web.middleware
    async def access(request: Any, handler: Any) -> Any:
        if not request.path.startswith(CONSOLE_PATHS):
            return await handler(request)
        started_at, started = time.time(), time.monotonic()
        subject: str | None = None
        refused: str | None = None
        status = 500
        try:
            if request.path.startswith("/api/"):
                outcome = await console.authenticate(request)
                if isinstance(outcome, Refusal):
                    refused, status = outcome.detail, outcome.status
                    return _refused(outcome)
                request[PRINCIPAL_KEY] = outcome
                subject = outcome.subject
            response = await handler(request)
            status = response.status
            return response
        except aiohttp_web.HTTPException as error:
            status = error.status
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away before the answer
            raise
        finally:
            log_access(
                access_record(
                    started_at=started_at,
                    subject=subject,
                    method=request.method,
                    path=logged_path(request.rel_url),
                    team=request.query.get("team") or None,
                    status=status,
                    duration_seconds=time.monotonic() - started,
                    refused=refused,
                )
            )

    return access


def _add_pages(app: faust.App, console: Console) -> None:
    state, demand = console.state, console.demand

    async def console_page(view: Any, request: Any) -> Any:
        demand.touch()  # the reader starts while the page loads
        return _static(view, "console.html")

    async def console_static(view: Any, request: Any, name: str) -> Any:
        return _static(view, name)

    async def api_calls(view: Any, request: Any) -> Any:
        asker = _asker(console, view, request)
        if not isinstance(asker, tuple):
            return asker
        principal, team = asker
        await demand.ready()
        return _json(view, console.call_list(principal, team, _limit(request)))

    async def api_call(view: Any, request: Any, call_id: str) -> Any:
        principal = console.principal(request)
        if principal is None:
            return _unauthorized(view)
        await demand.ready()
        detail = state.call_detail(call_id)
        if detail is None:
            return _json(view, {"error": "not found", "call_id": call_id}, status=404)
        if not principal.every_team:
            team = call_team(detail)
            if not principal.sees(team):
                return _forbidden(view, team)
        return _json(view, detail)

    async def api_teams(view: Any, request: Any) -> Any:
        principal = console.principal(request)
        if principal is None:
            return _unauthorized(view)
        await demand.ready()
        return _json(view, principal.visible(state.teams()))

    def feed_entries(request: Any, principal: Principal, team: str | None) -> list[dict[str, Any]]:
        return [
            e
            for e in state.recent_entries()
            if (team is None or e["team"] == team) and principal.sees(e.get("team"))
        ]

    async def api_feed(view: Any, request: Any) -> Any:
        asker = _asker(console, view, request)
        if not isinstance(asker, tuple):
            return asker
        principal, team = asker
        await demand.ready()
        entries = list(reversed(feed_entries(request, principal, team)))
        return _json(view, entries[: _limit(request)])

    async def api_stream(view: Any, request: Any) -> Any:
        asker = _asker(console, view, request)
        if not isinstance(asker, tuple):
            return asker
        principal, team = asker
        await demand.ready()
        backlog = feed_entries(request, principal, team)
        return await console.stream_events(request, team, _limit(request), backlog, principal)

    class AlertmanagerWebhook(faust.web.View):
        """Alertmanager's webhook receiver: POST only (HEAD with the token is a 405)."""

        async def head(self, request: Any) -> Any:
            principal = console.principal(request)
            if principal is None:
                return _unauthorized(self)
            if not principal.every_team:  # the static token's (Alertmanager's) alone
                return _json(self, ALERTMANAGER_ONLY, status=403)
            return self.json({"error": "method not allowed"}, status=405, headers=dict(SECURITY_HEADERS))

        async def post(self, request: Any) -> Any:
            principal = console.principal(request)
            if principal is None:
                return _unauthorized(self)
            if not principal.every_team:  # the static token's (Alertmanager's) alone
                return _json(self, ALERTMANAGER_ONLY, status=403)
            body = await read_notification(request)
            if isinstance(body, tuple):
                return _bad_request(self, *body)
            try:
                alerts = parse_notification(body)
            except PayloadError as error:
                return _bad_request(self, 400, str(error))
            shown, ignored = state.apply_alerts(alerts)
            log.debug("console: Alertmanager notification: %d alerts shown, %d ignored", shown, ignored)
            return _json(self, {"shown": shown, "ignored": ignored})

    app.page("/console")(console_page)
    app.page("/console/static/{name}")(console_static)
    app.page("/api/calls")(api_calls)
    app.page("/api/calls/{call_id}")(api_call)
    app.page("/api/teams")(api_teams)
    app.page("/api/feed")(api_feed)
    app.page("/api/nudges/stream")(api_stream)
    app.page("/api/alertmanager")(AlertmanagerWebhook)


# -- the agent page and nudge acknowledgements --------------------------------------------
def _not_found(view: Any, **about: str) -> Any:
    return _json(view, {"error": "not found", **about}, status=404)


async def read_ack_body(request: Any) -> tuple[int, str] | str | None:
    """The note of an acknowledgement's body, or (status, reason): the body must be JSON
    (``Content-Type: application/json``: a cross-site form cannot send that without a CORS
    preflight, which the console does not answer) and at most MAX_BODY_BYTES."""
    if request.content_type != "application/json":
        return 415, 'send Content-Type: application/json and a body like {"note": "..."}'
    body = await read_notification(request, MAX_BODY_BYTES)
    if isinstance(body, tuple):
        return body
    try:
        return parse_ack_request(body)
    except AckRequestError as error:
        return 400, str(error)


def _add_agent_pages(app: faust.App, console: Console) -> None:
    state, demand = console.state, console.demand

    async def api_agent(view: Any, request: Any, agent_id: str) -> Any:
        asker = _asker(console, view, request)
        if not isinstance(asker, tuple):
            return asker
        principal, asked = asker
        await demand.ready()
        known = state.agent_teams(agent_id)
        teams = [asked] if asked is not None else known
        if not teams or (asked is not None and asked not in known):
            return _not_found(view, agent_id=agent_id)
        visible = principal.visible(teams)
        if not visible:
            return _forbidden(view, teams[0] if len(teams) == 1 else None)
        return _json(view, state.agent_view(agent_id, visible))

    class NudgeAckView(faust.web.View):
        """``POST /api/nudges/{nudge_id}/ack``: mark a nudge handled (POST only; HEAD with the
        credentials is a 405, as for the Alertmanager webhook)."""

        async def head(self, request: Any, nudge_id: str) -> Any:
            if console.principal(request) is None:
                return _unauthorized(self)
            return self.json({"error": "method not allowed"}, status=405, headers=dict(SECURITY_HEADERS))

        async def post(self, request: Any, nudge_id: str) -> Any:
            principal = console.principal(request)
            if principal is None:
                return _unauthorized(self)
            await demand.ready()
            nudge = state.nudge(nudge_id)
            if nudge is None:
                return _not_found(self, nudge_id=nudge_id)
            if not principal.sees(nudge["team"]):
                return _forbidden(self, nudge["team"])
            note = await read_ack_body(request)
            if isinstance(note, tuple):
                return _bad_request(self, *note)
            record = ack_record(nudge, principal.subject, note, int(time.time() * 1000))
            if console.ack_writer is None:
                return _json(self, {"error": "unavailable", "detail": "acknowledgements are off"}, 503)
            try:
                await console.ack_writer.write(record)
            except AckWriteError as error:
                return _json(self, {"error": "unavailable", "detail": str(error)}, 503)
            state.apply_ack(record)  # this worker's page at once; the others when they read it
            return _json(self, {"nudge_id": nudge_id, "ack": state.acks.get(nudge_id)})

    app.page("/api/agents/{agent_id}")(api_agent)
    app.page("/api/nudges/{nudge_id}/ack")(NudgeAckView)


# -- scorecards and reports -------------------------------------------------------------
def _add_scorecard_pages(app: faust.App, console: Console) -> None:
    from datetime import UTC, datetime

    from streams.console import scorecard_table, scorecards

    state, demand = console.state, console.demand
    table_zone = console.settings.scorecard_timezone

    def table_query(query: Any) -> dict[str, str] | str:
        """The query with the table's zone, or why it cannot be answered from the table."""
        asked = query.get("timezone")
        if asked and asked != table_zone:
            return f"timezone: the scorecard table's days are in {table_zone}; give {table_zone} or none"
        return {**query, "timezone": table_zone}

    async def cards_of(view: Any, request: Any, fmt: str | None = None) -> Any:
        """(source, query, cards, counts, the teams the report covers), or the refusal to answer."""
        asker = _asker(console, view, request)
        if not isinstance(asker, tuple):
            return asker
        principal, team = asker
        if fmt is not None and fmt not in scorecards.FORMATS:
            return _bad_request(view, 400, f"format: {fmt!r} is not one of {', '.join(scorecards.FORMATS)}")
        source = request.query.get("source") or "summaries"
        if source not in SCORECARD_SOURCES:
            return _bad_request(view, 400, f"source: {source!r} is not one of {', '.join(SCORECARD_SOURCES)}")
        asked = request.query if source == "summaries" else table_query(request.query)
        if isinstance(asked, str):
            return _bad_request(view, 400, asked)
        now = datetime.now(UTC)
        try:
            query = scorecards.parse_query(asked, now, state.agents.history_days)
        except scorecards.QueryError as error:
            return _bad_request(view, 400, str(error))
        await demand.ready()
        # a copy of what is held (the reader keeps adding), added up off the event loop: 50,000
        # summaries take about a second, which the worker's agents must not wait for
        if source == "summaries":
            held = list(state.agents.by_call.values())
            cards, counts = await asyncio.to_thread(scorecards.select_cards, held, query, principal.sees)
        else:
            cells = state.scorecard_table.cells()
            select = scorecard_table.select_table_cards
            cards, counts = await asyncio.to_thread(select, cells, query, principal.sees)
        covered = [team] if team is not None else sorted(principal.teams or ())
        return source, query, cards, counts, covered

    async def api_scorecards(view: Any, request: Any) -> Any:
        outcome = await cards_of(view, request)
        if not isinstance(outcome, tuple):
            return outcome
        source, query, cards, counts, _ = outcome
        history_days = state.agents.history_days
        if source == "table":
            document = scorecard_table.table_document(
                cards, query, counts, history_days, state.scorecard_table
            )
        else:
            document = scorecards.scorecards_document(cards, query, counts, history_days)
        return _json(view, document)

    async def api_report(view: Any, request: Any) -> Any:
        fmt = request.query.get("format") or "html"
        outcome = await cards_of(view, request, fmt)
        if not isinstance(outcome, tuple):
            return outcome
        _, query, cards, counts, covered = outcome
        content_type, render = scorecards.FORMATS[fmt]
        meta = scorecards.report_meta(query, covered, counts, datetime.now(UTC))
        filename = scorecards.report_filename(query, fmt)
        headers = {**SECURITY_HEADERS, "Content-Type": content_type}
        if fmt == "html":  # shown in the browser, its own script and style allowed by digest
            headers["Content-Security-Policy"] = scorecards.REPORT_CSP
            headers["Content-Disposition"] = f'inline; filename="{filename}"'
        else:
            headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        text = await asyncio.to_thread(render, cards, meta)
        return aiohttp_web.Response(text=text, headers=headers)

    app.page("/api/scorecards")(api_scorecards)
    app.page("/api/report")(api_report)
