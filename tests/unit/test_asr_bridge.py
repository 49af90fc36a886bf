"""The bridge's pure part: a record in, its events or one dead letter out."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.errors import InvalidEventError
from streams.tools.bridge import BridgeConfig, Converter, InputRecord
from streams.tools.sources.asr import VENDOR_FORMATS, ChannelRoles, parser_for
from streams.wire.codec import AvroCodec
from streams.wire.events import CallEnded, Speaker, TranscriptSegment, event_from_record

CONFIG = BridgeConfig(
    fmt="deepgram",
    input_topic="p.asr.deepgram",
    output_topic="p.call-events",
    dead_letter_topic="p.call-events.dlq",
    group_id="g",
    transactional_id="t",
)
RESULT = {
    "type": "Results",
    "channel_index": [1, 2],
    "start": 2.0,
    "duration": 1.5,
    "is_final": True,
    "channel": {"alternatives": [{"transcript": "what would help most", "confidence": 0.8, "words": []}]},
}


def record(value: bytes | None, key: bytes | None = b"call-1", headers: Any = ()) -> InputRecord:
    return InputRecord("p.asr.deepgram", 2, 17, 1_700_000_000_000, key, value, tuple(headers))


def test_a_record_becomes_its_events_keyed_by_call_id_and_stamped_with_the_record_time() -> None:
    [out] = Converter(CONFIG).convert(record(json.dumps(RESULT).encode()))
    assert (out.topic, out.key, out.headers) == ("p.call-events", b"call-1", ())
    event = event_from_record(*AvroCodec().decode(out.value))
    assert event.replace(confidence=round(event.confidence or 0, 3)) == TranscriptSegment(
        "call-1",
        "1-2000",
        Speaker.CUSTOMER,
        2000,
        3500,
        "what would help most",
        100_003_500,
        True,
        0.8,
        1_700_000_000_000,
    )


def test_the_same_record_gives_the_same_bytes_after_a_restart() -> None:
    value = json.dumps(RESULT).encode()
    assert Converter(CONFIG).convert(record(value)) == Converter(CONFIG).convert(record(value))


def test_json_wire_format_and_a_call_id_header() -> None:
    config = BridgeConfig(**{**_fields(CONFIG), "wire_format": "json", "call_id_header": "contact"})
    metadata = json.dumps({"type": "Metadata", "request_id": "r"}).encode()
    [out] = Converter(config).convert(record(metadata, key=None, headers=[("contact", b"c-9")]))
    assert json.loads(out.value or b"") == {
        "type": "CallEnded",
        "call_id": "c-9",
        "ended_at": 1_700_000_000_000,
        "reason": "completed",
    }
    assert event_from_record(*AvroCodec().decode(out.value)) == CallEnded(
        "c-9", 1_700_000_000_000, "completed"
    )


def test_bad_records_are_dead_letters_with_a_reason_and_where_they_came_from() -> None:
    converter = Converter(CONFIG)
    cases = {
        b"invalid_json": record(b"{oops"),
        b"invalid_utf8": record(b"\xff\xfe"),
        b"empty": record(b""),
        b"missing_key": record(json.dumps(RESULT).encode(), key=None),
        b"missing_field": record(json.dumps({"type": "Results"}).encode()),
        b"invalid_id": record(json.dumps(RESULT).encode(), key=b"has space"),
    }
    for reason, bad in cases.items():
        [out] = converter.convert(bad)
        headers = dict(out.headers)
        assert (out.topic, headers["error.reason"]) == ("p.call-events.dlq", reason), headers
        assert (out.key, out.value) == (bad.key, bad.value)  # kept as it came
        assert headers["source.topic"] == b"p.asr.deepgram"
        assert (headers["source.partition"], headers["source.offset"]) == (b"2", b"17")
        assert headers["error.detail"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "Transcript",
                    "Results",
                    "ResultId",
                    "StartTime",
                    "EndTime",
                    "IsPartial",
                    "Alternatives",
                    "ChannelId",
                    "Items",
                    "EventType",
                    "Segments",
                    "Utterance",
                    "Id",
                    "TranscriptId",
                    "Content",
                    "PartialContent",
                    "ParticipantRole",
                    "BeginOffsetMillis",
                    "EndOffsetMillis",
                    "results",
                    "alternatives",
                    "transcript",
                    "isFinal",
                    "resultEndTime",
                    "channelTag",
                    "channel_index",
                    "start",
                    "duration",
                    "is_final",
                    "channel",
                    "words",
                    "speaker",
                    "segments",
                    "id",
                    "end",
                    "text",
                    "confidence",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VENDOR_FORMATS), json_values)
def test_any_json_gives_events_or_the_projects_error(fmt: Any, message: Any) -> None:
    parser = parser_for(fmt, ChannelRoles())
    try:
        events = parser.parse(message, "call-1", 0)
    except InvalidEventError as error:
        assert error.detail.startswith(f"{fmt}: ")
    else:
        assert all(e.call_id == "call-1" for e in events)


def _fields(config: BridgeConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__slots__}
