"""The rules every input event must follow, each with its dead-letter reason (no Kafka).

Each rule is checked through :class:`CallProcessor` as the worker runs it, on a fresh
registry, with the rule's reason counted and nothing else changed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streams.engine import EngineConfig
from streams.errors import InvalidEventError, InvalidReason
from streams.wire.codec import AvroCodec
from streams.worker.calls import CallProcessor, EndedCall, LiveCalls
from streams.worker.exporter import INVALID_REASONS, PipelineMetrics

CODEC = AvroCodec()


def processor(implicit_start: bool = False, wall: list[int] | None = None) -> CallProcessor:
    clock = wall if wall is not None else [10_000]
    return CallProcessor(
        CODEC,
        LiveCalls(EngineConfig()),
        PipelineMetrics(CollectorRegistry()),
        wall_clock_ms=lambda: clock[0],
        implicit_start=implicit_start,
    )


def started(call_id: str = "c1", **fields: object) -> bytes:
    return CODEC.encode("CallStarted", {"call_id": call_id, "started_at": 1_000, **fields})


def segment(call_id: str = "c1", sid: str = "s1", start: int = 0, **fields: object) -> bytes:
    record = {
        "call_id": call_id,
        "segment_id": sid,
        "speaker": "AGENT",
        "start_ms": start,
        "end_ms": start + 1000,
        "text": "how is your business going",
        **fields,
    }
    return CODEC.encode("TranscriptSegment", record)


def ended(call_id: str = "c1", at: int = 5_000, reason: str | None = None) -> bytes:
    return CODEC.encode("CallEnded", {"call_id": call_id, "ended_at": at, "reason": reason})


def json_event(name: str, **fields: object) -> bytes:
    return json.dumps({"type": name, **fields}).encode()


def reason_of(p: CallProcessor, raw: bytes | None, key: bytes | None = b"c1") -> str | None:
    result = p.process_record(key, raw, 0)
    return None if result.error is None else result.error.reason


def test_a_segment_or_end_of_a_call_never_started_is_refused_and_creates_nothing() -> None:
    p = processor()
    assert reason_of(p, segment()) == "call_not_started"
    assert reason_of(p, ended()) == "call_not_started"
    assert p.calls.get("c1") is None and len(p.calls) == 0
    assert p.metrics.invalid_events.labels("call_not_started")._value.get() == 2


def test_implicit_start_takes_a_call_without_its_start() -> None:
    p = processor(implicit_start=True)
    assert reason_of(p, segment()) is None
    call = p.calls.get("c1")
    assert call is not None and call.labels == ("unknown", "unknown", "unknown")


def test_every_event_after_the_end_is_refused_while_the_call_is_in_memory() -> None:
    p = processor()
    for raw in (started(), segment(), ended()):
        assert reason_of(p, raw) is None
    assert reason_of(p, segment(sid="late")) == "call_ended"
    assert reason_of(p, started()) == "call_ended"
    assert reason_of(p, ended(at=6_000)) == "call_ended"
    # the worker's own idle end, overtaken by the call's end, is dropped without a dead letter
    assert p.process_record(b"c1", ended(at=7_000, reason="timeout"), 0).error is None


def test_after_the_call_left_memory_its_end_marker_refuses_its_events() -> None:
    p = processor()
    for raw in (started(), segment(), ended()):
        reason_of(p, raw)
    assert p.calls.drop_ended(float("inf")) == 1
    assert p.calls.get("c1") is None
    assert isinstance(p.calls.find("c1"), EndedCall)
    assert reason_of(p, segment(sid="late")) == "call_ended"
    assert reason_of(p, started()) == "call_ended", "a second start would give a second summary"


def test_the_end_marker_is_what_the_table_keeps_and_it_is_read_back() -> None:
    wall = [10_000]
    p = processor(wall=wall)
    for raw in (started(), segment()):
        reason_of(p, raw)
    wall[0] = 12_345
    reason_of(p, ended())
    call = p.calls.get("c1")
    assert call is not None
    marker = call.durable_data()
    assert marker == {"partition": 0, "ended_wall_ms": 12_345}
    # a worker that loads the call from the table after a restart finds the marker
    table = {"c1": call.to_bytes()}
    from streams.worker.calls import read_durable

    again = processor()
    again.calls.load = lambda call_id: (
        read_durable(call_id, table[call_id], EngineConfig()) if call_id in table else None
    )
    assert reason_of(again, segment(sid="late")) == "call_ended"
    assert reason_of(again, started("c2"), key=b"c2") is None


def test_ends_are_forgotten_after_the_memory_and_the_marker_deleted() -> None:
    wall = [10_000]
    p = processor(wall=wall)
    for call_id in ("old", "new"):
        reason_of(p, started(call_id), key=call_id.encode())
    reason_of(p, ended("old"), key=b"old")
    wall[0] = 20_000
    reason_of(p, ended("new"), key=b"new")
    p.calls.drop_ended(float("inf"))
    expired = p.calls.expire_ended(15_000)
    assert [e.call_id for e in expired] == ["old"]
    assert set(p.calls.ended) == {"new"}


def test_an_end_before_the_start_is_refused() -> None:
    p = processor()
    reason_of(p, started())
    assert reason_of(p, ended(at=999)) == "ended_before_start"
    call = p.calls.get("c1")
    assert call is not None and call.ended_monotonic is None


@pytest.mark.parametrize(
    ("key", "reason"), [(None, "missing_key"), (b"other", "key_mismatch"), (b"c1 ", "key_mismatch")]
)
def test_the_key_must_be_the_call_id(key: bytes | None, reason: str) -> None:
    p = processor()
    assert reason_of(p, started(), key=key) == reason
    assert p.calls.get("c1") is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"call_id": "x" * 129}, "invalid_id"),
        ({"call_id": "has space"}, "invalid_id"),
        ({"call_id": "tab\there"}, "invalid_id"),
        ({"call_id": "x" * 128}, None),
        ({"team": "t" * 65}, "invalid_label"),
        ({"team": "line\nbreak"}, "invalid_label"),
        ({"queue": ""}, "invalid_label"),
        ({"agent_id": "a\x00"}, "invalid_label"),
        ({"team": "Équipe Nord"}, None),
        ({"tenant": "t" * 257}, "field_too_long"),
        ({"attributes": {str(i): "v" for i in range(33)}}, "field_too_long"),
        ({"attributes": {"k": "v" * 257}}, "field_too_long"),
    ],
)
def test_ids_and_labels_are_bounded_and_printable(fields: dict[str, object], reason: str | None) -> None:
    p = processor()
    call_id = str(fields.get("call_id", "c1"))
    raw = started(**{"call_id": call_id, **{k: v for k, v in fields.items() if k != "call_id"}})
    assert reason_of(p, raw, key=call_id.encode()) == reason


def test_segment_ids_are_bounded() -> None:
    p = processor(implicit_start=True)
    assert reason_of(p, segment(sid="s" * 129)) == "invalid_id"


class BrokenCodec(AvroCodec):
    """The real codec, but for one record that makes it fail as a bug would."""

    def decode(self, data: bytes | None) -> tuple[str, dict[str, object]]:
        if data == b"boom":
            raise RecursionError("maximum recursion depth exceeded")
        return super().decode(data)


def test_an_unexpected_error_dead_letters_its_record_and_the_next_one_is_applied() -> None:
    p = CallProcessor(BrokenCodec(), LiveCalls(EngineConfig()), PipelineMetrics(CollectorRegistry()))
    result = p.process_record(b"c1", b"boom", 0)
    assert result.error is not None and result.error.reason == "internal_error"
    assert result.error.detail == "RecursionError: maximum recursion depth exceeded"
    assert p.metrics.invalid_events.labels("internal_error")._value.get() == 1
    assert reason_of(p, started()) is None and p.calls.get("c1") is not None


def test_every_reason_is_precreated_in_the_counter_and_no_other() -> None:
    """Each reason's counter exists at 0 before its first dead letter (rate() sees its
    first step), with the label value the DLQ header carries."""
    registry = CollectorRegistry()
    PipelineMetrics(registry)
    counted = {
        sample.labels["reason"]: sample.value
        for metric in registry.collect()
        if metric.name == "callfocus_invalid_events"
        for sample in metric.samples
    }
    assert counted == {reason.value: 0.0 for reason in InvalidReason}
    assert tuple(reason.value for reason in InvalidReason) == INVALID_REASONS


def test_every_reason_is_raised_somewhere() -> None:
    """A member that no code raises is a documented reason no record can get."""
    package = Path(__file__).resolve().parents[2] / "streams"
    sources = "\n".join(
        path.read_text(encoding="utf-8") for path in package.rglob("*.py") if path.name != "errors.py"
    )
    used = set(re.findall(r"InvalidReason\.([A-Z0-9_]+)", sources))
    assert used == {reason.name for reason in InvalidReason}


def test_a_reason_is_its_value_in_the_header_the_label_and_the_message() -> None:
    error = InvalidEventError(InvalidReason.TOO_LATE, "segment s1 of call c1")
    assert error.reason.encode() == b"too_late"  # the DLQ error.reason header
    assert str(error) == "too_late: segment s1 of call c1"
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    metrics.invalid_events.labels(error.reason).inc()
    assert registry.get_sample_value("callfocus_invalid_events_total", {"reason": "too_late"}) == 1


def test_a_call_whose_state_cannot_be_read_starts_again_from_its_next_event() -> None:
    from streams.worker.calls import LostCall

    p = processor()
    p.calls.load = lambda call_id: LostCall(call_id) if call_id == "c1" else None
    assert reason_of(p, segment()) is None, "its CallStarted is in the lost state: no call_not_started"
    call = p.calls.get("c1")
    assert call is not None and call.state.segments_applied == 1
    assert reason_of(p, segment("c2", sid="s1"), key=b"c2") == "call_not_started"


def test_a_forgotten_end_is_a_deletion_in_the_next_commit() -> None:
    from streams.worker.calls import ForgottenCall

    p = processor()
    p.calls.unwritten.changed(ForgottenCall("old"), "partition 3")
    p.calls.unwritten.begin()
    assert p.calls.unwritten.take(10) == [(b"old", None, "partition 3")]


def test_the_docs_list_every_dead_letter_reason_and_no_other() -> None:
    """docs/pipeline.md's table of reasons is what an operator reads a dead letter's
    ``error.reason`` header against: a new reason must be documented with its rule."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "pipeline.md").read_text(encoding="utf-8")
    section = doc.split("\n## Input rules and dead letters\n", 1)[1].split("\n## ", 1)[0]
    documented = {
        reason
        for row in section.splitlines()
        if row.startswith("| `")
        for reason in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1])
    }
    assert documented == {reason.value for reason in InvalidReason}
