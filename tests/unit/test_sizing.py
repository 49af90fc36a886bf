"""The sizing model (bench/sizing.py) and the table docs/sizing.md shows.

The doc's table must be the model's output from the measurement it names, so a new
measurement or a changed rule cannot leave the doc behind. The model's rules are checked
on made-up costs: more calls never need less, the console's share is on top, partitions
leave room to scale out.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "sizing.md"


def _load_sizing() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sizing", ROOT / "bench" / "sizing.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sizing"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


sizing = _load_sizing()


def costs(**changes: Any) -> Any:
    base = sizing.PerCallCosts(
        segments_per_call_s=0.25,
        cpu_base_cores=0.05,
        cpu_cores_per_call=4e-5,
        console_cpu_base_cores=0.02,
        console_cpu_cores_per_cluster_call=1e-5,
        rss_base_bytes=100 * 2**20,
        rss_bytes_per_call=25_000,
        console_bytes_per_cluster_call=100_000,
        series_fixed=180,
        series_per_call=15,
        snapshots_per_call_s=0.25,
        input_bytes_per_call_s=50,
        output_bytes_per_call_s=100,
        changelog_bytes_per_call_s=350,
        console_read_bytes_per_cluster_call_s=100,
        state_record_bytes=1400,
    )
    return dataclasses.replace(base, **changes)


# -- the doc and the committed measurement ---------------------------------------------------


def doc_result() -> Path:
    named = set(re.findall(r"bench/results/(sizing-[0-9-]+\.json)", DOC.read_text()))
    assert len(named) == 1, f"docs/sizing.md should name one measurement, names {sorted(named)}"
    return ROOT / "bench" / "results" / named.pop()


def test_the_doc_names_the_latest_committed_measurement() -> None:
    assert doc_result().is_file()
    assert doc_result() == sizing.latest_result()


def test_the_doc_table_is_the_model_output_of_that_measurement() -> None:
    result = json.loads(doc_result().read_text())
    table = sizing.markdown_table(sizing.sizing_rows(sizing.per_call_costs(result)))
    assert table in DOC.read_text(), "docs/sizing.md's table differs from: python bench/sizing.py --table"


def test_the_doc_quotes_the_measured_per_call_costs() -> None:
    """The per-call figures the doc's text gives are the committed ones, rounded as shown."""
    result = json.loads(doc_result().read_text())
    measured = sizing.per_call_costs(result)
    text = DOC.read_text()
    for figure in sizing.quoted_figures(measured, result):
        assert figure in text, f"docs/sizing.md does not say {figure!r}"


def test_the_measurement_ran_the_calls_the_doc_says_were_run() -> None:
    result = json.loads(doc_result().read_text())
    run = sorted({r["calls"] for r in result["runs"]})
    assert run == sizing.MEASURED_CALLS
    for r in result["runs"]:
        # the sender kept the rate it was asked for: the figures are those of that load
        assert r["without_console"]["segments_sent_per_s"] == pytest.approx(
            r["target_segments_per_s"], rel=0.1
        )


# -- the model ---------------------------------------------------------------------------


def test_rows_grow_with_calls() -> None:
    rows = sizing.sizing_rows(costs(), (100, 500, 3_000, 10_000, 20_000, 50_000, 100_000))
    for smaller, larger in itertools.pairwise(rows):
        assert larger.workers >= smaller.workers
        assert larger.partitions >= smaller.partitions
        assert larger.series_per_call_on >= smaller.series_per_call_on
        assert larger.series_per_call_off >= smaller.series_per_call_off
        assert larger.kafka_in_mib_s > smaller.kafka_in_mib_s
        assert larger.kafka_out_mib_s > smaller.kafka_out_mib_s
        assert larger.retention_gib_per_day > smaller.retention_gib_per_day
        assert larger.console_memory_mib > smaller.console_memory_mib
        assert larger.workers * larger.calls_per_worker >= larger.calls


def test_the_console_serving_worker_gets_the_consoles_share_on_top() -> None:
    plain = sizing.sizing_row(
        costs(console_bytes_per_cluster_call=0, console_cpu_cores_per_cluster_call=0), 10_000
    )
    row = sizing.sizing_row(costs(), 10_000)
    assert row.memory_mib == plain.memory_mib
    assert row.cpu_millicores == plain.cpu_millicores
    # 10,000 calls of the cluster x 100 kB x 1.5 headroom more than a plain worker
    assert row.console_memory_mib - row.memory_mib >= 10_000 * 100_000 * 1.5 / 2**20 - 64
    # 10,000 calls of the cluster x 10 µ-cores: 100m more
    assert row.console_cpu_millicores - row.cpu_millicores >= 100


