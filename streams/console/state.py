"""What the supervisor console knows: every call's latest snapshot and history, the recent
nudges, and the fan-out to live browsers. Pure (no Kafka, no HTTP): ``streams.console.views``
feeds it from the output topics and serves it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.console.acks import NudgeAcks
from streams.console.agents import AgentHistory, agent_page, live_row
from streams.console.alerts import AlertNotice
from streams.console.feed import Feed
from streams.console.scorecard_table import DEFAULT_MAX_CELLS, ScorecardTable
from streams.engine.catalogue import CALL_METRICS, METRICS, UNIT_TEXT, Scope

# The metric catalogue as the call page shows it: one row per metric, in catalogue order.
CATALOGUE = [
    {
        "name": m.name,
        "unit": m.unit.value,
        "unit_text": UNIT_TEXT[m.unit],
        "windows": m.scope is Scope.WINDOWS,
        "description": m.description,
    }
    for m in METRICS
]

HISTORY_FIELDS = (
    "media_time_ms",
    "emitted_at",
    "score",
    "talk_ratio_60s",
    "monologue_current_seconds",
    "customer_sentiment",
)

# in a call's detail, not in every row of the call list
DETAIL_ONLY = frozenset({"windows", "score_components"})


def _window_name(windows: Mapping[str, Any], preferred: str) -> str | None:
    """``preferred`` if the snapshot has it, else the nearest rolling window, else ``call``."""
    if preferred in windows:
        return preferred
    rolling = sorted((n for n in windows if n.endswith("s") and n[:-1].isdigit()), key=lambda n: int(n[:-1]))
    if rolling:
        want = int(preferred[:-1])
        return min(rolling, key=lambda n: abs(int(n[:-1]) - want))
    return "call" if "call" in windows else None


def _window_value(windows: Mapping[str, Mapping[str, Any]], preferred: str, name: str) -> Any:
    window = _window_name(windows, preferred)
    return windows[window].get(name) if window is not None else None


@dataclass
class CallView:
    """What the console knows of one call: its latest snapshot and a bounded history."""

    call_id: str
    snapshot: dict[str, Any]
    history: deque[tuple[Any, ...]]
    received_monotonic: float = field(default_factory=time.monotonic)

    @property
    def emitted_at(self) -> int:
        return int(self.snapshot["emitted_at"])

    @property
    def ended(self) -> bool:
        return bool(self.snapshot.get("ended"))


def summarise(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ``CallMetrics`` record in the console's JSON shape (windows keyed by name)."""
    windows = {w["window"]: {k: v for k, v in w.items() if k != "window"} for w in record.get("windows", ())}
    return {
        "call_id": record["call_id"],
        "agent_id": record["agent_id"],
        "team": record["team"],
        "queue": record["queue"],
        "media_time_ms": record["media_time_ms"],
        "emitted_at": record["emitted_at"],
        "ended": record.get("ended", False),
        "score": record.get("customer_focus_score"),
        "talk_ratio": _window_value(windows, "180s", "agent_talk_ratio"),
        "talk_ratio_60s": _window_value(windows, "60s", "agent_talk_ratio"),
        "questions_per_minute": _window_value(windows, "180s", "questions_per_minute"),
        "you_focus_ratio": _window_value(windows, "180s", "you_focus_ratio"),
        "customer_sentiment": _window_value(windows, "180s", "customer_sentiment"),
        "monologue_current_seconds": record.get("monologue_current_seconds", 0.0),
        "monologue_longest_seconds": record.get("monologue_longest_seconds", 0.0),
        "windows": windows,
        # the whole-call metrics of the catalogue (the windowed ones are in windows)
        "call_metrics": {m.name: record.get(m.name) for m in CALL_METRICS},
        "score_components": list(record.get("score_components") or ()),
        "tracker_hits": list(record.get("tracker_hits") or ()),
        "definitions": record.get("definitions", ""),
        # the call's language and its lexicon; unsupported: lexical metrics null (docs/languages.md)
        "language": record.get("language", ""),
        "lexicon_language": record.get("lexicon_language", ""),
        "language_supported": record.get("language_supported", True),
        # the speaker-role check (docs/metrics.md, "Speaker roles")
        "roles_swapped_suspected": record.get("roles_swapped_suspected", False),
        "roles_exchanged": record.get("roles_exchanged", False),
    }


def _history_point(snapshot: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        snapshot["media_time_ms"],
        snapshot["emitted_at"],
        snapshot["score"],
        snapshot["talk_ratio_60s"],
        snapshot["monologue_current_seconds"],
        snapshot["customer_sentiment"],
    )


