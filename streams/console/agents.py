"""The console's agent page: one agent's recent calls and the trend of their score. Pure.

Ended calls come from ``<prefix>.call-summaries`` (:class:`AgentHistory` holds them, bounded:
``history_days`` back, ``max_per_agent`` per agent, ``max_summaries`` in all); live calls come
from the console's own call state. The trend is the agent's scorecards per day
(:func:`streams.coaching.scorecards.build_scorecards` over the summaries held): the mean and
the 10th percentile of the score, one series per ``definitions`` (values computed under
different definitions are never drawn as one line).
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from streams.coaching.scorecards import Scorecard, build_scorecards, card_at

DAY_MS = 86_400_000
# what the agent page and the scorecards read of a CallSummary; the rest is not kept
SUMMARY_FIELDS = (
    "call_id",
    "agent_id",
    "team",
    "queue",
    "started_at",
    "ended_at",
    "duration_seconds",
    "customer_focus_score",
    "agent_talk_ratio",
    "questions_per_minute",
    "open_question_ratio",
    "monologue_longest_seconds",
    "nudges",
    "tracker_hits",
    "definitions",
)


def trimmed(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ``CallSummary`` cut to what the agent page needs."""
    kept = {name: record.get(name) for name in SUMMARY_FIELDS}
    kept["nudges"] = tuple(kept["nudges"] or ())
    kept["tracker_hits"] = tuple(
        {"tracker": hit["tracker"], "hits": int(hit["hits"])} for hit in kept["tracker_hits"] or ()
    )
    kept["definitions"] = kept["definitions"] or ""
    return kept


class AgentHistory:
    """Ended calls per agent: the newest ``max_per_agent`` of each agent, at most
    ``max_summaries`` in all (the call that ended first goes first), none older than
    ``history_days``. A call summarised again (a replay) replaces its summary."""

    def __init__(
        self, *, history_days: float = 14.0, max_per_agent: int = 200, max_summaries: int = 50_000
    ) -> None:
        self.history_days = history_days
        self.max_per_agent = max_per_agent
        self.max_summaries = max_summaries
        self.by_call: dict[str, dict[str, Any]] = {}
        self.by_agent: dict[str, dict[str, dict[str, Any]]] = {}
        # (ended_at, call_id) of every summary held, oldest first; entries of replaced or
        # dropped summaries stay until they reach the top (lazy deletion)
        self._ends: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self.by_call)

    def add(self, record: Mapping[str, Any], now_ms: int) -> bool:
        """One ``CallSummary``; False when older than the history or than the agent's kept calls."""
        summary = trimmed(record)
        ended_at = int(summary["ended_at"])
        if ended_at < now_ms - self.history_days * DAY_MS:
            return False
        call_id, agent_id = summary["call_id"], summary["agent_id"]
        self._drop(call_id)
        calls = self.by_agent.setdefault(agent_id, {})
        if len(calls) >= self.max_per_agent:
            oldest = min(calls.values(), key=_ended)
            if _ended(oldest) >= ended_at:
                return False  # the agent's newest calls are kept, and this is not one of them
            self._drop(oldest["call_id"])
            calls = self.by_agent.setdefault(agent_id, {})
        calls[call_id] = summary
        self.by_call[call_id] = summary
        heapq.heappush(self._ends, (ended_at, call_id))
        while len(self.by_call) > self.max_summaries:
            self._drop_oldest()
        self._compact_heap()
        return True

    def expire(self, now_ms: int) -> int:
        """Drop the summaries of calls that ended more than ``history_days`` ago."""
        oldest = now_ms - self.history_days * DAY_MS
        gone = 0
        while self._ends and self._ends[0][0] < oldest:
            ended_at, call_id = heapq.heappop(self._ends)
            held = self.by_call.get(call_id)
            if held is not None and _ended(held) == ended_at:
                self._drop(call_id)
                gone += 1
        return gone

    def of_agent(self, agent_id: str) -> list[dict[str, Any]]:
        return list(self.by_agent.get(agent_id, {}).values())

    def clear(self) -> None:
        self.by_call.clear()
        self.by_agent.clear()
        self._ends.clear()

    def _drop(self, call_id: str) -> None:
        held = self.by_call.pop(call_id, None)
        if held is None:
            return
        calls = self.by_agent.get(held["agent_id"])
        if calls is not None:
            calls.pop(call_id, None)
            if not calls:
                del self.by_agent[held["agent_id"]]

    def _drop_oldest(self) -> None:
        while self._ends:
            ended_at, call_id = heapq.heappop(self._ends)
            held = self.by_call.get(call_id)
            if held is not None and _ended(held) == ended_at:
                self._drop(call_id)
                return

    def _compact_heap(self) -> None:
        # stale entries (replaced or dropped summaries) at most as many as the live ones
        if len(self._ends) > 2 * len(self.by_call) + 64:
            self._ends = [(_ended(s), c) for c, s in self.by_call.items()]
            heapq.heapify(self._ends)


