"""The metric catalogue is the one declaration: the engine, the schemas, the export and the
docs agree with it."""

from __future__ import annotations

import json

from streams.engine import CallMetrics, EngineConfig, WindowMetrics
from streams.engine.catalogue import (
    CALL_METRICS,
    METRICS,
    PER_CALL_SERIES_BUDGET,
    WINDOW_METRICS,
    PerCall,
    Scope,
    per_call_series,
)
from streams.tools import generated


def test_every_generated_file_is_up_to_date() -> None:
    assert generated.stale_files() == [], "run `make generated`"


def test_the_check_command_fails_on_a_stale_file(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    stale = tmp_path / "metrics.md"
    stale.write_text(f"# x\n{generated.TABLE_START}\nold\n{generated.TABLE_END}\n")
    monkeypatch.setattr(generated, "METRICS_DOC", stale)
    assert generated.main(["--check"]) == 1
    assert capsys.readouterr().err == "metrics.md differs from the catalogue: run `make generated`\n"
    assert generated.main(["--bogus"]) == 2


def test_names_are_unique_and_the_engine_computes_each() -> None:
    assert len({m.name for m in METRICS}) == len(METRICS)
    window_fields, call_fields = set(WindowMetrics.FIELDS), set(CallMetrics.FIELDS)
    assert {m.name for m in WINDOW_METRICS} <= window_fields
    assert {m.name for m in CALL_METRICS} <= call_fields
    assert ("window", *(m.name for m in WINDOW_METRICS)) == WindowMetrics.SNAPSHOT_FIELDS


def test_schemas_carry_every_metric_with_a_default() -> None:
    snapshot = json.loads((generated.SCHEMAS / "CallMetrics.avsc").read_text())
    summary = json.loads((generated.SCHEMAS / "CallSummary.avsc").read_text())
    top = {f["name"]: f for f in snapshot["fields"]}
    window = {f["name"]: f for f in top["windows"]["type"]["items"]["fields"]}
    summary_fields = {f["name"]: f for f in summary["fields"]}
    for m in METRICS:
        field = window[m.name] if m.scope is Scope.WINDOWS else top[m.name]
        assert "default" in field, m.name  # readers of older records fill it
        assert (m.name in summary_fields) == m.in_summary


def test_ratios_are_nullable_units_are_base_units() -> None:
    for m in METRICS:
        assert not m.name.endswith("_ms"), m.name  # seconds, not milliseconds
        if m.name.endswith("_ratio"):
            assert m.unit == "ratio", m.name


def test_a_call_stays_within_the_per_call_series_budget() -> None:
    labels = EngineConfig().window_labels
    assert per_call_series(labels) <= PER_CALL_SERIES_BUDGET
    assert any(m.per_call is PerCall.ALL for m in METRICS)


def test_the_docs_table_lists_every_metric() -> None:
    doc = generated.METRICS_DOC.read_text()
    for m in METRICS:
        assert f"| `{m.name}` |" in doc
