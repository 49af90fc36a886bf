from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from streams.engine import CallMetrics, WindowMetrics
from streams.errors import InvalidEventError
from streams.tools.sources import read_recordings
from streams.tools.sources.harper_valley import clean_text, read_corpus_call
from streams.wire.events import (
    CallEnded,
    CallStarted,
    HoldEnded,
    HoldStarted,
    Speaker,
    TranscriptSegment,
    event_from_record,
    event_to_record,
)
from streams.wire.values import Value

ROOT = Path(__file__).resolve().parents[2]


def segment_record(**overrides: Any) -> dict[str, Any]:
    record = {
        "call_id": "c",
        "segment_id": "s",
        "revision": 0,
        "speaker": "AGENT",
        "start_ms": 0,
        "end_ms": 1000,
        "text": "hello",
        "is_final": True,
        "confidence": None,
        "produced_at": 0,
    }
    return {**record, **overrides}


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"call_id": ""}, "missing_call_id"),
        ({"call_id": "  "}, "missing_call_id"),
        ({"segment_id": ""}, "missing_segment_id"),
        ({"start_ms": 5000, "end_ms": 4000}, "end_before_start"),
        ({"start_ms": -1}, "negative_time"),
        ({"end_ms": 600_001}, "segment_too_long"),
        ({"start_ms": 86_400_000, "end_ms": 86_400_001}, "absurd_time"),
        ({"text": "x" * 20_001}, "text_too_long"),
        ({"revision": -1}, "negative_revision"),
    ],
)
def test_structural_checks(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        event_from_record("TranscriptSegment", segment_record(**overrides))
    assert caught.value.reason == reason


def hold_record(name: str = "HoldStarted", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"call_id": "c", "hold_id": "h1", "at_ms": 30_000, "source": None}
    if name == "HoldStarted":
        record["reason"] = None
    return {**record, **overrides}


HOLD_CHECKS = [
    ({"call_id": ""}, "missing_call_id"),
    ({"hold_id": ""}, "invalid_id"),
    ({"hold_id": "hold 1"}, "invalid_id"),
    ({"hold_id": "h" * 129}, "invalid_id"),
    ({"at_ms": -1}, "negative_time"),
    ({"at_ms": 86_400_001}, "absurd_time"),
    ({"source": "x" * 257}, "field_too_long"),
]


@pytest.mark.parametrize(
    ("name", "overrides", "reason"),
    [("HoldStarted", *check) for check in [*HOLD_CHECKS, ({"reason": "x" * 257}, "field_too_long")]]
    + [("HoldEnded", *check) for check in HOLD_CHECKS],
)
def test_hold_checks(name: str, overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        event_from_record(name, hold_record(name, **overrides))
    assert caught.value.reason == reason
    assert caught.value.detail


def test_hold_events_round_trip() -> None:
    started = event_from_record("HoldStarted", hold_record(reason="transfer", source="pbx"))
    assert started == HoldStarted("c", "h1", 30_000, reason="transfer", source="pbx")
    assert event_to_record(started) == ("HoldStarted", hold_record(reason="transfer", source="pbx"))
    ended_record = hold_record("HoldEnded", at_ms=86_400_000)
    ended = event_from_record("HoldEnded", ended_record)  # 24 h exactly is the last valid time
    assert ended == HoldEnded("c", "h1", 86_400_000)
    assert event_to_record(ended) == ("HoldEnded", ended_record)


def test_output_records_are_not_input_events() -> None:
    with pytest.raises(InvalidEventError) as caught:
        event_from_record("Nudge", {"call_id": "c"})
    assert caught.value.reason == "not_an_input_event"


def test_event_record_round_trip() -> None:
    segment = event_from_record("TranscriptSegment", segment_record(text="x" * 20_000))
    assert isinstance(segment, TranscriptSegment) and segment.speaker is Speaker.AGENT
    assert event_to_record(segment) == ("TranscriptSegment", segment_record(text="x" * 20_000))


@pytest.mark.parametrize(
    "kind", [CallStarted, TranscriptSegment, CallEnded, HoldStarted, HoldEnded, WindowMetrics, CallMetrics]
)
def test_value_fields_are_the_constructor_arguments(kind: type[Value]) -> None:
    # FIELDS drive equality, to_dict and replace: a field missing from it would be ignored
    assert tuple(inspect.signature(kind).parameters) == kind.FIELDS


def test_values_compare_and_replace_like_frozen_dataclasses() -> None:
    segment = event_from_record("TranscriptSegment", segment_record())
    assert isinstance(segment, TranscriptSegment)
    revised = segment.replace(revision=2, text="hello again")
    assert (revised.revision, revised.text, revised.call_id) == (2, "hello again", "c")
    assert segment == segment.replace() and hash(segment) == hash(segment.replace())
    assert segment != revised and segment.revision == 0
    assert repr(segment).startswith("TranscriptSegment(call_id='c', segment_id='s'")
    with pytest.raises(TypeError, match="no fields"):
        segment.replace(speaker_name="x")


def test_shipped_sample_has_three_calls_with_start_and_end() -> None:
    recordings = read_recordings(ROOT / "samples" / "calls.jsonl", "jsonl")
    assert [r.call_id for r in recordings] == ["demo-focused", "demo-pitcher", "demo-monologue"]
    for recording in recordings:
        kinds = [type(t.event) for t in recording.events]
        assert kinds[0] is CallStarted and kinds[-1] is CallEnded
        times = [t.at_ms for t in recording.events]
        assert times == sorted(times)


def test_harper_valley_mapping(harper_valley_dir: Path) -> None:
    call = read_corpus_call(harper_valley_dir, "0002f70f7386445b")
    started = call.recording.started
    assert started is not None and started.call_id == "0002f70f7386445b"
    assert started.agent_id == "hv-agent-46" and started.team == "little-harper-valley-3"
    assert started.queue == "replace-card"
    first = call.recording.segments[0]
    assert (first.speaker, first.start_ms, first.end_ms) == (Speaker.AGENT, 1669, 1669 + 2670)
    assert first.text == "hello this is harper valley national bank"
    assert {s.speaker for s in call.recording.segments} == {Speaker.AGENT, Speaker.CUSTOMER}
    assert call.caller_rating == 10.0
    ended = call.recording.events[-1]
    assert isinstance(ended.event, CallEnded) and ended.at_ms == 1591056834394 - 1591056783191
    asr = read_corpus_call(harper_valley_dir, "0002f70f7386445b", transcript="asr")
    assert asr.recording.segments[0].text == "hello mr harper valley national bank"


def test_markup_only_segments_carry_no_speech() -> None:
    assert clean_text("[noise] <unk> [laughter]") == ""
    assert clean_text("yes [noise] i <unk> can") == "yes i can"
