"""Bounded team and queue label values: folding, allow-lists and expiry, on an injected clock."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from streams.engine import CallState, EngineConfig
from streams.settings import Settings
from streams.wire.codec import AvroCodec
from streams.worker.call_series import LiveCallCollector, exposition
from streams.worker.calls import CallLabels, CallProcessor, LiveCall, LiveCalls, exported_labels
from streams.worker.export_labels import OTHER, LabelFolder, LabelLimits
from streams.worker.exporter import PipelineMetrics

CODEC = AvroCodec()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_folder_keeps_at_most_cap_values_and_folds_the_rest() -> None:
    clock = Clock()
    folder = LabelFolder(2, clock=clock)
    assert folder.fold("a") == ("a", False)
    assert folder.fold("b") == ("b", False)
    assert folder.fold("c") == (OTHER, True)
    assert folder.fold("a") == ("a", False)  # a kept value stays itself
    assert folder.fold(OTHER) == (OTHER, False)  # a team named other is other, not folded
    assert len(folder) == 2 and "c" not in folder


def test_an_allow_list_exports_only_its_values() -> None:
    folder = LabelFolder(5, allowed={"sales", "support"}, clock=Clock())
    assert folder.fold("sales") == ("sales", False)
    assert folder.fold("retention") == (OTHER, True)
    assert folder.fold("support") == ("support", False)
    assert len(folder) == 2
    assert LabelFolder(0, clock=Clock()).fold("sales") == (OTHER, True)


def test_values_expire_after_the_grace_once_no_call_carries_them() -> None:
    clock = Clock()
    folder = LabelFolder(2, clock=clock)
    folder.fold("a")
    folder.fold("b")
    clock.now += 10
    assert folder.expire({"a"}, grace_seconds=30) == []  # b unused for 10 s only
    clock.now += 25
    assert folder.expire({"a"}, grace_seconds=30) == ["b"]  # b unused for 35 s
    assert folder.fold("c") == ("c", False)  # b's slot is free
    clock.now += 29
    assert folder.expire(set(), grace_seconds=30) == []  # a in use until the last expire
    clock.now += 1
    assert sorted(folder.expire(set(), grace_seconds=30)) == ["a", "c"]
    assert len(folder) == 0


def start(call_id: str, team: str, queue: str = "q") -> bytes:
    return CODEC.encode(
        "CallStarted", {"call_id": call_id, "started_at": 1, "agent_id": "a", "team": team, "queue": queue}
    )


def segment(call_id: str) -> bytes:
    return CODEC.encode(
        "TranscriptSegment",
        {
            "call_id": call_id,
            "segment_id": "s1",
            "speaker": "AGENT",
            "start_ms": 0,
            "end_ms": 2000,
            "text": "how can I help you today",
            "produced_at": 0,
        },
    )


def ended(call_id: str) -> bytes:
    return CODEC.encode("CallEnded", {"call_id": call_id, "ended_at": 5000})


class Worker:
    """The processor, the live calls and /metrics of one worker, on an injected clock."""

    def __init__(self, limits: LabelLimits) -> None:
        self.clock = Clock()
        self.registry = CollectorRegistry()
        self.calls = LiveCalls(EngineConfig())
        self.collector = LiveCallCollector(self.calls, 100_000)
        self.registry.register(self.collector)
        self.metrics = PipelineMetrics(self.registry, limits, clock=self.clock)
        self.processor = CallProcessor(CODEC, self.calls, self.metrics, monotonic=self.clock, nudge_rules=())

    def text(self) -> str:
        return exposition(self.registry, self.collector).decode()

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        return [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families(self.text())
            for s in family.samples
        ]

    def run(self, seconds: int, export_grace: float) -> None:
        """``seconds`` of the worker's 1 s timer (streams/worker/agents.py forget_ended_calls)."""
        for _ in range(seconds):
            self.clock.now += 1
            self.calls.drop_ended(self.clock.now - export_grace)
            self.metrics.expire_labels(exported_labels(call) for call in self.calls)


def teams_of(samples: list[tuple[str, dict[str, str], float]], name: str) -> set[str]:
    return {labels["team"] for sample, labels, _ in samples if sample == name}