def _nudge_brief(nudge: Mapping[str, Any]) -> dict[str, Any]:
    return {k: nudge[k] for k in ("nudge_id", "type", "severity", "message", "created_at")}


class ConsoleState:
    """Every call, the recent nudges (read from the output topics) and the feed that merges
    them with Alertmanager's call alerts. Pure: no I/O.

    Bounded: ``history_points`` per call, ``max_nudges`` overall, ``nudges_per_call`` per
    call, ``max_feed_entries`` feed entries; ended calls go ``ended_linger_seconds`` after
    their last snapshot, everything else ``history_seconds`` after its last record.
    """

    def __init__(
        self,
        *,
        history_seconds: float,
        history_points: int = 600,
        max_nudges: int = 200,
        nudges_per_call: int = 20,
        ended_linger_seconds: float = 60.0,
        max_subscriber_queue: int = 256,
        max_feed_entries: int = 500,
        clock: Callable[[], float] = time.time,
        summary_history_days: float = 14.0,
        max_summaries_per_agent: int = 200,
        max_summaries: int = 50_000,
        max_acks: int = 20_000,
        max_scorecard_cells: int = DEFAULT_MAX_CELLS,
    ) -> None:
        self.history_seconds = history_seconds
        self.history_points = history_points
        self.nudges_per_call = nudges_per_call
        self.ended_linger_seconds = ended_linger_seconds
        self.max_subscriber_queue = max_subscriber_queue
        self.calls: dict[str, CallView] = {}
        self.nudges: deque[dict[str, Any]] = deque(maxlen=max_nudges)
        self.call_nudges: dict[str, deque[dict[str, Any]]] = {}
        self._seen_nudges: OrderedDict[str, dict[str, Any]] = OrderedDict()  # id -> brief
        self._seen_limit = max(10 * max_nudges, 2000)
        self.subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.version = 0  # moves whenever the call list may look different
        self.dropped_subscribers = 0
        self.feed = Feed(max_entries=max_feed_entries, history_seconds=history_seconds, clock=clock)
        # the agent page's ended calls, the nudges' acknowledgements and the scorecard table
        self._clock = clock
        self.agents = AgentHistory(
            history_days=summary_history_days,
            max_per_agent=max_summaries_per_agent,
            max_summaries=max_summaries,
        )
        self.acks = NudgeAcks(max_acks)
        self.scorecard_table = ScorecardTable(max_scorecard_cells)

    def clear(self) -> None:
        """Forget every call and nudge (the reader stopped; a restart re-reads history); the
        alerts stay (Alertmanager does not send them again)."""
        self.calls.clear()
        self.feed.forget_nudges()
        self.nudges.clear()
        self.call_nudges.clear()
        self._seen_nudges.clear()
        self.agents.clear()
        self.acks.clear()
        self.scorecard_table.clear()
        self.version += 1

    # -- input ----------------------------------------------------------------------
    def apply_metrics(self, record: Mapping[str, Any]) -> bool:
        """One ``CallMetrics`` snapshot; an older one than the latest is ignored."""
        snapshot = summarise(record)
        call_id = snapshot["call_id"]
        view = self.calls.get(call_id)
        if view is None:
            view = CallView(call_id, snapshot, deque(maxlen=self.history_points))
            self.calls[call_id] = view
        elif snapshot["emitted_at"] < view.emitted_at:
            return False  # snapshots of a call come from two producers: keep the newest
        else:
            view.snapshot = snapshot
            view.received_monotonic = time.monotonic()
        point = _history_point(snapshot)
        if view.history and view.history[-1][0] == point[0]:
            view.history[-1] = point  # same media time: the newer values replace the point
        elif not view.history or point[0] > view.history[-1][0]:
            view.history.append(point)
        self.version += 1
        return True

    def apply_nudge(self, record: Mapping[str, Any]) -> bool:
        """One ``Nudge``; False for a duplicate (the topic is at-least-once)."""
        nudge_id = record["nudge_id"]
        if nudge_id in self._seen_nudges:
            return False
        self._seen_nudges[nudge_id] = {
            k: record.get(k) for k in ("nudge_id", "call_id", "agent_id", "team", "type", "created_at")
        }
        while len(self._seen_nudges) > self._seen_limit:
            self._seen_nudges.popitem(last=False)
        nudge = dict(record)
        nudge["evidence"] = dict(nudge.get("evidence") or {})
        self.nudges.append(nudge)
        per_call = self.call_nudges.setdefault(nudge["call_id"], deque(maxlen=self.nudges_per_call))
        per_call.append(nudge)
        self.version += 1
        self.publish({"event": "entry", "data": self.with_ack(self.feed.add_nudge(nudge))})
        return True

    def apply_alerts(self, alerts: list[AlertNotice]) -> tuple[int, int]:
        """The alerts of one Alertmanager notification: (shown, ignored). Platform alerts and
        alerts about neither a call nor a team are ignored."""
        shown = [alert for alert in alerts if alert.shown]
        for alert in shown:
            entry = self.feed.add_alert(alert)
            if entry is not None:
                self.version += 1
                self.publish({"event": "entry", "data": self.with_ack(entry)})
        return len(shown), len(alerts) - len(shown)

    def expire(self, now_ms: int) -> int:
        """Drop ended calls after the linger time and anything older than the history."""
        oldest = now_ms - self.history_seconds * 1000
        ended_before = now_ms - self.ended_linger_seconds * 1000
        gone = [
            call_id
            for call_id, view in self.calls.items()
            if view.emitted_at < oldest or (view.ended and view.emitted_at < ended_before)
        ]
        for call_id in gone:
            del self.calls[call_id]
        for call_id, nudges in list(self.call_nudges.items()):
            while nudges and nudges[0]["created_at"] < oldest:
                nudges.popleft()
            if not nudges or call_id in gone:
                del self.call_nudges[call_id]
        while self.nudges and self.nudges[0]["created_at"] < oldest:
            self.nudges.popleft()
        self.feed.expire(now_ms)
        self.agents.expire(now_ms)
        if gone:
            self.version += 1
        return len(gone)

    # -- views ----------------------------------------------------------------------
    def last_nudge(self, call_id: str) -> dict[str, Any] | None:
        nudges = self.call_nudges.get(call_id)
        return _nudge_brief(nudges[-1]) if nudges else None

    def call_list(
        self, team: str | None = None, limit: int | None = None, teams: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Calls, lowest score first; calls with no score yet last (newest first among them);
        of ``team``, and of ``teams`` only when given (a supervisor's)."""
        views = [v for v in self.calls.values() if not team or v.snapshot["team"] == team]
        if teams is not None:
            views = [v for v in views if v.snapshot["team"] in teams]
        views.sort(
            key=lambda v: (
                v.snapshot["score"] is None,
                v.snapshot["score"] if v.snapshot["score"] is not None else 0.0,
                -v.snapshot["media_time_ms"],
                v.call_id,
            )
        )
        if limit is not None:
            views = views[:limit]
        rows = []
        for view in views:
            row = {k: v for k, v in view.snapshot.items() if k not in DETAIL_ONLY}
            row["last_nudge"] = self.last_nudge(view.call_id)
            rows.append(row)
        return rows

    def teams(self) -> list[str]:
        return sorted({v.snapshot["team"] for v in self.calls.values()})

    def call_detail(self, call_id: str) -> dict[str, Any] | None:
        view = self.calls.get(call_id)
        nudges = list(self.call_nudges.get(call_id, ()))
        if view is None and not nudges and not self.feed.of_call(call_id):
            return None
        return {
            "call_id": call_id,
            "snapshot": view.snapshot if view is not None else None,
            "history": {
                "fields": list(HISTORY_FIELDS),
                "points": [list(p) for p in view.history] if view is not None else [],
            },
            "nudges": [{**n, "ack": self.acks.get(n["nudge_id"])} for n in nudges],
            "feed": [self.with_ack(e) for e in self.feed.of_call(call_id)],  # its merged entries
            "catalogue": CATALOGUE,  # what the page's metric table shows, row by row
        }

    def recent_nudges(self) -> list[dict[str, Any]]:
        return list(self.nudges)

    def recent_entries(self) -> list[dict[str, Any]]:
        """The feed's entries, oldest change first (a stream's backlog)."""
        return [self.with_ack(entry) for entry in self.feed.recent()]

    # -- the agent page and acknowledgements (streams.console.agents, .acks) ---------
    def with_ack(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A feed entry with the acknowledgement of its (latest) nudge, or ``"ack": None``."""
        entry["ack"] = self.acks.get(entry.get("nudge_id"))
        return entry

    def nudge(self, nudge_id: str) -> dict[str, Any] | None:
        """What the console knows of a nudge it read (id, call, agent, team, type), or None."""
        return self._seen_nudges.get(nudge_id)

    def apply_ack(self, record: Mapping[str, Any]) -> bool:
        """One ``NudgeAck`` (read from the topic, or just written); the feed entries showing
        that nudge are sent again with it. False when nothing changed."""
        if not self.acks.apply(record):
            return False
        self._republish_nudge(record["nudge_id"])
        return True

    def forget_ack(self, nudge_id: str) -> bool:
        """An erased acknowledgement (a tombstone on the topic): its entries are sent again."""
        if not self.acks.forget(nudge_id):
            return False
        self._republish_nudge(nudge_id)
        return True

    def _republish_nudge(self, nudge_id: str) -> None:
        for entry in self.feed.entries.values():
            if entry.nudge is not None and entry.nudge.get("nudge_id") == nudge_id:
                self.publish({"event": "entry", "data": self.with_ack(entry.to_json())})

    def apply_summary(self, record: Mapping[str, Any]) -> bool:
        """One ``CallSummary`` for the agent page (bounded; see AgentHistory)."""
        return self.agents.add(record, int(self._clock() * 1000))

    def agent_teams(self, agent_id: str) -> list[str]:
        """The teams the console saw ``agent_id`` in: live calls and ended calls held."""
        teams = {v.snapshot["team"] for v in self.calls.values() if v.snapshot["agent_id"] == agent_id}
        teams.update(s["team"] for s in self.agents.of_agent(agent_id))
        return sorted(teams)

    def _acked(self, nudge_ids: Iterable[str]) -> int:
        return sum(1 for nudge_id in nudge_ids if self.acks.record(nudge_id) is not None)

    def agent_view(self, agent_id: str, teams: Iterable[str]) -> dict[str, Any]:
        """The agent page of ``agent_id`` in ``teams`` (those the asker may see)."""
        now_ms = int(self._clock() * 1000)
        live = []
        for view in self.calls.values():
            if view.snapshot["agent_id"] != agent_id:
                continue
            nudges = [n["nudge_id"] for n in self.call_nudges.get(view.call_id, ())]
            live.append(live_row(view.snapshot, len(nudges), self._acked(nudges), now_ms))
        return agent_page(
            agent_id,
            teams=set(teams),
            summaries=self.agents.of_agent(agent_id),
            live=live,
            acked_of=self._acked,
            held_of=lambda call_id: call_id in self.calls or call_id in self.call_nudges,
            now_ms=now_ms,
            history_days=self.agents.history_days,
        )

    # -- fan-out --------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=self.max_subscriber_queue)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self.subscribers.discard(queue)

    def publish(self, message: dict[str, Any] | None) -> None:
        """Never blocks: a subscriber whose queue is full is cut off (its browser reconnects
        and gets the backlog); ``None`` tells every subscriber to close."""
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.subscribers.discard(queue)
                self.dropped_subscribers += 1
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    def close_subscribers(self) -> None:
        self.publish(None)


class SkippedRecords:
    """Records the console's reader could not decode, for a log line at most once per
    interval: during a rolling upgrade a worker of the older release cannot read any
    snapshot of the newer one (thousands a second), and a line each buried the log."""

    def __init__(self, interval_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._counts: dict[tuple[str, str], int] = {}
        self._last_logged = float("-inf")
        self.total = 0

    def skip(self, topic: str, reason: str) -> str | None:
        """Count one skipped record; a message to log when the interval has passed."""
        self.total += 1
        key = (topic, reason)
        self._counts[key] = self._counts.get(key, 0) + 1
        now = self._clock()
        if now - self._last_logged < self.interval_seconds:
            return None
        first = self._last_logged == float("-inf")
        self._last_logged = now
        counts = ", ".join(f"{n} on {t} ({r})" for (t, r), n in sorted(self._counts.items()))
        self._counts.clear()
        since = "" if first else f" in the last {self.interval_seconds:g} s"
        return (
            f"console: skipped records it cannot decode{since}: {counts}; "
            "unknown_schema usually means a worker of another release wrote them"
        )


READY_WAIT_SECONDS = 5.0


class ConsoleDemand:
    """Whether the console is in use, so that its Kafka reader runs only then."""

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self._clock = clock
        self.last_request = float("-inf")
        self.wanted = asyncio.Event()
        self.caught_up = asyncio.Event()  # the reader has read up to the end offsets it started at

    def touch(self) -> None:
        self.last_request = self._clock()
        self.wanted.set()

    def idle(self, open_streams: int) -> bool:
        return open_streams == 0 and self._clock() - self.last_request > self.idle_seconds

    async def ready(self, timeout: float = READY_WAIT_SECONDS) -> None:
        """Touch, and wait for the reader's catch-up (a cold console answers with data)."""
        self.touch()
        if not self.caught_up.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.caught_up.wait(), timeout)
