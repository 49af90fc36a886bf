from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from streams.errors import InvalidEventError
from streams.wire.codec import (
    HEADER_LEN,
    SINGLE_OBJECT_MARKER,
    AvroCodec,
    CodecError,
    SchemaLoadError,
    crc64_avro,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

EXAMPLES: dict[str, dict[str, Any]] = {
    "CallStarted": {
        "call_id": "c1",
        "started_at": 1_767_600_000_000,
        "agent_id": "a1",
        "team": "sales",
        "queue": "q",
        "direction": "outbound",
        "language": "en",
        "tenant": "acme",
        "customer_org": "Fabrikam",
        "seller_org": "Contoso",
        "attributes": {"crm": "42"},
    },
    "TranscriptSegment": {
        "call_id": "c1",
        "segment_id": "s1",
        "revision": 2,
        "speaker": "CUSTOMER",
        "start_ms": 10,
        "end_ms": 900,
        "text": "what does your roadmap look like",
        "is_final": True,
        "confidence": 0.5,
        "produced_at": 1_767_600_000_900,
    },
    "CallEnded": {"call_id": "c1", "ended_at": 1_767_600_060_000, "reason": "hangup"},
    "HoldStarted": {"call_id": "c1", "hold_id": "h1", "at_ms": 30_000, "reason": "lookup", "source": "pbx"},
    "HoldEnded": {"call_id": "c1", "hold_id": "h1", "at_ms": 75_000, "source": "pbx"},
    "CallMetrics": {
        "call_id": "c1",
        "agent_id": "a1",
        "team": "sales",
        "queue": "q",
        "media_time_ms": 60_000,
        "emitted_at": 1_767_600_060_000,
        "ended": False,
        "customer_focus_score": 71.5,
        "windows": [
            {
                "window": "60s",
                "agent_talk_ratio": 0.5,
                "questions_per_minute": 1.0,
                "open_question_ratio": 0.5,
                "you_focus_ratio": 0.75,
                "pitch_ratio": 0.0,
                "reflection_ratio": 0.25,
                "interruptions": 1,
                "response_gap_seconds": 0.8,
                "customer_sentiment": -0.1,
                "dead_air_silences": 1,
                "dead_air_longest_seconds": 7.5,
                "dead_air_ratio": 0.125,
                "overtalk_ratio": 0.02,
                "agent_words_per_minute": 150.0,
                "speaker_switches_per_minute": 4.0,
            }
        ],
        "monologue_current_seconds": 12.0,
        "monologue_longest_seconds": 40.0,
        "customer_story_longest_seconds": 30.0,
        "holds": 1,
        "hold_seconds": 45.0,
        "probable_holds": 0,
        "objections": 2,
        "objection_question_ratio": 0.5,
        "objection_pitch_ratio": 0.5,
        "objection_wait_seconds": -0.25,
        "score_components": [
            {"name": "talk_balance", "value": 0.5, "grade": 0.857143, "weight": 0.25},
            {"name": "interruptions", "value": 10.0, "grade": 0.0, "weight": 0.1},
        ],
        "tracker_hits": [{"tracker": "escalation_request", "hits": 2}],
        "definitions": "callfocus-0.1.0+a1b2c3d4e5f6",
        "language": "es-MX",
        "lexicon_language": "es",
        "language_supported": True,
        "roles_swapped_suspected": True,
        "roles_exchanged": False,
    },
    "Nudge": {
        "nudge_id": "n1",
        "call_id": "c1",
        "agent_id": "a1",
        "team": "sales",
        "type": "monologue",
        "severity": "warning",
        "message": "invite the customer in",
        "evidence": {"monologue_seconds": 95.0},
        "media_time_ms": 95_000,
        "created_at": 1_767_600_095_000,
        "snippet": None,
    },
    "NudgeAck": {
        "nudge_id": "n1",
        "call_id": "c1",
        "agent_id": "a1",
        "team": "sales",
        "type": "monologue",
        "acked_by": "sam@example.com",
        "acked_at": 1_767_600_120_000,
        "note": "talked it through <after> the call",
    },
    "CallSummary": {
        "call_id": "c1",
        "agent_id": "a1",
        "team": "sales",
        "queue": "q",
        "started_at": 1_767_600_000_000,
        "ended_at": 1_767_600_060_000,
        "end_reason": "hangup",
        "duration_seconds": 60.0,
        "segments": 12,
        "customer_focus_score": 71.5,
        "agent_talk_ratio": 0.5,
        "monologue_longest_seconds": 40.0,
        "customer_story_longest_seconds": 30.0,
        "questions_per_minute": 1.0,
        "open_question_ratio": 0.5,
        "you_focus_ratio": 0.75,
        "pitch_ratio": 0.0,
        "reflection_ratio": 0.25,
        "interruptions": 1,
        "response_gap_seconds": 0.8,
        "customer_sentiment": -0.1,
        "dead_air_silences": 1,
        "dead_air_longest_seconds": 7.5,
        "dead_air_ratio": 0.125,
        "overtalk_ratio": 0.02,
        "agent_words_per_minute": 150.0,
        "speaker_switches_per_minute": 4.0,
        "holds": 1,
        "hold_seconds": 45.0,
        "probable_holds": 0,
        "objections": 2,
        "objection_question_ratio": 0.5,
        "objection_pitch_ratio": 0.5,
        "objection_wait_seconds": -0.25,
        "nudges": ["n1"],
        "tracker_hits": [{"tracker": "escalation_request", "hits": 2}],
        "definitions": "callfocus-0.1.0+a1b2c3d4e5f6",
        "language": "es-MX",
        "lexicon_language": "es",
        "language_supported": True,
        "roles_swapped_suspected": True,
        "roles_exchanged": False,
    },
}


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(SCHEMAS)


def test_every_schema_has_an_example(codec: AvroCodec) -> None:
    assert set(codec.names) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_round_trip_single_object_encoding(codec: AvroCodec, name: str) -> None:
    data = codec.encode(name, EXAMPLES[name])
    assert data[:2] == SINGLE_OBJECT_MARKER
    assert int.from_bytes(data[2:10], "little") == codec.fingerprint(name)
    assert codec.decode(data) == (name, EXAMPLES[name])


# The fingerprints records already on the topics carry (computed by the hand-written
# CRC-64-AVRO table before fastavro's took over): a change here orphans those records.
FINGERPRINTS = {
    "CallEnded.avsc": 8246738596856229094,
    "CallMetrics.avsc": 10159569258747023281,
    "CallStarted.avsc": 8734461993585356858,
    "CallSummary.avsc": 15704824367816946707,
    "HoldEnded.avsc": 8936150166619533119,
    "HoldStarted.avsc": 2906787403225438830,
    "Nudge.avsc": 15872446106557108893,
    "NudgeAck.avsc": 5025652796211424864,
    "TranscriptSegment.avsc": 15793232432558282445,
    "previous/CallMetrics-1.avsc": 6814761197219334155,
    "previous/CallMetrics-2.avsc": 1893832381073510427,
    "previous/CallMetrics-3.avsc": 17491096421587935673,
    "previous/CallSummary-1.avsc": 5569770575528192615,
    "previous/CallSummary-2.avsc": 9403824472532804541,
}


def test_every_schema_file_has_a_pinned_fingerprint() -> None:
    assert sorted(str(p.relative_to(SCHEMAS)) for p in SCHEMAS.rglob("*.avsc")) == sorted(FINGERPRINTS)


@pytest.mark.parametrize("path", sorted(FINGERPRINTS))
def test_fingerprint_is_the_one_records_on_the_topics_carry(path: str) -> None:
    raw = json.loads((SCHEMAS / path).read_text())
    codec = AvroCodec(schemas=[raw])
    assert codec.fingerprint(raw["name"]) == FINGERPRINTS[path]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_fingerprint_is_the_avro_spec_crc64_of_the_canonical_form(codec: AvroCodec, name: str) -> None:
    raw = json.loads((SCHEMAS / f"{name}.avsc").read_text())
    canonical = to_parsing_canonical_form(raw)
    # fastavro prints the fingerprint's little-endian bytes as hex; the header carries those bytes
    assert codec.fingerprint(name).to_bytes(8, "little").hex() == fingerprint(canonical, "CRC-64-AVRO")
    assert codec.fingerprint(name) == crc64_avro(canonical)


def test_crc64_avro_matches_the_avro_specification_vector() -> None:
    # the Avro specification's reference implementation: the fingerprint of the empty string
    # is the polynomial's EMPTY value itself
    assert crc64_avro("") == 0xC15D213AA4D7A795


def test_schemas_are_parsed_once_not_at_every_read(codec: AvroCodec) -> None:
    # fastavro parses a schema again at every read and write unless it carries fastavro's
    # "parsed" mark: that was three quarters of the worker's decode time
    for name in codec.names:
        assert codec._schema(name).parsed.get("__fastavro_parsed") is True


def test_json_input_gives_the_same_record_with_defaults(codec: AvroCodec) -> None:
    line = (
        b'{"type": "TranscriptSegment", "call_id": "c1", "segment_id": "s1", "speaker": "AGENT",'
        b' "start_ms": 0, "end_ms": 5, "text": "hi"}'
    )
    name, record = codec.decode(line)
    assert name == "TranscriptSegment"
    assert record["revision"] == 0 and record["is_final"] is True and record["produced_at"] == 0
    assert codec.decode(codec.encode(name, record)) == (name, record)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (None, "empty"),  # a tombstone: a record with a key and no value
        (b"\x00\x00\x00\x00\x01", "unknown_format"),
        (SINGLE_OBJECT_MARKER + b"\x00" * 8 + b"\x02", "unknown_schema"),
        (SINGLE_OBJECT_MARKER + b"\x01", "undecodable"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "unknown_format"),
        (b'{"call_id": "c1"}', "missing_type"),
        (b'{"type": "Nope", "call_id": "c1"}', "unknown_record"),
        (b'{"type": "CallEnded", "call_id": "c1"}', "missing_field"),
        (b'{"type": "CallEnded", "call_id": "c\xff", "ended_at": 1}', "invalid_utf8"),
        (
            b'{"type": "TranscriptSegment", "call_id": "c", "segment_id": "s", "speaker": "BOT", '
            b'"start_ms": 0, "end_ms": 1, "text": ""}',
            "unknown_enum_symbol",
        ),
        (b'{"type": "CallEnded", "call_id": "c1", "ended_at": "soon"}', "invalid_field"),
    ],
)
def test_bad_input_raises_codec_error_with_reason(codec: AvroCodec, data: bytes | None, reason: str) -> None:
    with pytest.raises(CodecError) as caught:
        codec.decode(data)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_binary_damage_is_reported_not_raised_raw(codec: AvroCodec) -> None:
    good = codec.encode("TranscriptSegment", EXAMPLES["TranscriptSegment"])
    speaker_at = good.index(b"what") - 1  # a byte inside the record body
    with pytest.raises(CodecError) as caught:
        codec.decode(good[:speaker_at])
    assert caught.value.reason == "undecodable"
    with pytest.raises(CodecError) as caught:
        codec.decode(good + b"\x00")
    assert caught.value.reason == "undecodable"
    # cut anywhere: fastavro names the stream it reads, with its address ("cannot read
    # float from <_io.BytesIO object at 0x...>"); the dead-letter detail does not
    for cut in range(HEADER_LEN, len(good)):
        with pytest.raises(CodecError) as caught:
            codec.decode(good[:cut])
        assert " at 0x" not in caught.value.detail, caught.value.detail
    bad_utf8 = good.replace(b"roadmap", b"roadm\xffp")
    with pytest.raises(CodecError) as caught:
        codec.decode(bad_utf8)
    assert caught.value.reason == "invalid_utf8"


