"""Alertmanager's webhook notifications, read for the console's feed. Pure: no I/O.

Alertmanager posts a JSON body (payload ``version`` "4") with ``status`` and ``alerts[]``, each
with ``status``, ``labels``, ``annotations``, ``startsAt``, ``endsAt`` and ``fingerprint``.
:func:`parse_notification` checks it and keeps only what the feed shows, each value bounded, so
a wrong or hostile body costs a bounded amount of memory and gets a one-line reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.engine.nudges import ALL_NUDGE_TYPES

# A supervisors' alert that is the Prometheus side of a nudge (deploy/prometheus/rules: same
# metric, same default threshold) says which in its `nudge_type` label, and the feed shows it
# under that type: one entry per call and type with both sources. Any other alert (a team
# alert has no call_id) is a type of its own, named after the alert.
NUDGE_TYPE_LABEL = "nudge_type"


def separate_type(alertname: str) -> str:
    """The feed type of an alert with no nudge: CallfocusTeamScoreLow -> team_score_low."""
    name = alertname.removeprefix("Callfocus")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() or alertname


PAYLOAD_VERSION = "4"
STATUSES = frozenset({"firing", "resolved"})
# the labels the feed reads; the others are dropped on arrival
KEPT_LABELS = ("alertname", "call_id", "agent_id", "team", "queue", "severity", "audience", NUDGE_TYPE_LABEL)
KEPT_ANNOTATIONS = ("summary", "description", "runbook_url")
MAX_ALERTS = 1000  # per notification; the shipped receiver sets max_alerts far below it
MAX_LABEL_CHARS = 200
MAX_ANNOTATION_CHARS = 2000
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Go writes nanoseconds; Python reads microseconds


class PayloadError(ValueError):
    """A notification the console cannot read; the message is the one-line reason."""


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One alert of a notification, as the feed needs it."""

    fingerprint: str
    alertname: str
    status: str  # firing | resolved
    call_id: str | None
    agent_id: str | None
    team: str
    severity: str
    audience: str | None
    nudge_type: str | None  # a known nudge type, from the alert's nudge_type label
    summary: str
    description: str
    runbook_url: str
    starts_at: int  # ms since the epoch
    ends_at: int | None  # ms; None while firing with no end announced

    @property
    def feed_type(self) -> str:
        """The alert's nudge type (its ``nudge_type`` label), else a type of its own."""
        return self.nudge_type or separate_type(self.alertname)

    @property
    def shown(self) -> bool:
        """Whether the supervisors' feed shows it: about a call or a team, not the platform's."""
        return self.audience in (None, "supervisors") and bool(self.call_id or self.team)


def parse_time(value: Any, field: str) -> int | None:
    """An RFC 3339 time in ms since the epoch; None for Go's zero time (no end yet)."""
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{field}: expected an RFC 3339 time, got {value!r}"[:200])
    if value.startswith("0001-01-01"):
        return None
    text = _FRACTION.sub(r"\1", value.replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{field}: not an RFC 3339 time: {value[:60]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _strings(value: Any, field: str, kept: tuple[str, ...], limit: int) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PayloadError(f"{field}: expected an object")
    out = {}
    for name in kept:
        item = value.get(name)
        if item is None:
            continue
        if not isinstance(item, str):
            raise PayloadError(f"{field}.{name}: expected a string")
        out[name] = item[:limit]
    return out


def _alert(raw: Any, index: int) -> AlertNotice:
    where = f"alerts[{index}]"
    if not isinstance(raw, dict):
        raise PayloadError(f"{where}: expected an object")
    status = raw.get("status")
    if status not in STATUSES:
        raise PayloadError(f"{where}.status: expected firing or resolved, got {status!r}"[:200])
    labels = _strings(raw.get("labels"), f"{where}.labels", KEPT_LABELS, MAX_LABEL_CHARS)
    if not labels.get("alertname"):
        raise PayloadError(f"{where}.labels: no alertname")
    annotations = _strings(
        raw.get("annotations", {}), f"{where}.annotations", KEPT_ANNOTATIONS, MAX_ANNOTATION_CHARS
    )
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise PayloadError(f"{where}.fingerprint: expected a string")
    starts_at = parse_time(raw.get("startsAt"), f"{where}.startsAt")
    if starts_at is None:
        raise PayloadError(f"{where}.startsAt: the zero time")
    ends_at = parse_time(raw.get("endsAt"), f"{where}.endsAt")
    return AlertNotice(
        fingerprint=fingerprint[:MAX_LABEL_CHARS],
        alertname=labels["alertname"],
        status=status,
        call_id=labels.get("call_id") or None,
        agent_id=labels.get("agent_id") or None,
        team=labels.get("team", ""),
        severity=labels.get("severity", "warning"),
        audience=labels.get("audience"),
        nudge_type=labels.get(NUDGE_TYPE_LABEL) if labels.get(NUDGE_TYPE_LABEL) in ALL_NUDGE_TYPES else None,
        summary=annotations.get("summary", labels["alertname"]),
        description=annotations.get("description", ""),
        runbook_url=annotations.get("runbook_url", ""),
        starts_at=starts_at,
        ends_at=ends_at if ends_at is not None and ends_at >= starts_at else None,
    )


def parse_notification(body: Any) -> list[AlertNotice]:
    """The alerts of one webhook notification (the decoded JSON body); PayloadError if it is not one."""
    if not isinstance(body, dict):
        raise PayloadError("expected a JSON object (an Alertmanager webhook notification)")
    version = body.get("version")
    if version != PAYLOAD_VERSION:
        raise PayloadError(
            f"unsupported webhook payload version {version!r}; expected {PAYLOAD_VERSION!r}"[:200]
        )
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts: expected a list")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(
            f"alerts: {len(alerts)} alerts, at most {MAX_ALERTS} (set max_alerts on the receiver)"
        )
    return [_alert(raw, index) for index, raw in enumerate(alerts)]
