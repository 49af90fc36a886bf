"""The compiled Avro reader reads exactly what fastavro reads, and leaves to fastavro every
record it is not sure about."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.wire import avro_reader
from streams.wire.avro_reader import compile_reader
from streams.wire.codec import HEADER_LEN, AvroCodec, CodecError, _without_logical_types
from tests.unit.test_avro_writer import SCHEMAS, values_of
from tests.unit.test_codec import EXAMPLES, _codec_with, _schema_with_new_field

CODEC = AvroCodec()


def fastavro_read(name: str, body: bytes) -> Any:
    """What fastavro reads from ``body`` with the schema ``name``; raises if it cannot, or
    if bytes are left over."""
    stream = io.BytesIO(body)
    value = fastavro.schemaless_reader(stream, CODEC._schema(name).parsed, None)
    if stream.tell() != len(body):
        raise ValueError("trailing bytes")
    return value


def test_the_reader_is_compiled_and_the_codec_uses_it() -> None:
    assert avro_reader.is_compiled()  # the suite runs the compiled modules (test_native_engine)
    assert all(CODEC._schema(name).read is not None for name in SCHEMAS)
    assert CODEC.fast_reader is not None


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_single_object_reader_reads_current_records_as_the_codec_does(name: str) -> None:
    data = CODEC.encode(name, EXAMPLES[name])
    assert CODEC.fast_reader is not None
    assert CODEC.fast_reader.read(data) == FASTAVRO_ONLY.decode(data) == (name, EXAMPLES[name])


def test_the_single_object_reader_leaves_every_other_record_to_the_codec() -> None:
    segment = CODEC.encode("TranscriptSegment", EXAMPLES["TranscriptSegment"])
    for data in [
        b'{"type": "CallEnded", "call_id": "c1", "ended_at": 1}',  # JSON
        segment[:HEADER_LEN],  # a header and nothing more
        segment[:2] + b"\x00" * 8 + segment[HEADER_LEN:],  # an unknown fingerprint
        segment[:-1],  # truncated: unsure
        segment + b"\x00",  # trailing bytes: unsure
    ]:
        assert CODEC.fast_reader is not None and CODEC.fast_reader.read(data) is None


def test_a_record_of_another_writer_schema_is_read_by_the_codec_with_schema_resolution() -> None:
    newer = _codec_with(_schema_with_new_field())
    data = newer.encode("TranscriptSegment", {**EXAMPLES["TranscriptSegment"], "channel": "left"})
    codec = AvroCodec()
    codec.register_writer_schema(_schema_with_new_field())
    assert codec.fast_reader is not None and codec.fast_reader.read(data) is None
    assert codec.decode(data) == ("TranscriptSegment", EXAMPLES["TranscriptSegment"])


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_is_compiled(name: str) -> None:
    assert compile_reader(_without_logical_types(SCHEMAS[name])) is not None
    # a logical type is read by fastavro, which could turn it into a datetime
    assert compile_reader(SCHEMAS[name]) is None or '"logicalType"' not in json.dumps(SCHEMAS[name])


def test_named_types_are_read_where_they_are_referenced() -> None:
    schema = {
        "type": "record",
        "name": "Pair",
        "namespace": "test",
        "fields": [
            {"name": "first", "type": {"type": "enum", "name": "Side", "symbols": ["A", "B"]}},
            {"name": "second", "type": "Side"},
            {"name": "third", "type": ["null", "test.Side"]},
        ],
    }
    reader = compile_reader(schema)
    assert reader is not None
    assert reader.read(b"\x00\x02\x02\x00", 0) == {"first": "A", "second": "B", "third": "A"}


def test_types_it_does_not_read_give_no_reader() -> None:
    fixed = {
        "type": "record",
        "name": "F",
        "fields": [{"name": "f", "type": {"type": "fixed", "name": "X", "size": 4}}],
    }
    assert compile_reader(fixed) is None


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_reader_reads_what_fastavro_reads(name: str, data: st.DataObject) -> None:
    record = data.draw(values_of(SCHEMAS[name], {}))
    body = CODEC.encode(name, record)[HEADER_LEN:]
    reader = CODEC._schema(name).read
    assert reader is not None
    assert reader.read(body, 0) == fastavro_read(name, body)


@pytest.mark.parametrize(
    "name", ["TranscriptSegment", "CallStarted", "CallEnded", "HoldStarted", "HoldEnded"]
)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_damaged_records_are_either_read_as_fastavro_reads_them_or_left_to_it(
    name: str, data: st.DataObject
) -> None:
    body = bytearray(CODEC.encode(name, EXAMPLES[name])[HEADER_LEN:])
    edit = data.draw(st.sampled_from(["flip", "truncate", "append"]))
    if edit == "flip":
        position = data.draw(st.integers(0, len(body) - 1))
        body[position] = data.draw(st.integers(0, 255))
    elif edit == "truncate":
        del body[data.draw(st.integers(0, len(body) - 1)) :]
    else:
        body += data.draw(st.binary(min_size=1, max_size=4))
    reader = CODEC._schema(name).read
    assert reader is not None
    try:
        fast = reader.read(bytes(body), 0)
    except Exception:  # unsure: the codec asks fastavro
        return
    assert fast == fastavro_read(name, bytes(body))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x04c1\x04s1\x04", id="truncated in a field"),
        pytest.param(b"\x04c1\x04s1\x00\x07", id="enum index out of range"),
        pytest.param(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", id="varint longer than a long"),
        pytest.param(b"\x03c1", id="negative string length"),
    ],
)
def test_it_is_unsure_of_records_that_fastavro_must_judge(body: bytes) -> None:
    reader = CODEC._schema("TranscriptSegment").read
    assert reader is not None
    with pytest.raises(Exception):  # noqa: B017 - any error sends the record to fastavro
        reader.read(body, 0)


def fastavro_only() -> AvroCodec:
    codec = AvroCodec()
    codec.fast_reader = None
    return codec


FASTAVRO_ONLY = fastavro_only()


def decoded_or_error(codec: AvroCodec, data: bytes) -> Any:
    try:
        return codec.decode(data)
    except CodecError as error:
        return (error.reason, error.detail)


@pytest.mark.parametrize(
    "name", ["TranscriptSegment", "CallStarted", "CallEnded", "HoldStarted", "HoldEnded"]
)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_codec_decodes_damaged_records_as_with_fastavro_alone(name: str, data: st.DataObject) -> None:
    encoded = bytearray(CODEC.encode(name, EXAMPLES[name]))
    position = data.draw(st.integers(HEADER_LEN, len(encoded) - 1))
    if data.draw(st.booleans()):
        encoded[position] = data.draw(st.integers(0, 255))
    else:
        del encoded[position:]
    assert decoded_or_error(CODEC, bytes(encoded)) == decoded_or_error(FASTAVRO_ONLY, bytes(encoded))