def _schema_with_new_field() -> dict[str, Any]:
    raw = json.loads((SCHEMAS / "TranscriptSegment.avsc").read_text())
    raw["fields"].append({"name": "channel", "type": "string", "default": "mono"})
    return raw


def _codec_with(replaced: dict[str, Any]) -> AvroCodec:
    raws = [json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.avsc"))]
    return AvroCodec(schemas=[replaced if r["name"] == replaced["name"] else r for r in raws])


def test_new_reader_reads_old_data_filling_the_default(codec: AvroCodec) -> None:
    new = _codec_with(_schema_with_new_field())
    old_bytes = codec.encode("TranscriptSegment", EXAMPLES["TranscriptSegment"])
    new.register_writer_schema(json.loads((SCHEMAS / "TranscriptSegment.avsc").read_text()))
    name, record = new.decode(old_bytes)
    assert name == "TranscriptSegment"
    assert record == {**EXAMPLES["TranscriptSegment"], "channel": "mono"}


def test_old_reader_reads_new_data_ignoring_the_new_field(codec: AvroCodec) -> None:
    new = _codec_with(_schema_with_new_field())
    new_bytes = new.encode("TranscriptSegment", {**EXAMPLES["TranscriptSegment"], "channel": "left"})
    old = AvroCodec(SCHEMAS)
    with pytest.raises(CodecError) as caught:
        old.decode(new_bytes)
    assert caught.value.reason == "unknown_schema"  # until the writer schema is known
    old.register_writer_schema(_schema_with_new_field())
    assert old.decode(new_bytes) == ("TranscriptSegment", EXAMPLES["TranscriptSegment"])


def _projected(record: dict[str, Any], fields: list[dict[str, Any]]) -> dict[str, Any]:
    """``record`` with only the fields a schema has: nested records (in arrays) too."""
    out = {}
    for field in fields:
        if field["name"] not in record:
            continue
        value = record[field["name"]]
        kind = field["type"]
        if isinstance(kind, dict) and kind.get("type") == "array" and isinstance(kind["items"], dict):
            value = [_projected(item, kind["items"]["fields"]) for item in value]
        out[field["name"]] = value
    return out


def _defaults_filled(record: dict[str, Any], fields: list[dict[str, Any]]) -> dict[str, Any]:
    """``record`` read with a schema of ``fields``: the fields it lacks at their defaults."""
    out = {}
    for field in fields:
        kind = field["type"]
        if field["name"] not in record:
            out[field["name"]] = field["default"]
        elif isinstance(kind, dict) and kind.get("type") == "array" and isinstance(kind["items"], dict):
            out[field["name"]] = [_defaults_filled(i, kind["items"]["fields"]) for i in record[field["name"]]]
        else:
            out[field["name"]] = record[field["name"]]
    return out


PREVIOUS = sorted(str(p.relative_to(SCHEMAS)) for p in (SCHEMAS / "previous").glob("*.avsc"))


@pytest.mark.parametrize("path", PREVIOUS)
def test_the_shipped_codec_reads_records_written_with_every_previous_schema(
    codec: AvroCodec, path: str
) -> None:
    # a snapshot or summary already on the topic when a release adds fields: schemas/previous/
    previous = json.loads((SCHEMAS / path).read_text())
    name = previous["name"]
    current = json.loads((SCHEMAS / f"{name}.avsc").read_text())
    writer = AvroCodec(schemas=[previous])
    old_record = _projected(EXAMPLES[name], previous["fields"])
    old_bytes = writer.encode(name, old_record)
    assert old_bytes[2:10] != codec.encode(name, EXAMPLES[name])[2:10]
    decoded_name, decoded = codec.decode(old_bytes)
    assert decoded_name == name
    assert decoded == _defaults_filled(old_record, current["fields"])
    assert decoded != EXAMPLES[name]  # the later fields were there to be missed
    # without the previous versions (schemas given one by one) the old writer is unknown
    current_only = AvroCodec(schemas=[json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.avsc"))])
    with pytest.raises(CodecError) as caught:
        current_only.decode(old_bytes)
    assert caught.value.reason == "unknown_schema"


def test_previous_schemas_name_records_the_codec_knows() -> None:
    current = {json.loads(p.read_text())["name"] for p in SCHEMAS.glob("*.avsc")}
    previous = sorted((SCHEMAS / "previous").glob("*.avsc"))
    assert previous, "schemas/previous/ holds the earlier CallMetrics"
    for path in previous:
        assert json.loads(path.read_text())["name"] in current, path


def test_a_schema_directory_without_schemas_is_a_start_fault_not_a_dead_letter(tmp_path: Path) -> None:
    with pytest.raises(SchemaLoadError, match=r"no \.avsc files") as caught:
        AvroCodec(tmp_path)
    assert not isinstance(caught.value, InvalidEventError)
    (tmp_path / "Broken.avsc").write_text("[]", encoding="utf-8")
    with pytest.raises(SchemaLoadError, match="is not an Avro record schema"):
        AvroCodec(tmp_path)


# What today's producers write to call-events, before the optional hold events existed.
TODAYS_INPUT = ("CallStarted", "TranscriptSegment", "CallEnded")


def test_hold_events_leave_todays_producers_records_as_they_were(codec: AvroCodec) -> None:
    # a codec from the schemas without the hold events stands for a producer (or worker)
    # built before them: its records carry the same fingerprints and decode the same
    without_holds = AvroCodec(
        schemas=[
            json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.avsc")) if not p.name.startswith("Hold")
        ]
    )
    assert not {"HoldStarted", "HoldEnded"} & set(without_holds.names)
    for name in TODAYS_INPUT:
        old_bytes = without_holds.encode(name, EXAMPLES[name])
        assert old_bytes == codec.encode(name, EXAMPLES[name])
        assert codec.decode(old_bytes) == (name, EXAMPLES[name])
    # JSON producers too: the same line gives the same record, defaults filled
    line = b'{"type": "CallEnded", "call_id": "c1", "ended_at": 5}'
    assert (
        codec.decode(line)
        == without_holds.decode(line)
        == ("CallEnded", {"call_id": "c1", "ended_at": 5, "reason": None})
    )
    # the hold events add no field to an existing record: nothing new a producer must send
    for name in TODAYS_INPUT:
        assert codec.fingerprint(name) == without_holds.fingerprint(name)


def test_hold_events_need_only_call_id_hold_id_and_at_ms(codec: AvroCodec) -> None:
    for name in ("HoldStarted", "HoldEnded"):
        raw = json.loads((SCHEMAS / f"{name}.avsc").read_text())
        required = [f["name"] for f in raw["fields"] if "default" not in f]
        assert required == ["call_id", "hold_id", "at_ms"], name
        _, record = codec.decode(f'{{"type": "{name}", "call_id": "c", "hold_id": "h", "at_ms": 1}}'.encode())
        assert record["source"] is None


def test_a_worker_without_the_hold_schemas_dead_letters_holds_it_cannot_read(codec: AvroCodec) -> None:
    # why workers are upgraded before a producer sends holds (docs/pipeline.md)
    old_worker = AvroCodec(
        schemas=[json.loads((SCHEMAS / f"{name}.avsc").read_text()) for name in TODAYS_INPUT]
    )
    with pytest.raises(CodecError) as caught:
        old_worker.decode(codec.encode("HoldStarted", EXAMPLES["HoldStarted"]))
    assert caught.value.reason == "unknown_schema"
    with pytest.raises(CodecError) as caught:
        old_worker.decode(b'{"type": "HoldEnded", "call_id": "c", "hold_id": "h", "at_ms": 1}')
    assert caught.value.reason == "unknown_record"