def test_memory_is_base_plus_per_call_with_headroom() -> None:
    row = sizing.sizing_row(costs(), 3_000)
    expected = (100 * 2**20 + 25_000 * row.calls_per_worker) * 1.5 / 2**20
    assert expected <= row.memory_mib < expected + 64


def test_cpu_stays_under_the_target_share_of_a_core() -> None:
    for calls in (500, 3_000, 10_000, 50_000):
        row = sizing.sizing_row(costs(), calls)
        assert row.cpu_millicores <= 1000 * sizing.CPU_TARGET_SHARE + 100
        if row.console_fits:
            assert row.console_cpu_millicores <= 1000 * sizing.CPU_TARGET_SHARE + 100


def test_a_console_too_costly_for_one_worker_is_flagged_not_hidden() -> None:
    row = sizing.sizing_row(costs(console_cpu_cores_per_cluster_call=1e-4), 50_000)
    assert not row.console_fits
    assert row.console_cpu_millicores > 1000  # the cost shown as it is
    assert "‡" in sizing.markdown_table([row])
    # the workers are still sized for the calls themselves
    assert row.calls_per_worker <= sizing.MAX_EXPORTED_CALLS


def test_partitions_are_a_power_of_two_that_lets_the_workers_double() -> None:
    for calls in (500, 3_000, 10_000, 50_000, 200_000):
        row = sizing.sizing_row(costs(), calls)
        assert row.partitions & (row.partitions - 1) == 0
        assert row.partitions >= max(sizing.MIN_PARTITIONS, 2 * row.workers)


def test_per_call_series_stop_at_the_export_cap() -> None:
    cheap = costs(cpu_cores_per_call=1e-6)  # CPU would allow far more calls per worker
    row = sizing.sizing_row(cheap, 50_000)
    assert row.calls_per_worker <= sizing.MAX_EXPORTED_CALLS
    assert row.series_per_call_on == row.workers * (180 + 15 * row.calls_per_worker)
    assert row.series_per_call_off == row.workers * 180


def test_at_least_two_workers() -> None:
    assert sizing.sizing_row(costs(), 10).workers == sizing.MIN_WORKERS == 2


def test_fit_line_recovers_a_line_and_clamps_a_negative_base() -> None:
    base, slope = sizing.fit_line({1000: 0.1 + 1000 * 2e-5, 3000: 0.1 + 3000 * 2e-5, 5000: 0.1 + 5000 * 2e-5})
    assert base == pytest.approx(0.1)
    assert slope == pytest.approx(2e-5)
    assert sizing.fit_line({1000: 0.01, 3000: 0.09}) == (0.0, pytest.approx(0.09 / 3000))
    # a cost that seems to shrink with more calls is noise, not a free call
    assert sizing.fit_line({1000: 0.03, 3000: 0.02}) == (0.0, pytest.approx(0.03 / 1000))


# -- measurement helpers ---------------------------------------------------------------------


def test_paced_events_start_every_call_then_take_turns() -> None:
    @dataclasses.dataclass
    class Start:
        call: str

    @dataclasses.dataclass
    class Segment:
        call: str
        n: int

    @dataclasses.dataclass
    class Timed:
        event: Any

    @dataclasses.dataclass
    class Recording:
        events: list[Timed]

    recordings = [
        Recording(
            [Timed(Start("a")), Timed(Segment("a", 1)), Timed(Segment("a", 2)), Timed(Segment("a", 3))]
        ),
        Recording([Timed(Start("b")), Timed(Segment("b", 1))]),
    ]
    order = [
        (type(e).__name__, e.call, getattr(e, "n", 0))
        for e in sizing.paced_events(recordings, (Start, Segment))
    ]
    assert order == [
        ("Start", "a", 0),
        ("Start", "b", 0),
        ("Segment", "a", 1),
        ("Segment", "b", 1),
        ("Segment", "a", 2),
        ("Segment", "a", 3),
    ]


def test_topic_log_bytes_counts_each_topics_log_files_only(tmp_path: Path) -> None:
    def write(directory: str, name: str, size: int) -> None:
        (tmp_path / "kraft" / directory).mkdir(parents=True, exist_ok=True)
        (tmp_path / "kraft" / directory / name).write_bytes(b"x" * size)

    write("p.call-events-0", "00000000000000000000.log", 100)
    write("p.call-events-1", "00000000000000000000.log", 50)
    write("p.call-events-1", "00000000000000000000.index", 10_000)  # preallocated index: not data
    write("p.call-events.dlq-0", "00000000000000000000.log", 7)  # another topic
    write("cf-p-call-state-changelog-0", "00000000000000000000.log", 30)
    sizes = sizing.topic_log_bytes(
        tmp_path, {"call-events": "p.call-events", "changelog": "cf-p-call-state-changelog"}
    )
    assert sizes == {"call-events": 150, "changelog": 30}
