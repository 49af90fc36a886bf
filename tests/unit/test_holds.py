"""Hold events (HoldStarted / HoldEnded): the call state's holds and how a worker applies them."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.engine import CallState, EngineConfig
from streams.errors import InvalidEventError
from streams.tools.replay import schedule, stamp, write_jsonl
from streams.tools.scoring import score_recording
from streams.tools.sources import read_recordings, timeline
from streams.wire.codec import AvroCodec
from streams.wire.events import (
    CallEnded,
    CallStarted,
    HoldEnded,
    HoldStarted,
    Speaker,
    TranscriptSegment,
    event_to_record,
)
from streams.worker.calls import CallProcessor, LiveCall, LiveCalls
from streams.worker.exporter import PipelineMetrics

CODEC = AvroCodec()
HoldEvent = HoldStarted | HoldEnded


def state_after(events: list[HoldEvent], call_id: str = "c") -> CallState:
    state = CallState(call_id)
    for event in events:
        if isinstance(event, HoldStarted):
            state.hold_started(event)
        else:
            state.hold_ended(event)
    return state


def test_a_hold_is_open_until_its_end() -> None:
    state = CallState("c")
    assert state.holds() == []
    assert state.hold_started(HoldStarted("c", "h1", 30_000, reason="lookup"))
    assert state.holds() == [(30_000, None)]
    assert state.hold_ended(HoldEnded("c", "h1", 75_000))
    assert state.holds() == [(30_000, 75_000)]


def test_repeats_change_nothing_and_the_first_time_stands() -> None:
    state = state_after([HoldStarted("c", "h1", 30_000), HoldEnded("c", "h1", 75_000)])
    before = state.to_dict()
    assert not state.hold_started(HoldStarted("c", "h1", 30_000))
    assert not state.hold_ended(HoldEnded("c", "h1", 75_000))
    # the same hold_id with another time (a producer that retries with a new clock)
    assert not state.hold_started(HoldStarted("c", "h1", 31_000))
    assert not state.hold_ended(HoldEnded("c", "h1", 80_000))
    assert state.to_dict() == before


EVENTS: list[HoldEvent] = [
    HoldStarted("c", "h1", 30_000),
    HoldEnded("c", "h1", 75_000),
    HoldStarted("c", "h2", 200_000),
    HoldEnded("c", "h2", 260_000),
    HoldStarted("c", "h3", 400_000),  # still on hold
    HoldEnded("c", "h1", 75_000),  # a duplicate
]


def test_any_order_of_the_same_events_gives_the_same_state() -> None:
    expected = state_after(EVENTS)
    assert expected.holds() == [(30_000, 75_000), (200_000, 260_000), (400_000, None)]
    for order in itertools.permutations(EVENTS):
        state = state_after(list(order))
        assert state.to_dict() == expected.to_dict(), order
        assert state.holds() == expected.holds()


def test_an_end_before_its_start_waits_for_the_start() -> None:
    state = state_after([HoldEnded("c", "h1", 75_000)])
    assert state.holds() == []  # a hold never started is no hold
    assert state.to_dict()["holds"] == [[-1, 75_000, "h1"]]
    assert state.hold_started(HoldStarted("c", "h1", 30_000))
    assert state.holds() == [(30_000, 75_000)]


@pytest.mark.parametrize(
    "events",
    [
        [HoldStarted("c", "h1", 80_000), HoldEnded("c", "h1", 75_000)],
        [HoldEnded("c", "h1", 75_000), HoldStarted("c", "h1", 80_000)],
    ],
)
def test_a_hold_that_ends_before_it_starts_is_refused_and_changes_nothing(events: list[HoldEvent]) -> None:
    state = state_after(events[:1])
    before = state.to_dict()
    with pytest.raises(InvalidEventError) as caught:
        state_after_one(state, events[1])
    assert caught.value.reason == "end_before_start"
    assert "'h1'" in caught.value.detail and "'c'" in caught.value.detail
    assert state.to_dict() == before


def state_after_one(state: CallState, event: HoldEvent) -> bool:
    return state.hold_started(event) if isinstance(event, HoldStarted) else state.hold_ended(event)


def test_overlapping_holds_count_once() -> None:
    # one hold reported by two producers under two ids, and a hold inside another
    state = state_after(
        [
            HoldStarted("c", "pbx-1", 30_000),
            HoldStarted("c", "desk-1", 30_500),
            HoldEnded("c", "desk-1", 74_000),
            HoldEnded("c", "pbx-1", 75_000),
            HoldStarted("c", "h2", 100_000),
            HoldEnded("c", "h2", 120_000),
            HoldStarted("c", "h3", 110_000),
            HoldEnded("c", "h3", 115_000),
        ]
    )
    assert state.holds() == [(30_000, 75_000), (100_000, 120_000)]
    state.hold_started(HoldStarted("c", "h4", 90_000))  # open: covers every later hold
    assert state.holds() == [(30_000, 75_000), (90_000, None)]


def test_a_call_keeps_a_bounded_number_of_holds() -> None:
    state = CallState("c")
    last = CallState.MAX_HOLDS - 1
    for n in range(last):
        state.hold_started(HoldStarted("c", f"h{n}", n * 1000))
        state.hold_ended(HoldEnded("c", f"h{n}", n * 1000 + 500))
    state.hold_started(HoldStarted("c", f"h{last}", last * 1000))
    with pytest.raises(InvalidEventError) as caught:
        state.hold_started(HoldStarted("c", "one-more", 999_999))
    assert caught.value.reason == "too_many_holds"
    with pytest.raises(InvalidEventError):
        state.hold_ended(HoldEnded("c", "one-more", 999_999))  # an end waiting for its start is a hold too
    # the holds it has can still end, and repeat
    assert state.hold_ended(HoldEnded("c", f"h{last}", last * 1000 + 500))
    assert not state.hold_started(HoldStarted("c", "h0", 0))
    assert len(state.holds()) == CallState.MAX_HOLDS
    assert len(state.to_json()) < 10_000  # bounded: about 20 bytes a hold


def test_a_hold_change_makes_the_metrics_read_again() -> None:
    state = CallState("c")
    state.apply(TranscriptSegment("c", "s1", Speaker.AGENT, 0, 5000, "please hold"))
    first = state.metrics()
    assert state.metrics() is first  # cached while nothing changes
    state.hold_started(HoldStarted("c", "h1", 6000))
    after_start = state.metrics()
    assert after_start is not first
    state.hold_started(HoldStarted("c", "h1", 6000))  # a repeat: still cached
    assert state.metrics() is after_start
    state.hold_ended(HoldEnded("c", "h1", 50_000))
    assert state.metrics() is not after_start


def test_holds_of_an_ended_or_another_call_are_refused() -> None:
    state = CallState("c")
    with pytest.raises(InvalidEventError) as caught:
        state.hold_started(HoldStarted("other", "h1", 1000))
    assert caught.value.reason == "wrong_call"
    state.end(CallEnded("c", 10_000))
    with pytest.raises(InvalidEventError) as caught:
        state.hold_ended(HoldEnded("c", "h1", 1000))
    assert caught.value.reason == "call_ended"
    assert state.holds() == []


def test_holds_survive_the_state_round_trip() -> None:
    state = state_after([*EVENTS, HoldEnded("c", "h9", 500_000)])  # with an end still waiting
    for data in (state.to_dict(), orjson.loads(state.to_json())):
        restored = CallState.from_dict(data)
        assert restored.holds() == state.holds()
        assert restored.to_dict() == state.to_dict()
    restored = CallState.from_dict(orjson.loads(state.to_json()))
    assert restored.hold_started(HoldStarted("c", "h9", 450_000))  # the waiting end is kept
    assert restored.holds()[-1] == (400_000, None)
    assert (450_000, 500_000) not in restored.holds()  # inside the open hold from 400 s


def test_a_state_without_holds_is_written_as_before_and_read_from_before() -> None:
    state = CallState("c")
    state.apply(TranscriptSegment("c", "s1", Speaker.AGENT, 0, 5000, "hello"))
    data = orjson.loads(state.to_json())
    assert "holds" not in data  # byte for byte what a worker without holds writes
    assert data["v"] == CallState.SCHEMA_VERSION == 1
    assert CallState.from_dict(data).holds() == []


def processor(implicit_start: bool = True, registry: CollectorRegistry | None = None) -> CallProcessor:
    metrics = PipelineMetrics(registry or CollectorRegistry())
    return CallProcessor(CODEC, LiveCalls(EngineConfig()), metrics, implicit_start=implicit_start)


def avro(event: HoldStarted | HoldEnded | CallEnded | TranscriptSegment) -> bytes:
    return CODEC.encode(*event_to_record(event))


def test_the_worker_applies_hold_events_to_the_call() -> None:
    p = processor()
    p.process_record(b"c1", avro(TranscriptSegment("c1", "s1", Speaker.AGENT, 0, 5000, "one moment")), 0)
    started = p.process_record(b"c1", avro(HoldStarted("c1", "h1", 6000, source="pbx")), 0)
    assert started.error is None and started.call is not None
    json_end = b'{"type": "HoldEnded", "call_id": "c1", "hold_id": "h1", "at_ms": 66000}'
    ended = p.process_record(b"c1", json_end, 0)
    assert ended.error is None
    call = p.calls.get("c1")
    assert call is not None and call.state.holds() == [(6000, 66_000)]
    assert call.snapshot_pending
    # kept durably with the call
    assert LiveCall.from_bytes(call.to_bytes(), EngineConfig()).state.holds() == [(6000, 66_000)]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"type": "HoldStarted", "call_id": "c1", "hold_id": "h1", "at_ms": -5}', "negative_time"),
        (b'{"type": "HoldStarted", "call_id": "c1", "hold_id": "", "at_ms": 5}', "invalid_id"),
        (b'{"type": "HoldEnded", "call_id": "c1", "at_ms": 5}', "missing_field"),
        (b'{"type": "HoldEnded", "call_id": "c1", "hold_id": "h1", "at_ms": "5"}', "invalid_field"),
    ],
)
def test_bad_hold_records_are_dead_letters_with_their_reason(raw: bytes, reason: str) -> None:
    registry = CollectorRegistry()
    p = processor(registry=registry)
    result = p.process_record(b"c1", raw, 0)
    assert result.error is not None and result.error.reason == reason
    assert registry.get_sample_value("callfocus_invalid_events_total", {"reason": reason}) == 1
    assert p.calls.get("c1") is None  # a refused record changes no call


def test_holds_follow_the_call_rules_of_every_event() -> None:
    p = processor(implicit_start=False)
    result = p.process_record(b"c1", avro(HoldStarted("c1", "h1", 1000)), 0)
    assert result.error is not None and result.error.reason == "call_not_started"
    p = processor()
    p.process_record(b"c1", avro(TranscriptSegment("c1", "s1", Speaker.AGENT, 0, 5000, "bye")), 0)
    p.process_record(b"c1", avro(CallEnded("c1", 10_000)), 0)
    result = p.process_record(b"c1", avro(HoldEnded("c1", "h1", 1000)), 0)
    assert result.error is not None and result.error.reason == "call_ended"
    result = p.process_record(b"c2", avro(HoldStarted("c1", "h1", 1000)), 0)
    assert result.error is not None and result.error.reason == "key_mismatch"
    # a hold that ends before it starts: a dead letter, the call unchanged
    p.process_record(b"c3", avro(HoldStarted("c3", "h1", 9000)), 0)
    result = p.process_record(b"c3", avro(HoldEnded("c3", "h1", 8000)), 0)
    assert result.error is not None and result.error.reason == "end_before_start"
    call = p.calls.get("c3")
    assert call is not None and call.state.holds() == [(9000, None)]


def test_recordings_carry_holds_at_their_media_time_through_jsonl_and_replay(tmp_path: Path) -> None:
    events = [
        CallStarted("c", 0),
        TranscriptSegment("c", "s1", Speaker.AGENT, 0, 5000, "one moment please"),
        HoldStarted("c", "h1", 6000, source="pbx"),
        HoldEnded("c", "h1", 66_000),
        TranscriptSegment("c", "s2", Speaker.AGENT, 67_000, 70_000, "thanks for holding"),
        CallEnded("c", 71_000),
    ]
    recording = timeline("c", events)
    assert [(t.at_ms, type(t.event).__name__) for t in recording.events][1:4] == [
        (5000, "TranscriptSegment"),
        (6000, "HoldStarted"),
        (66_000, "HoldEnded"),
    ]
    path = tmp_path / "holds.jsonl"
    assert write_jsonl([recording], path) == len(events)
    (read,) = read_recordings(path, "jsonl")
    assert read == recording
    # replay stamps wall-clock fields only; holds are media time and go as they are
    assert stamp(events[2], 1_767_600_000_000) is events[2]
    assert [e for _, e in schedule([read]) if isinstance(e, HoldStarted | HoldEnded)] == events[2:4]
    # callfocus score applies them as the worker does, and counts the ones it refuses
    assert not score_recording(read).invalid
    bad = timeline("c", [*events[:4], HoldEnded("c", "h2", 68_000), HoldStarted("c", "h2", 69_000)])
    assert score_recording(bad).invalid == {"end_before_start": 1}
