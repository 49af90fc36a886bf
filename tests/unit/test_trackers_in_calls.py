"""Tracker hits in a call's state, its snapshot, its nudges and the worker's counters; the
definitions version the records carry."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry

from streams.engine import CallState, EngineConfig
from streams.engine.definitions import definitions_digest, with_definitions
from streams.engine.nudges import DEFAULT_RULES, TRACKER_NUDGE, NudgeTracker
from streams.engine.trackers import parse_trackers
from streams.wire.codec import AvroCodec
from streams.wire.events import CallStarted, Speaker, TranscriptSegment
from streams.worker.call_series import LiveCallCollector
from streams.worker.calls import CallProcessor, LiveCalls
from streams.worker.exporter import PipelineMetrics
from streams.worker.outputs import metrics_record

TRACKERS = parse_trackers(
    """
[[trackers]]
name = "escalation_request"
speaker = "customer"
phrases = ["speak to a manager", "supervisor"]
[trackers.nudge]
severity = "critical"
message = "The customer asked for a manager."

[[trackers]]
name = "next_steps"
speaker = "agent"
phrases = ["i will send", "by tomorrow"]

[[trackers]]
name = "retention_offer"
speaker = "agent"
teams = ["retention"]
phrases = ["special offer"]
""",
    "test.toml",
    "toml",
)
A, C = Speaker.AGENT, Speaker.CUSTOMER
SEGMENTS = [
    TranscriptSegment("c", "s1", C, 0, 4000, "i want to speak to a manager right now"),
    TranscriptSegment("c", "s2", A, 4000, 9000, "i will send the form by tomorrow and a special offer"),
    TranscriptSegment("c", "s3", C, 9000, 12000, "no get me your supervisor"),
    TranscriptSegment("c", "s4", A, 12000, 15000, "i will send it now"),
]


def state_of(segments: list[TranscriptSegment], team: str = "sales") -> CallState:
    state = CallState("c", EngineConfig())
    state.start(CallStarted("c", 1, "a", team, "q"))
    for segment in segments:
        state.apply(segment, TRACKERS)
    return state


def test_hits_are_counted_per_tracker_by_speaker_and_team() -> None:
    hits = dict(state_of(SEGMENTS).metrics().tracker_hits)
    # "i will send" twice, "by tomorrow" once; the retention tracker is scoped to its team
    assert hits == {"escalation_request": 2, "next_steps": 3}
    assert dict(state_of(SEGMENTS, team="retention").metrics().tracker_hits)["retention_offer"] == 1


def test_hits_do_not_depend_on_arrival_order_duplicates_revisions_or_a_restart() -> None:
    expected = state_of(SEGMENTS).metrics()
    rng = random.Random(7)
    for _ in range(20):
        delivered = [*SEGMENTS, rng.choice(SEGMENTS)]  # a duplicate
        revised = SEGMENTS[2].replace(revision=1, text="no thanks")
        delivered.insert(0, revised.replace(revision=0))  # an earlier revision with other text
        delivered.append(SEGMENTS[2].replace(revision=2))  # the final text, later
        rng.shuffle(delivered)
        state = state_of(delivered)
        assert state.metrics().tracker_hits == expected.tracker_hits
        restored = CallState.from_dict(state.to_dict(), EngineConfig())
        assert restored.metrics().tracker_hits == expected.tracker_hits


def test_a_revision_without_the_phrase_takes_its_hit_back() -> None:
    revised = [*SEGMENTS[:2], SEGMENTS[2].replace(revision=1, text="no thanks"), SEGMENTS[3]]
    assert dict(state_of(revised).metrics().tracker_hits)["escalation_request"] == 1


def test_a_tracker_nudge_fires_on_a_new_hit_with_its_severity_and_a_cooldown() -> None:
    state = state_of(SEGMENTS[:1])
    tracker = NudgeTracker("c")
    metrics = state.metrics()
    new = tracker.new_tracker_hits(metrics)
    assert new == [("escalation_request", 1)]
    (nudge,) = tracker.evaluate(metrics, (), TRACKERS, new)
    assert (nudge.type, nudge.severity) == (TRACKER_NUDGE, "critical")
    assert nudge.nudge_id == "c:tracker.escalation_request:4000"
    assert nudge.message.startswith("The customer asked for a manager.")
    assert tracker.new_tracker_hits(metrics) == []  # already seen
    for segment in SEGMENTS[1:3]:
        state.apply(segment, TRACKERS)
    metrics = state.metrics()
    new = tracker.new_tracker_hits(metrics)
    assert ("escalation_request", 1) in new
    assert tracker.evaluate(metrics, (), TRACKERS, new) == []  # 12 s later: within the cooldown
    restored = NudgeTracker.from_dict("c", tracker.to_dict())
    assert restored.tracker_hits_seen == tracker.tracker_hits_seen


class InForce:
    current = TRACKERS


def test_the_worker_counts_hits_per_tracker_and_team_once() -> None:
    codec = AvroCodec()
    registry = CollectorRegistry()
    calls = LiveCalls(EngineConfig())
    registry.register(LiveCallCollector(calls, 10))
    metrics = PipelineMetrics(registry)
    processor = CallProcessor(codec, calls, metrics, monotonic=lambda: 0.0, trackers=InForce())
    started = {"call_id": "c", "started_at": 1, "agent_id": "a", "team": "sales", "queue": "q"}
    processor.process(codec.encode("CallStarted", started), 0)
    for segment in SEGMENTS:
        processor.process(codec.encode("TranscriptSegment", segment.to_dict()), 0)
        call = calls.find("c")
        processor.nudges(call)  # type: ignore[arg-type]
        processor.nudges(call)  # type: ignore[arg-type]  # nothing new: counted once

    def counted(name: str) -> float | None:
        return registry.get_sample_value("callfocus_tracker_hits_total", {"tracker": name, "team": "sales"})

    assert counted("escalation_request") == 2.0
    assert counted("next_steps") == 3.0
    assert (
        registry.get_sample_value("callfocus_nudges_total", {"type": TRACKER_NUDGE, "team": "sales"}) == 1.0
    )


def test_records_carry_the_definitions_version() -> None:
    config = with_definitions(EngineConfig(), DEFAULT_RULES)
    assert config.definitions.startswith("callfocus-") and "+" in config.definitions
    state = CallState("c", config)
    state.apply(SEGMENTS[0], TRACKERS)
    assert state.metrics().definitions == f"{config.definitions}.trackers-{TRACKERS.digest}"
    # another rule threshold, window or lexicon gives another digest
    looser = tuple(r if r.type != "monologue" else type(r)(r.type, 120, 30) for r in DEFAULT_RULES)
    assert definitions_digest(EngineConfig(), looser) != definitions_digest(EngineConfig(), DEFAULT_RULES)
    wider = EngineConfig(windows_ms=(60_000, 300_000))
    assert definitions_digest(wider, DEFAULT_RULES) != definitions_digest(EngineConfig(), DEFAULT_RULES)


def test_the_snapshot_record_carries_hits_and_definitions() -> None:
    codec = AvroCodec()
    calls = LiveCalls(EngineConfig())
    processor = CallProcessor(
        codec, calls, PipelineMetrics(CollectorRegistry()), implicit_start=True, trackers=InForce()
    )
    for segment in SEGMENTS:
        processor.process(codec.encode("TranscriptSegment", segment.to_dict()), 0)
    call = calls.find("c")
    record = metrics_record(call, call.state.metrics(), 5)  # type: ignore[union-attr,arg-type]
    assert record["tracker_hits"] == [
        {"tracker": "escalation_request", "hits": 2},
        {"tracker": "next_steps", "hits": 3},
    ]
    assert codec.decode(codec.encode("CallMetrics", record))[1]["tracker_hits"] == record["tracker_hits"]
