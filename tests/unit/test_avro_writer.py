"""The compiled Avro writer writes exactly what fastavro writes, and leaves to fastavro
every record it is not sure about."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.wire.avro_writer import compile_writer, varint
from streams.wire.codec import AvroCodec, CodecError
from tests.unit.test_codec import EXAMPLES
from tests.unit.test_codec import SCHEMAS as SCHEMA_DIR

SCHEMAS = {p.stem: json.loads(p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.avsc"))}
CODEC = AvroCodec()


def values_of(schema: Any, named: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Valid values of an Avro schema (the subset callfocus' schemas use)."""
    if isinstance(schema, list):
        return st.one_of(*(values_of(branch, named) for branch in schema))
    if isinstance(schema, str):
        primitives: dict[str, st.SearchStrategy[Any]] = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(allow_nan=False, width=32),
            "double": st.floats(allow_nan=False),
            "string": st.text(max_size=20),
        }
        return primitives[schema] if schema in primitives else named[schema.rpartition(".")[2]]
    kind = schema["type"]
    if kind == "record":
        strategy = st.fixed_dictionaries({f["name"]: values_of(f["type"], named) for f in schema["fields"]})
        named[schema["name"]] = strategy
        return strategy
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(values_of(schema["items"], named), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), values_of(schema["values"], named), max_size=4)
    return values_of(kind, named)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_is_compiled(name: str) -> None:
    assert compile_writer(SCHEMAS[name]) is not None


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_writer_bytes_equal_fastavro_bytes(name: str, data: st.DataObject) -> None:
    record = data.draw(values_of(SCHEMAS[name], {}))
    fast = CODEC.encode(name, record)
    assert fast == CODEC._encode_checked(CODEC._schema(name), record)


@settings(deadline=None)
@given(st.integers(-(2**63), 2**63 - 1))
def test_varint_is_avro_zigzag(n: int) -> None:
    encoded = varint(n)
    value, shift = 0, 0
    for byte in encoded:
        value |= (byte & 0x7F) << shift
        shift += 7
    assert (value >> 1) ^ -(value & 1) == n
    assert all(b & 0x80 for b in encoded[:-1]) and not encoded[-1] & 0x80


def nudge(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLES["Nudge"], **changes}


def test_a_missing_field_with_a_default_is_filled_like_fastavro_does() -> None:
    record = nudge()
    del record["snippet"]
    assert CODEC.decode(CODEC.encode("Nudge", record))[1]["snippet"] is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"media_time_ms": "95000"}, "invalid_field"),
        ({"media_time_ms": 2**64}, "invalid_field"),
        ({"message": 7}, "invalid_field"),
        ({"evidence": {"x": "high"}}, "invalid_field"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_with_fastavros_reason(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(CodecError) as compiled:
        CODEC.encode("Nudge", nudge(**changes))
    assert compiled.value.reason == reason


def test_an_unknown_enum_symbol_is_refused() -> None:
    segment = {**EXAMPLES["TranscriptSegment"], "speaker": "robot"}
    with pytest.raises(CodecError) as refused:
        CODEC.encode("TranscriptSegment", segment)
    assert refused.value.reason in ("unknown_enum_symbol", "missing_field")


def test_unsupported_schemas_are_left_to_fastavro() -> None:
    assert (
        compile_writer({"type": "record", "name": "R", "fields": [{"name": "f", "type": ["int", "string"]}]})
        is None
    )
    assert (
        compile_writer(
            {
                "type": "record",
                "name": "R",
                "fields": [{"name": "f", "type": {"type": "fixed", "name": "F", "size": 4}}],
            }
        )
        is None
    )
