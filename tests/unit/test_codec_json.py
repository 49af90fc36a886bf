"""JSON input: parsed with a depth limit and read with its own types, never coerced."""

from __future__ import annotations

import json

import pytest

from streams.wire.codec import AvroCodec, CodecError

CODEC = AvroCodec()


def reason_of(raw: bytes) -> str | None:
    try:
        CODEC.decode(raw)
    except CodecError as error:
        return error.reason
    return None


def json_event(name: str, **fields: object) -> bytes:
    return json.dumps({"type": name, **fields}).encode()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"is_final": "no"}, "invalid_field"),
        ({"is_final": 0}, "invalid_field"),
        ({"start_ms": 1.5}, "invalid_field"),
        ({"start_ms": True}, "invalid_field"),
        ({"start_ms": "0"}, "invalid_field"),
        ({"revision": 2**31}, "invalid_field"),
        ({"text": None}, "invalid_field"),
        ({"confidence": "high"}, "invalid_field"),
        ({"speaker": "BOT"}, "unknown_enum_symbol"),
        ({"confidence": 1}, None),  # an integer is a JSON number: a double takes it
    ],
)
def test_json_types_are_not_coerced(fields: dict[str, object], reason: str | None) -> None:
    record = {
        "call_id": "c1",
        "segment_id": "s1",
        "speaker": "AGENT",
        "start_ms": 0,
        "end_ms": 1000,
        "text": "hello",
        **fields,
    }
    assert reason_of(json_event("TranscriptSegment", **record)) == reason


@pytest.mark.parametrize("depth", [17, 1_000, 10_000, 100_000])
def test_deep_json_is_refused_before_anything_walks_it(depth: int) -> None:
    raw = b'{"type":"CallStarted","call_id":"c1","started_at":1,"x":' + b"[" * depth + b"]" * depth + b"}"
    assert reason_of(raw) == "json_too_deep"


def test_json_within_the_depth_limit_is_read() -> None:
    raw = json_event("CallStarted", call_id="c1", started_at=1, attributes={"a": "b"}, x=[[[[1]]]])
    assert reason_of(raw) is None
