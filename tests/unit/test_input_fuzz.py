"""Fuzzing the decoder and the processor: no input makes them raise, and every refusal
has a reason from the documented list (Hypothesis, no Kafka)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streams.engine import EngineConfig
from streams.errors import InvalidReason
from streams.wire.codec import AvroCodec
from streams.worker.calls import CallProcessor, LiveCalls
from streams.worker.exporter import PipelineMetrics

CODEC = AvroCodec()
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = [
    CODEC.encode("CallStarted", {"call_id": "c1", "started_at": 1, "team": "t", "attributes": {"k": "v"}}),
    CODEC.encode(
        "TranscriptSegment",
        {"call_id": "c1", "segment_id": "s1", "speaker": "AGENT", "start_ms": 0, "end_ms": 900, "text": "hi"},
    ),
    CODEC.encode("CallEnded", {"call_id": "c1", "ended_at": 50, "reason": "hangup"}),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
field_names = st.sampled_from(
    ["call_id", "segment_id", "speaker", "start_ms", "end_ms", "text", "revision", "is_final", "confidence",
     "produced_at", "started_at", "ended_at", "team", "agent_id", "queue", "language", "attributes", "reason"]
)  # fmt: skip
json_events = st.builds(
    lambda name, fields: json.dumps({"type": name, **fields}).encode(),
    st.sampled_from(["CallStarted", "TranscriptSegment", "CallEnded", "CallMetrics", "Nope"]),
    st.dictionaries(field_names, json_values, max_size=10),
)


def fresh() -> CallProcessor:
    return CallProcessor(CODEC, LiveCalls(EngineConfig()), PipelineMetrics(CollectorRegistry()))


def refused_with_a_known_reason(p: CallProcessor, key: bytes | None, raw: bytes) -> None:
    result = p.process_record(key, raw, 0)
    if result.error is not None:
        assert isinstance(result.error.reason, InvalidReason), result.error
        assert result.error.reason is not InvalidReason.INTERNAL_ERROR, result.error.detail


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(raw: bytes) -> None:
    refused_with_a_known_reason(fresh(), b"c1", raw)


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_valid_avro_with_bytes_flipped_cut_or_added(valid: bytes, data: st.DataObject) -> None:
    raw = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(2, len(raw)))
    extra = data.draw(st.binary(max_size=8))
    p = fresh()
    refused_with_a_known_reason(p, b"c1", VALID[0])
    refused_with_a_known_reason(p, b"c1", bytes(raw[:cut]) + extra)


@FUZZ
@given(json_events, st.sampled_from([b"c1", None, b"x"]))
def test_json_events_of_any_shape(raw: bytes, key: bytes | None) -> None:
    p = fresh()
    refused_with_a_known_reason(p, b"c1", VALID[0])
    refused_with_a_known_reason(p, key, raw)


@FUZZ
@given(st.lists(st.sampled_from(VALID) | json_events, max_size=12))
def test_sequences_of_events_keep_the_processor_working(raws: list[bytes]) -> None:
    p = fresh()
    for raw in raws:
        refused_with_a_known_reason(p, b"c1", raw)
    assert (
        p.process_record(b"c9", CODEC.encode("CallStarted", {"call_id": "c9", "started_at": 1}), 0).error
        is None
    )
