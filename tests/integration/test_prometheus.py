"""A real Prometheus scrapes a real worker: per-call series appear, then vanish after call end + grace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streams.settings import Settings
from streams.tools.replay import replay
from streams.tools.scoring import score_recording
from streams.tools.sources import Recording, read_recordings
from tests.integration.conftest import PrometheusServer
from tests.integration.worker import WorkerProcess, eventually

ROOT = Path(__file__).resolve().parents[2]


def test_promql_returns_each_call_and_the_series_go_after_the_grace_period(
    start_worker: Callable[..., WorkerProcess],
    start_prometheus: Callable[[list[str]], PrometheusServer],
    topics: dict[str, str],
) -> None:
    worker = start_worker(export_grace_seconds="4")
    prometheus = start_prometheus([f"127.0.0.1:{worker.port}"])
    settings = Settings(
        kafka_bootstrap=topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topic_prefix=topics["CALLFOCUS_TOPIC_PREFIX"]
    )
    recordings = read_recordings(ROOT / "samples" / "calls.jsonl", "jsonl")
    live = [Recording(r.call_id, r.events[:-1]) for r in recordings]  # not ended yet
    replay(live, settings, speed=None)

    def ratios() -> dict[str, float] | None:
        result = prometheus.query('callfocus_call_agent_talk_ratio{window="call"}')
        found = {r["metric"]["call_id"]: float(r["value"][1]) for r in result}
        return found if len(found) == len(live) else None

    found = eventually(ratios, timeout=60)
    for recording in live:
        expected = score_recording(recording).metrics.window("call").agent_talk_ratio
        assert found[recording.call_id] == pytest.approx(expected, abs=1e-12)
    team = prometheus.query('sum by (team) (callfocus_calls_active{job="callfocus"})')
    assert {r["metric"]["team"] for r in team} == {"retention", "sales", "support"}

    ended = recordings[0]
    replay([Recording(ended.call_id, ended.events[-1:])], settings, speed=None)
    query = f'callfocus_call_agent_talk_ratio{{call_id="{ended.call_id}",window="call"}}'
    eventually(lambda: prometheus.query(query) == [] or None, timeout=45)
    remaining = {
        r["metric"]["call_id"] for r in prometheus.query('callfocus_call_agent_talk_ratio{window="call"}')
    }
    assert remaining == {r.call_id for r in live[1:]}
