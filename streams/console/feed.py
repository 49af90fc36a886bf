"""The console's feed: nudges and Alertmanager's call alerts merged per call and type. Pure.

A nudge (from the nudges topic) and a Prometheus alert (posted by Alertmanager) about the same
thing on the same call are one entry: the supervisor is told once, and sees that both the
worker's nudge rule and the alert rule fired. An entry is keyed by (call_id, type) — by
(team, type) for a team alert — and shows the latest nudge and the latest state of the alert:

- ``sources``: ``["nudge"]``, ``["alert"]`` or ``["nudge", "alert"]``;
- ``severity``: the higher of the nudge's and the alert's (critical > warning > info);
- ``updated_at``: the latest of the nudge's ``created_at``, the alert's ``startsAt`` and, when
  resolved, its ``endsAt`` (ms since the epoch);
- ``resolved``: the alert resolved and no nudge came after its end.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.console.alerts import AlertNotice

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
NUDGE_FIELDS = ("nudge_id", "message", "created_at", "evidence", "snippet")


def entry_key(call_id: str | None, team: str, feed_type: str) -> str:
    subject = call_id if call_id else f"team:{team}"
    return f"{subject}/{feed_type}"


def higher_severity(a: str | None, b: str | None) -> str:
    present = [s for s in (a, b) if s]
    return max(present, key=lambda s: SEVERITY_RANK.get(s, 0)) if present else "warning"


@dataclass
class FeedEntry:
    """One (call, type) of the feed: its latest nudge and the latest state of its alert."""

    key: str
    call_id: str | None
    team: str
    agent_id: str | None
    type: str
    nudge: dict[str, Any] | None = None
    nudge_count: int = 0
    alert: AlertNotice | None = None
    notified_ms: float = 0.0  # the console's clock at the alert's last notification (expiry)

    @property
    def resolved(self) -> bool:
        if self.alert is None or self.alert.status != "resolved":
            return False
        end = self.alert.ends_at if self.alert.ends_at is not None else self.alert.starts_at
        return self.nudge is None or int(self.nudge["created_at"]) <= end

    @property
    def updated_at(self) -> int:
        times = [int(self.nudge["created_at"])] if self.nudge is not None else []
        if self.alert is not None:
            times.append(self.alert.starts_at)
            if self.alert.status == "resolved" and self.alert.ends_at is not None:
                times.append(self.alert.ends_at)
        return max(times)

    def to_json(self) -> dict[str, Any]:
        nudge, alert = self.nudge, self.alert
        sources = [name for name, part in (("nudge", nudge), ("alert", alert)) if part is not None]
        out: dict[str, Any] = {
            "key": self.key,
            "call_id": self.call_id,
            "team": self.team,
            "agent_id": self.agent_id,
            "type": self.type,
            "sources": sources,
            "severity": higher_severity(
                nudge["severity"] if nudge else None, alert.severity if alert else None
            ),
            "updated_at": self.updated_at,
            "resolved": self.resolved,
            "nudge_count": self.nudge_count,
        }
        if nudge is not None:
            out.update({name: nudge.get(name) for name in NUDGE_FIELDS})
        else:  # an alert alone: its summary is the message
            assert alert is not None
            out.update(
                {"nudge_id": None, "message": alert.summary, "created_at": alert.starts_at, "evidence": {}}
            )
            out["snippet"] = None
        out["alert"] = (
            None
            if alert is None
            else {
                "alertname": alert.alertname,
                "status": alert.status,
                "severity": alert.severity,
                "summary": alert.summary,
                "description": alert.description,
                "runbook_url": alert.runbook_url,
                "starts_at": alert.starts_at,
                "ends_at": alert.ends_at,
                "fingerprint": alert.fingerprint,
            }
        )
        return out


def _newer_alert(current: AlertNotice | None, incoming: AlertNotice) -> bool:
    """Whether ``incoming`` replaces ``current``: a later firing, or news of the same one,
    except a stale "firing" of an alert already known resolved (notifications can cross)."""
    if current is None or incoming.starts_at > current.starts_at:
        return True
    if incoming.starts_at < current.starts_at:
        return False
    return not (current.status == "resolved" and incoming.status == "firing")


class Feed:
    """The merged entries, newest change last; at most ``max_entries`` (the oldest change goes)."""

    def __init__(
        self,
        *,
        max_entries: int = 500,
        history_seconds: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self.history_seconds = history_seconds
        self._clock = clock
        self.entries: OrderedDict[str, FeedEntry] = OrderedDict()

    def _entry(self, call_id: str | None, team: str, agent_id: str | None, feed_type: str) -> FeedEntry:
        key = entry_key(call_id, team, feed_type)
        entry = self.entries.get(key)
        if entry is None:
            entry = FeedEntry(key, call_id, team, agent_id, feed_type)
            self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return entry

    def add_nudge(self, nudge: Mapping[str, Any]) -> dict[str, Any]:
        """A new nudge (already de-duplicated); the entry it changed, as JSON."""
        entry = self._entry(nudge["call_id"], nudge["team"], nudge.get("agent_id"), nudge["type"])
        if entry.nudge is None or int(nudge["created_at"]) >= int(entry.nudge["created_at"]):
            entry.nudge = dict(nudge)
        entry.nudge_count += 1
        entry.agent_id = entry.agent_id or nudge.get("agent_id")
        return entry.to_json()

    def add_alert(self, alert: AlertNotice) -> dict[str, Any] | None:
        """One alert of a notification; the entry it changed as JSON, None when nothing changed
        (Alertmanager re-sends a firing alert every repeat_interval)."""
        key = entry_key(alert.call_id, alert.team, alert.feed_type)
        current = self.entries.get(key)
        if current is not None:
            current.notified_ms = self._clock() * 1000  # still firing: keep the entry
            if current.alert == alert or not _newer_alert(current.alert, alert):
                return None
        entry = self._entry(alert.call_id, alert.team, alert.agent_id, alert.feed_type)
        entry.notified_ms = self._clock() * 1000
        entry.alert = alert
        entry.agent_id = entry.agent_id or alert.agent_id
        return entry.to_json()

    def expire(self, now_ms: float) -> int:
        """Drop entries whose latest event is older than ``history_seconds`` (as the nudges
        read from Kafka) unless Alertmanager notified about them since (a firing alert is
        re-sent every repeat_interval)."""
        oldest = now_ms - self.history_seconds * 1000
        gone = [
            key
            for key, entry in self.entries.items()
            if entry.updated_at < oldest and entry.notified_ms < oldest
        ]
        for key in gone:
            del self.entries[key]
        return len(gone)

    def forget_nudges(self) -> None:
        """Drop the nudges (their reader stopped; it re-reads them when it starts again) and keep
        the alerts, which only Alertmanager's next notification would bring back."""
        for key, entry in list(self.entries.items()):
            if entry.alert is None:
                del self.entries[key]
            else:
                entry.nudge, entry.nudge_count = None, 0

    def recent(self) -> list[dict[str, Any]]:
        """Every entry, oldest change first (the order a stream's backlog sends them)."""
        return [entry.to_json() for entry in self.entries.values()]

    def of_call(self, call_id: str) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.entries.values() if e.call_id == call_id]
