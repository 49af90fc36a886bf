"""Grafana dashboards: structure, variables, and only metrics the worker exports (or rules record)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from streams.engine import EngineConfig
from streams.wire.codec import AvroCodec
from streams.worker.call_series import LiveCallCollector, exposition
from streams.worker.calls import CallProcessor, LiveCalls, UnwrittenStates
from streams.worker.exporter import ConsumerLagCollector, PipelineMetrics
from streams.worker.scorecard_cells import ScorecardCells
from streams.worker.scorecard_series import ScorecardCollector

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
RULE_FILES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
METRIC_NAME = re.compile(r"\b((?:callfocus_|[a-z_]+:callfocus_)[a-zA-Z0-9_:]*)")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>[^,]+),\s*(?P<label>\w+)\)$")


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard title, panel title, expr) of every panel target."""
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                yield dashboard["title"], panel["title"], target["expr"]


def variable_queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard title, variable name, label_values query) of every query variable."""
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                query = variable["query"]
                yield (
                    dashboard["title"],
                    variable["name"],
                    query if isinstance(query, str) else query["query"],
                )


def value_unit(expr: str) -> str | None:
    """The unit a query's values carry, when it only picks or averages ratio or seconds series."""
    if not expr.startswith("histogram_quantile(") and re.search(r"\b(count|rate|irate|increase)\(", expr):
        return None  # counts and rates are not in the metric's unit
    names = METRIC_NAME.findall(expr)
    if names and all("_ratio" in name for name in names):
        return "percentunit"
    if names and all("_seconds" in name for name in names):
        return "s"
    return None


def exported_metric_names() -> set[str]:
    """Every sample name a worker's /metrics serves, read off the real exporters."""
    codec = AvroCodec()
    registry = CollectorRegistry()
    calls = LiveCalls(EngineConfig())
    collector = LiveCallCollector(calls, 10)
    registry.register(collector)
    registry.register(ConsumerLagCollector(lambda: {("events", 0): 3}))
    processor = CallProcessor(codec, calls, PipelineMetrics(registry))
    processor.process(codec.encode("CallStarted", {"call_id": "c", "started_at": 1, "team": "t"}), 0)
    # a call that gives every metric a value: a pitch and an open question (pitch share, open
    # questions), 12 s of agent speech (speech rate), an objection answered with a question
    # (objection handling) that reuses the customer's words (reflection, response gap)
    for sid, speaker, start, end, text in [
        ("1", "AGENT", 0, 12_000, "what matters to you about our premium plan and the new features"),
        ("2", "CUSTOMER", 13_000, 17_000, "honestly it is too expensive for our budget"),
        ("3", "AGENT", 18_000, 22_000, "what would make the budget work for you"),
    ]:
        record = {"call_id": "c", "segment_id": sid, "speaker": speaker, "start_ms": start}
        record |= {"end_ms": end, "text": text}
        processor.process(codec.encode("TranscriptSegment", record), 0)
    # an ended call's summary in a committed scorecard cell: the per-agent scorecard series
    cells = ScorecardCells(UnwrittenStates(), UTC)
    cells.add(
        {"agent_id": "a", "team": "t", "started_at": 1, "ended_at": 2, "customer_focus_score": 60}, 0, None
    )
    cells.unwritten.begin()
    cells.committed_states(cells.unwritten.take(10))
    registry.register(ScorecardCollector(cells, 10))
    text = exposition(registry, collector).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_exported_call_has_every_catalogue_family() -> None:
    """The call above serves every per-call and per-team family: a panel of any of them is checked."""
    from streams.engine.catalogue import METRICS, PerCall, TeamAggregate

    expected = {m.family for m in METRICS if m.per_call is not PerCall.NONE}
    expected |= {m.team_family for m in METRICS if m.team is not TeamAggregate.NONE}
    assert expected - exported_metric_names() == set()


def recorded_names() -> set[str]:
    return {
        rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def test_there_are_the_three_dashboards() -> None:
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert titles == {"callfocus / Live floor", "callfocus / Agent coaching", "callfocus / Pipeline health"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_structure(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] == path.stem and "callfocus" in dashboard["tags"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for name in ("team", "agent", "queue"):
        assert variables[name]["type"] == "query" and variables[name]["includeAll"], name
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]


def test_every_metric_a_panel_uses_is_exported_or_recorded() -> None:
    known = exported_metric_names() | recorded_names() | {"up"}
    unknown = [
        f"{board} / {panel}: {name}"
        for board, panel, expr in queries()
        for name in METRIC_NAME.findall(expr)
        if name not in known
    ]
    assert not unknown, "panels use metrics nobody exports:\n" + "\n".join(unknown)


def test_variables_are_label_values_of_exported_metrics() -> None:
    known = exported_metric_names()
    found = {}
    for board, name, query in variable_queries():
        match = LABEL_VALUES.match(query)
        assert match, f"{board} / ${name}: not label_values(selector, label): {query}"
        metrics = METRIC_NAME.findall(match["selector"])
        assert metrics and set(metrics) <= known, f"{board} / ${name}: {metrics} not exported"
        found.setdefault(board, set()).add(name)
    assert all(names == {"team", "agent", "queue"} for names in found.values()), found


def test_ratio_and_seconds_panels_have_their_unit() -> None:
    wrong = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in panels(dashboard):
            units = {value_unit(target["expr"]) for target in panel["targets"]}
            if panel["type"] == "table" or len(units) != 1 or None in units:
                continue
            (unit,) = units
            if panel["fieldConfig"]["defaults"].get("unit") != unit:
                wrong.append(f"{dashboard['title']} / {panel['title']}: unit should be {unit}")
    assert not wrong, "\n".join(wrong)


def test_per_call_panels_filter_by_the_variables() -> None:
    for board, panel, expr in queries():
        if re.search(r"(?<![:\w])callfocus_call_", expr):  # per-call series, not team recordings
            assert 'team=~"$team"' in expr and 'agent_id=~"$agent"' in expr, f"{board} / {panel}"


def test_agent_coaching_has_scorecard_trends_over_days_and_weeks_and_leaderboards() -> None:
    """Item 3 of the coaching issue: per-agent trends by day and week, a team leaderboard."""
    board = json.loads(
        (ROOT / "deploy" / "grafana" / "dashboards" / "callfocus-agent-coaching.json").read_text()
    )
    scorecard_panels = {
        panel["title"]: panel
        for panel in panels(board)
        if any("callfocus_agent_" in target["expr"] for target in panel["targets"])
    }
    windows = {
        window
        for panel in scorecard_panels.values()
        for target in panel["targets"]
        for window in re.findall(r"\[(\w+|\$__range)\]", target["expr"])
    }
    assert {"1d", "7d", "$__range"} <= windows
    leaderboards = [p for p in scorecard_panels.values() if p["type"] == "table"]
    assert {"team", "team, agent_id"} == {
        re.search(r"sum by \(([^)]*)\)", p["targets"][0]["expr"])[1]
        for p in leaderboards  # type: ignore[index]
    }
    for panel in scorecard_panels.values():
        for target in panel["targets"]:  # summed over partitions and pods: by team or agent only
            for grouping in re.findall(r"by \(([^)]*)\)", target["expr"]):
                assert set(grouping.replace(" ", "").split(",")) <= {"le", "team", "agent_id"}, panel["title"]
        if panel["type"] == "timeseries":
            assert panel["interval"] in ("1d", "7d") and panel["timeFrom"], panel["title"]