def _ended(summary: Mapping[str, Any]) -> int:
    return int(summary["ended_at"])


def day_of(at_ms: int, zone: tzinfo = UTC) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=zone).date().isoformat()


def summary_row(summary: Mapping[str, Any], acked: int, held: bool, zone: tzinfo = UTC) -> dict[str, Any]:
    """One ended call of the agent page."""
    at = summary["started_at"] if summary["started_at"] is not None else summary["ended_at"]
    return {
        "call_id": summary["call_id"],
        "team": summary["team"],
        "queue": summary["queue"],
        "live": False,
        "started_at": summary["started_at"],
        "ended_at": summary["ended_at"],
        "at": at,
        "day": day_of(at, zone),
        "score": summary["customer_focus_score"],
        "duration_seconds": summary["duration_seconds"],
        "nudges": len(summary["nudges"]),
        "nudges_acked": acked,
        "tracker_hits": [dict(hit) for hit in summary["tracker_hits"]],
        "definitions": summary["definitions"],
        "held": held,
    }


def live_row(
    snapshot: Mapping[str, Any], nudges: int, acked: int, received_at_ms: int, zone: tzinfo = UTC
) -> dict[str, Any]:
    """One call of the agent page from the console's live state (no summary of it held yet)."""
    ended = bool(snapshot.get("ended"))
    started = int(snapshot["emitted_at"]) - int(snapshot["media_time_ms"])
    at = started if started > 0 else received_at_ms
    return {
        "call_id": snapshot["call_id"],
        "team": snapshot["team"],
        "queue": snapshot["queue"],
        "live": not ended,
        "started_at": None,
        "ended_at": int(snapshot["emitted_at"]) if ended else None,
        "at": at,
        "day": day_of(at, zone),
        "score": snapshot.get("score"),
        "duration_seconds": int(snapshot["media_time_ms"]) / 1000,
        "nudges": nudges,
        "nudges_acked": acked,
        "tracker_hits": [dict(hit) for hit in snapshot.get("tracker_hits") or ()],
        "definitions": snapshot.get("definitions", ""),
        "held": True,
    }


def trend(agent_id: str, summaries: Iterable[Mapping[str, Any]], zone: tzinfo = UTC) -> list[dict[str, Any]]:
    """The agent's scorecards per day and definitions (teams merged), oldest day first."""
    merged: dict[tuple[str, str], Scorecard] = {}
    cards = build_scorecards(summaries, zone)
    for key in sorted(cards):
        if key.agent_id != agent_id:
            continue
        card_at(merged, (key.day.isoformat(), key.definitions)).merge(cards[key])
    points = []
    for (day, definitions), card in sorted(merged.items()):
        figures = card.figures()
        points.append(
            {
                "day": day,
                "definitions": definitions,
                "calls": figures.calls,
                "mean_score": figures.mean_score,
                "p10_score": figures.p10_score,
                "nudges_per_call": figures.nudges_per_call,
                "tracker_hits_per_call": figures.tracker_hits_per_call,
            }
        )
    return points


def agent_page(
    agent_id: str,
    *,
    teams: Collection[str],
    summaries: Iterable[Mapping[str, Any]],
    live: Iterable[dict[str, Any]],
    acked_of: Any,
    held_of: Any,
    now_ms: int,
    history_days: float,
    zone: tzinfo = UTC,
) -> dict[str, Any]:
    """The JSON of ``GET /api/agents/{agent_id}``: calls newest first (live ones and ended
    ones, each once), and the per-day trend of the agent's summaries in ``teams``.

    ``acked_of(nudge_ids)`` counts the acknowledged ones; ``held_of(call_id)`` says whether
    the console still holds the call's detail."""
    kept = [s for s in summaries if s["team"] in teams]
    rows = {s["call_id"]: summary_row(s, acked_of(s["nudges"]), held_of(s["call_id"]), zone) for s in kept}
    for row in live:
        if row["team"] in teams and row["call_id"] not in rows:
            rows[row["call_id"]] = row
    calls = sorted(rows.values(), key=lambda r: (r["at"], r["call_id"]), reverse=True)
    return {
        "agent_id": agent_id,
        "teams": sorted(teams),
        "calls": calls,
        "trend": trend(agent_id, kept, zone),
        "today": day_of(now_ms, zone),
        "history_days": history_days,
        "server_time": now_ms,
    }
