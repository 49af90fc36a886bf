"""The console's feed: Alertmanager notifications read, and merged with nudges per call and type (pure)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.console.alerts import (
    MAX_ALERTS,
    MAX_LABEL_CHARS,
    PayloadError,
    parse_notification,
    parse_time,
    separate_type,
)
from streams.console.feed import Feed
from streams.console.state import ConsoleState
from streams.engine.nudges import NUDGE_TYPES
from tests.unit.test_console_state import nudge

ROOT = Path(__file__).resolve().parents[2]
ALERT_RULES = ROOT / "deploy" / "prometheus" / "rules" / "callfocus-alerts.yml"

T0 = 1_764_960_000_000  # 2025-12-05T18:40:00Z in ms
T0_TEXT = "2025-12-05T18:40:00Z"


def alert(
    status: str = "firing",
    alertname: str = "CallfocusMonologue",
    call_id: str | None = "a",
    starts_at: str = T0_TEXT,
    ends_at: str = "0001-01-01T00:00:00Z",
    severity: str = "warning",
    **labels: str,
) -> dict[str, Any]:
    base = {"alertname": alertname, "agent_id": "agent-a", "team": "sales", "queue": "q"}
    if alertname == "CallfocusMonologue":  # as the rules label it
        base["nudge_type"] = "monologue"
    base.update(severity=severity, audience="supervisors", **labels)
    if call_id is not None:
        base["call_id"] = call_id
    return {
        "status": status,
        "labels": base,
        "annotations": {"summary": f"{alertname} on {call_id}", "description": "d", "runbook_url": "u"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus/graph",
        "fingerprint": f"fp-{alertname}-{call_id}",
    }


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    """The webhook body Alertmanager 0.2x sends (its version 4 payload)."""
    return {
        "version": "4",
        "groupKey": '{}/{audience="supervisors"}:{alertname="CallfocusMonologue"}',
        "truncatedAlerts": 0,
        "status": "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing",
        "receiver": "supervisors-console",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


class Clock:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self) -> float:
        return self.seconds


# -- the mapping ------------------------------------------------------------------------------


def supervisor_alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERT_RULES.read_text(encoding="utf-8"))["groups"]
    return [
        rule
        for group in groups
        for rule in group["rules"]
        if "alert" in rule and rule.get("labels", {}).get("audience") == "supervisors"
    ]


def test_every_supervisors_alert_names_a_nudge_type_or_has_a_type_of_its_own() -> None:
    rules = supervisor_alerts()
    assert rules, f"no supervisors' alerts in {ALERT_RULES}"
    for rule in rules:
        nudge_type = rule["labels"].get("nudge_type")
        if nudge_type is not None:
            assert nudge_type in NUDGE_TYPES, rule["alert"]
            assert "call_id" in rule["expr"].split("(")[1], f"{rule['alert']} is not by call_id"
        else:
            assert separate_type(rule["alert"]) not in NUDGE_TYPES, rule["alert"]
    assert {r["labels"].get("nudge_type") for r in rules} >= {"monologue", "dead_air", "overtalk"}
    assert separate_type("CallfocusTeamScoreLow") == "team_score_low"


def test_an_unknown_nudge_type_label_is_a_type_of_its_own() -> None:
    [notice] = parse_notification(notification(alert(alertname="CallfocusOdd", nudge_type="not_a_nudge")))
    assert notice.feed_type == "odd"


# -- reading a notification -------------------------------------------------------------------


def test_a_notification_is_read_with_times_in_ms_and_only_the_kept_labels() -> None:
    raw = alert(ends_at="2025-12-05T18:41:30.123456789Z", status="resolved", extra="x" * 5000)
    [notice] = parse_notification(notification(raw))
    assert notice.starts_at == T0 and notice.ends_at == T0 + 90_123
    assert notice.feed_type == "monologue" and notice.call_id == "a" and notice.team == "sales"
    assert notice.status == "resolved" and notice.summary == "CallfocusMonologue on a"
    assert not hasattr(notice, "extra")
    [firing] = parse_notification(notification(alert()))
    assert firing.ends_at is None  # Go's zero time: no end announced


def test_label_values_are_bounded() -> None:
    [notice] = parse_notification(notification(alert(call_id="c" * 10_000)))
    assert notice.call_id == "c" * MAX_LABEL_CHARS


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "expected a JSON object"),
        ({"alerts": []}, "unsupported webhook payload version None"),
        ({"version": "4"}, "alerts: expected a list"),
        ({"version": "4", "alerts": [1]}, "alerts[0]: expected an object"),
        ({"version": "4", "alerts": [{**alert(), "status": "pending"}]}, "alerts[0].status"),
        ({"version": "4", "alerts": [{**alert(), "labels": {"team": "s"}}]}, "no alertname"),
        (
            {"version": "4", "alerts": [{**alert(), "labels": {"alertname": 3}}]},
            "alertname: expected a string",
        ),
        ({"version": "4", "alerts": [{**alert(), "startsAt": "yesterday"}]}, "not an RFC 3339 time"),
        ({"version": "4", "alerts": [{**alert(), "fingerprint": None}]}, "fingerprint"),
        ({"version": "4", "alerts": [alert()] * (MAX_ALERTS + 1)}, "set max_alerts"),
    ],
)
def test_a_bad_notification_has_a_one_line_reason(body: Any, reason: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_notification(body)
    assert reason in str(raised.value) and "\n" not in str(raised.value)


def test_times_with_offsets() -> None:
    assert parse_time("2025-12-05T19:40:00+01:00", "t") == T0
    assert parse_time("0001-01-01T00:00:00Z", "t") is None


# -- the merge --------------------------------------------------------------------------------


def feed(now_s: float = T0 / 1000) -> tuple[Feed, Clock]:
    clock = Clock(now_s)
    return Feed(history_seconds=900, clock=clock), clock


def notice(**kwargs: Any) -> Any:
    [parsed] = parse_notification(notification(alert(**kwargs)))
    return parsed


def test_a_nudge_and_an_alert_of_the_same_call_and_type_are_one_entry_with_both_sources() -> None:
    entries, _ = feed()
    entries.add_nudge(nudge("n1", call_id="a", created_at=T0 + 5_000))
    merged = entries.add_alert(notice())
    assert merged is not None
    assert [e["key"] for e in entries.recent()] == ["a/monologue"]
    assert merged["sources"] == ["nudge", "alert"] and merged["nudge_id"] == "n1"
    assert merged["updated_at"] == T0 + 5_000  # the nudge came after the alert started
    assert merged["alert"]["status"] == "firing" and not merged["resolved"]


def test_another_call_or_type_is_another_entry() -> None:
    entries, _ = feed()
    entries.add_nudge(nudge("n1", call_id="a"))
    entries.add_alert(notice(call_id="b"))
    entries.add_alert(notice(alertname="CallfocusTalkDominance"))
    assert sorted(e["key"] for e in entries.recent()) == ["a/monologue", "a/talk_dominance", "b/monologue"]


def test_severity_is_the_higher_and_time_the_latest() -> None:
    entries, _ = feed()
    entries.add_alert(notice(alertname="CallfocusCustomerNegative", severity="critical"))
    later = {**nudge("n1", created_at=T0 + 60_000), "type": "customer_negative", "severity": "warning"}
    entry = entries.add_nudge(later)
    assert entry["severity"] == "critical" and entry["updated_at"] == T0 + 60_000
    assert entry["sources"] == ["nudge", "alert"] and entry["type"] == "customer_negative"


def test_a_resolved_alert_marks_the_entry_resolved_until_a_later_nudge() -> None:
    entries, _ = feed()
    entries.add_nudge(nudge("n1", created_at=T0 + 1_000))
    entries.add_alert(notice())
    resolved = entries.add_alert(notice(status="resolved", ends_at="2025-12-05T18:42:00Z"))
    assert resolved is not None and resolved["resolved"] and resolved["updated_at"] == T0 + 120_000
    again = entries.add_nudge(nudge("n2", created_at=T0 + 300_000))
    assert not again["resolved"] and again["nudge_count"] == 2


def test_a_stale_firing_after_the_resolution_and_a_repeat_change_nothing() -> None:
    entries, _ = feed()
    assert entries.add_alert(notice()) is not None
    assert entries.add_alert(notice()) is None  # repeat_interval re-sends the same alert
    entries.add_alert(notice(status="resolved", ends_at="2025-12-05T18:42:00Z"))
    assert entries.add_alert(notice()) is None  # crossed on the way: still resolved
    [entry] = entries.recent()
    assert entry["resolved"]
    refired = entries.add_alert(notice(starts_at="2025-12-05T18:50:00Z"))  # a new firing
    assert refired is not None and not refired["resolved"]


def test_an_alert_alone_shows_its_summary_and_a_team_alert_is_keyed_by_team() -> None:
    entries, _ = feed()
    alone = entries.add_alert(notice())
    assert (
        alone is not None and alone["sources"] == ["alert"] and alone["message"] == "CallfocusMonologue on a"
    )
    team = entries.add_alert(notice(alertname="CallfocusTeamScoreLow", call_id=None))
    assert team is not None and team["key"] == "team:sales/team_score_low" and team["call_id"] is None


def test_entries_are_bounded_and_expire_with_their_events_unless_alertmanager_still_sends() -> None:
    clock = Clock(T0 / 1000)
    entries = Feed(max_entries=3, history_seconds=900, clock=clock)
    for index in range(5):
        entries.add_nudge(nudge(f"n{index}", call_id=f"c{index}", created_at=T0))
    assert [e["call_id"] for e in entries.recent()] == ["c2", "c3", "c4"]
    entries.add_alert(notice(call_id="c4"))
    clock.seconds += 600
    assert entries.expire(clock.seconds * 1000) == 0
    entries.add_alert(notice(call_id="c4"))  # re-sent while firing: no change, but still news
    clock.seconds += 400
    assert entries.expire(clock.seconds * 1000) == 2  # the nudges are 1,000 s old
    assert [e["call_id"] for e in entries.recent()] == ["c4"]
    clock.seconds += 900
    assert entries.expire(clock.seconds * 1000) == 1  # Alertmanager stopped sending it


def test_old_nudges_read_again_at_a_start_leave_with_their_age() -> None:
    entries, clock = feed()
    entries.add_nudge(nudge("old", created_at=T0 - 1_000_000))
    assert entries.expire(clock.seconds * 1000) == 1


def test_the_state_publishes_the_merged_entry_and_keeps_alerts_when_the_reader_stops() -> None:
    state = ConsoleState(history_seconds=900, clock=Clock(T0 / 1000))
    queue = state.subscribe()
    state.apply_nudge(nudge("n1", created_at=T0))
    platform = copy.deepcopy(alert(alertname="CallfocusWorkerDown", call_id=None))
    platform["labels"]["audience"] = "platform"
    assert state.apply_alerts(parse_notification(notification(alert(), platform))) == (1, 1)
    first, second = queue.get_nowait(), queue.get_nowait()
    assert queue.empty()
    assert first is not None and second is not None
    assert first["event"] == second["event"] == "entry"
    assert first["data"]["key"] == second["data"]["key"] == "a/monologue"
    assert second["data"]["sources"] == ["nudge", "alert"]
    state.clear()  # the Kafka reader stopped: its nudges go, Alertmanager's alert stays
    [entry] = state.recent_entries()
    assert entry["sources"] == ["alert"]