def test_3000_teams_are_capped_agree_per_call_and_per_team_and_expire() -> None:
    worker = Worker(LabelLimits(max_teams=50, max_queues=10, grace_seconds=60))
    for n in range(3000):
        call_id = f"c{n}"
        for raw in (start(call_id, f"team-{n}", f"queue-{n % 40}"), segment(call_id)):
            assert worker.processor.process(raw, 0).error is None
    got = worker.samples()
    per_call = teams_of(got, "callfocus_call_agent_talk_ratio")
    kept = {f"team-{n}" for n in range(50)}
    assert per_call == kept | {OTHER}
    assert teams_of(got, "callfocus_calls_active") == per_call
    assert teams_of(got, "callfocus_nudges_total") == per_call
    assert teams_of(got, "callfocus_ended_call_customer_focus_score_count") == per_call
    active = {labels["team"]: value for name, labels, value in got if name == "callfocus_calls_active"}
    assert active[OTHER] == 2950 and active["team-7"] == 1
    score = "callfocus_call_customer_focus_score"
    queues = Counter(labels["queue"] for name, labels, _ in got if name == score)
    assert set(queues) == {f"queue-{n}" for n in range(10)} | {OTHER}
    assert queues[OTHER] == 3000 - 10 * 75
    values = {(name, labels.get("label")): value for name, labels, value in got}
    assert values[("callfocus_label_values_folded_total", "team")] == 2950
    assert values[("callfocus_label_values_folded_total", "queue")] == 3000 - 10 * 75
    assert values[("callfocus_label_values_exported", "team")] == 50
    # every call ends: its series go after the export grace, its team's after the label grace
    for n in range(3000):
        worker.processor.process(ended(f"c{n}"), 0)
    peak = len(worker.text())
    scores = {labels["team"]: v for name, labels, v in worker.samples() if name.endswith("score_count")}
    assert scores[OTHER] == 2950 and scores["team-3"] == 1  # ended calls scored by folded team
    worker.run(30, export_grace=30)
    assert len(worker.calls) == 3000
    worker.run(1, export_grace=30)  # last seen in use a second ago
    assert len(worker.calls) == 0
    assert "team-3" in teams_of(worker.samples(), "callfocus_nudges_total")  # within the grace
    worker.run(58, export_grace=30)
    assert len(worker.metrics.teams) == 50
    worker.run(1, export_grace=30)
    got = worker.samples()
    assert teams_of(got, "callfocus_nudges_total") == {OTHER}
    assert teams_of(got, "callfocus_ended_call_customer_focus_score_count") == {OTHER}
    assert len(worker.metrics.teams) == 0 and len(worker.metrics.queues) == 0
    assert len(worker.text()) < 20_000 < peak
    # a team that comes back gets a slot again, its series from 0 (a counter reset)
    worker.processor.process(start("again", "team-9"), 0)
    scores = {labels["team"]: v for name, labels, v in worker.samples() if name.endswith("score_count")}
    assert scores["team-9"] == 0.0


def test_a_team_keeps_its_series_while_any_call_carries_it() -> None:
    worker = Worker(LabelLimits(max_teams=1, grace_seconds=10))
    worker.processor.process(start("long", "sales"), 0)
    worker.processor.process(start("short", "sales"), 0)
    worker.processor.process(ended("short"), 0)
    worker.run(150, export_grace=5)  # "short" leaves memory, "long" goes on
    assert teams_of(worker.samples(), "callfocus_nudges_total") == {"sales"}
    worker.processor.process(start("new", "support"), 0)  # the single slot is taken
    assert worker.calls.get("new").exported_labels == (OTHER, "q")  # type: ignore[union-attr]


def test_an_allow_list_applies_to_calls_and_calls_loaded_from_the_table() -> None:
    worker = Worker(LabelLimits(teams=frozenset({"sales"}), queues=frozenset({"billing"})))
    worker.processor.process(start("c1", "sales", "billing"), 0)
    worker.processor.process(start("c2", "support", "billing"), 0)
    # a call loaded after a restart or a rebalance (no CallStarted again) is folded too
    loaded = LiveCall(CallState("c3", EngineConfig()), 0, labels=CallLabels("a", "retention", "claims"))
    worker.calls.add(loaded)
    assert loaded.exported_labels == (OTHER, OTHER)
    assert loaded.labels == ("a", "retention", "claims")  # outputs keep the real labels
    got = worker.samples()
    assert teams_of(got, "callfocus_calls_active") == {"sales", OTHER}
    folded = {labels["label"]: v for name, labels, v in got if name == "callfocus_label_values_folded_total"}
    assert folded == {"team": 2.0, "queue": 1.0}


def test_settings_caps_and_allow_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = Settings().label_limits()
    assert (limits.max_teams, limits.max_queues, limits.teams) == (200, 200, None)
    assert limits.grace_seconds == 300.0
    monkeypatch.setenv("CALLFOCUS_EXPORTED_TEAMS", '["sales", "support"]')
    monkeypatch.setenv("CALLFOCUS_MAX_EXPORTED_QUEUES", "3")
    limits = Settings().label_limits()
    assert limits.teams == frozenset({"sales", "support"}) and limits.max_queues == 3
    with pytest.raises(ValidationError, match="exported_queues lists 4 values but max_exported_queues is 3"):
        Settings(exported_queues=("a", "b", "c", "d"))
