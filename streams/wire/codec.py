"""Avro codec for every record on callfocus' topics.

Schemas are read once from ``schemas/`` (the single source of truth). Records are
written with the Avro spec's single-object encoding (``C3 01`` + 8-byte little-endian
CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form + Avro binary), so a
reader knows the writer schema without a registry. JSON (one object with a ``type``
field naming the record) is accepted as input for tools that cannot write Avro.
Earlier versions of a record, kept in ``schemas/previous/``, are known as writer
schemas only: their records decode into the current shape, new fields at their defaults.

Every failure of a record is raised as :class:`CodecError` with its dead-letter reason
(:class:`~streams.errors.InvalidReason`); library exceptions never leak to the caller.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import fastavro
import orjson
from fastavro.schema import fingerprint, to_parsing_canonical_form

from streams.errors import InvalidEventError, InvalidReason, shown
from streams.wire.avro_reader import (
    HEADER_LEN,
    SINGLE_OBJECT_MARKER,
    SingleObjectReader,
    compile_reader,
    is_compiled,
)
from streams.wire.avro_writer import compile_writer

SCHEMA_DIR_ENV = "CALLFOCUS_SCHEMA_DIR"
# Earlier versions of the records, read only: records already on the topics (a snapshot
# written before a release added a field) still decode, the new fields at their defaults.
PREVIOUS_DIR = "previous"
# Nesting a JSON event may have: callfocus' records are at most 3 deep (a record, its map
# or array, a record in it). Deeper JSON is refused before anything walks it: 1,000 levels
# in 2 KB raised RecursionError in the standard library's parser and stopped the worker.
MAX_JSON_DEPTH = 16
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class CodecError(InvalidEventError):
    """A record could not be encoded or decoded."""


class SchemaLoadError(ValueError):
    """The schema directory holds no usable Avro record schema: a deployment fault found at
    start, never a record's dead letter."""


def crc64_avro(canonical_form: str) -> int:
    """The CRC-64-AVRO fingerprint of a schema's Parsing Canonical Form, as the integer whose
    little-endian bytes follow the single-object marker (fastavro gives those bytes in hex)."""
    return int.from_bytes(bytes.fromhex(fingerprint(canonical_form, "CRC-64-AVRO")), "little")


def default_schema_dir() -> Path:
    """``$CALLFOCUS_SCHEMA_DIR``, else the copy inside an installed wheel, else the repository's."""
    if env := os.environ.get(SCHEMA_DIR_ENV):
        return Path(env)
    packaged = Path(__file__).parent.parent / "_schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


def _read_json(path: Path) -> dict[str, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise SchemaLoadError(f"{path} is not an Avro record schema")
    return raw


def _without_logical_types(schema: Any) -> Any:
    # Timestamps stay epoch-millisecond ints in memory: cheaper than datetimes and what
    # the metric engine uses. The canonical form (and so the fingerprint) is unchanged.
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(v) for v in schema]
    return schema


_READER_COMPILED = is_compiled()


class _Schema:
    __slots__ = ("fingerprint", "header", "name", "parsed", "read", "write")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        plain = _without_logical_types(dict(raw))
        self.write = compile_writer(plain)
        self.read = compile_reader(plain) if _READER_COMPILED else None
        # Parsed with fastavro's hint that it is parsed: without it, fastavro parses the
        # schema again at every read and write (13 µs per segment decoded, 3.5 with it).
        self.parsed = fastavro.parse_schema(plain)
        self.name: str = raw["name"]
        canonical = to_parsing_canonical_form(fastavro.parse_schema(plain, _write_hint=False))
        self.fingerprint = crc64_avro(canonical)
        self.header = SINGLE_OBJECT_MARKER + self.fingerprint.to_bytes(8, "little")


class AvroCodec:
    """Encodes and decodes callfocus records; schemas are parsed once per instance."""

    def __init__(self, schema_dir: Path | None = None, schemas: Iterable[Mapping[str, Any]] = ()) -> None:
        raws = list(schemas)
        previous: list[dict[str, Any]] = []
        if not raws:
            directory = schema_dir or default_schema_dir()
            files = sorted(directory.glob("*.avsc"))
            if not files:
                raise SchemaLoadError(f"no .avsc files in {directory}")
            raws = [_read_json(f) for f in files]
            previous = [_read_json(f) for f in sorted((directory / PREVIOUS_DIR).glob("*.avsc"))]
        self._by_name: dict[str, _Schema] = {}
        self._writers: dict[int, _Schema] = {}
        # the compiled reader of the current schemas' records (None: not compiled)
        self.fast_reader = SingleObjectReader() if _READER_COMPILED else None
        for raw in raws:
            schema = _Schema(raw)
            self._by_name[schema.name] = schema
            self._writers[schema.fingerprint] = schema
            if self.fast_reader is not None and schema.read is not None:
                self.fast_reader.add(schema.fingerprint, schema.name, schema.read)
        for raw in previous:
            self.register_writer_schema(raw)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def fingerprint(self, name: str) -> int:
        return self._schema(name).fingerprint

    def register_writer_schema(self, raw: Mapping[str, Any]) -> int:
        """Accept data written with an older or newer version of a known record."""
        schema = _Schema(raw)
        if schema.name not in self._by_name:
            raise CodecError(InvalidReason.UNKNOWN_RECORD, f"no reader schema named {schema.name}")
        self._writers[schema.fingerprint] = schema
        return schema.fingerprint

    def _schema(self, name: str) -> _Schema:
        try:
            return self._by_name[name]
        except KeyError:
            raise CodecError(InvalidReason.UNKNOWN_RECORD, f"no schema named {name!r}") from None

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Single-object encoding of ``record`` with the schema named ``name``.

        The schema's compiled writer (:mod:`streams.wire.avro_writer`) first; a record it is not
        sure about goes through fastavro, which fills defaults or says what is wrong.
        """
        schema = self._schema(name)
        if schema.write is not None:
            parts = [schema.header]
            try:
                schema.write(record, parts)
            except (KeyError, TypeError, AttributeError, ValueError, OverflowError, struct.error):
                pass
            else:
                return b"".join(parts)
        return self._encode_checked(schema, record)

    def _encode_checked(self, schema: _Schema, record: Mapping[str, Any]) -> bytes:
        name = schema.name
        out = io.BytesIO()
        out.write(schema.header)
        try:
            fastavro.schemaless_writer(out, schema.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise CodecError(_write_reason(exc), f"{name}: {exc}") from None
        return out.getvalue()

    def decode(self, data: bytes | None) -> tuple[str, dict[str, Any]]:
        """Record name and value of one message: single-object Avro or a JSON object."""
        if not data:  # a record without a value (a tombstone) is empty too
            raise CodecError(InvalidReason.EMPTY, "message has no bytes")
        if self.fast_reader is not None:
            # the compiled reader (streams.wire.avro_reader) first; a record it does not
            # read or is not sure about goes through fastavro, which reads it or says what is wrong
            found = self.fast_reader.read(data)
            if found is not None:
                return found
        if data[:2] == SINGLE_OBJECT_MARKER:
            return self._decode_avro(data)
        stripped = data.lstrip()
        if stripped[:1] == b"{":
            return self._decode_json(stripped)
        raise CodecError(
            InvalidReason.UNKNOWN_FORMAT, f"neither single-object Avro nor JSON (starts {data[:4].hex()})"
        )

    def _decode_avro(self, data: bytes) -> tuple[str, dict[str, Any]]:
        if len(data) < HEADER_LEN:
            raise CodecError(InvalidReason.UNDECODABLE, "truncated single-object header")
        fingerprint = int.from_bytes(data[2:HEADER_LEN], "little")
        writer = self._writers.get(fingerprint)
        if writer is None:
            raise CodecError(InvalidReason.UNKNOWN_SCHEMA, f"no schema with fingerprint {fingerprint:016x}")
        reader = self._by_name[writer.name]
        body = io.BytesIO(data)
        body.seek(HEADER_LEN)
        try:
            record = fastavro.schemaless_reader(
                body, writer.parsed, None if reader is writer else reader.parsed
            )
        except UnicodeDecodeError as exc:
            raise CodecError(InvalidReason.INVALID_UTF8, f"{writer.name}: {exc}") from None
        except IndexError as exc:
            raise CodecError(
                InvalidReason.UNKNOWN_ENUM_SYMBOL, f"{writer.name}: enum index out of range ({exc})"
            ) from None
        except (EOFError, ValueError, TypeError, KeyError, OverflowError, MemoryError) as exc:
            raise CodecError(
                InvalidReason.UNDECODABLE, f"{writer.name}: {type(exc).__name__}: {_message(exc)}"
            ) from None
        if body.tell() != len(data):
            raise CodecError(
                InvalidReason.UNDECODABLE, f"{writer.name}: {len(data) - body.tell()} trailing bytes"
            )
        if not isinstance(record, dict):  # pragma: no cover - our schemas are records
            raise CodecError(InvalidReason.UNDECODABLE, f"{writer.name}: not a record")
        return writer.name, record

    def _decode_json(self, data: bytes) -> tuple[str, dict[str, Any]]:
        # orjson: a C parser with its own depth limit (1,024), so no input reaches Python's
        # recursion limit; ours is checked below
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            text = str(exc)
            if "depth limit" in text:
                raise CodecError(
                    InvalidReason.JSON_TOO_DEEP, f"nested deeper than {MAX_JSON_DEPTH} levels"
                ) from None
            if "utf-8" in text.lower() or "surrogate" in text.lower():
                raise CodecError(InvalidReason.INVALID_UTF8, text) from None
            raise CodecError(InvalidReason.INVALID_JSON, text) from None
        if not isinstance(obj, dict):
            raise CodecError(InvalidReason.INVALID_JSON, "expected a JSON object")
        if _json_depth(data, obj) > MAX_JSON_DEPTH:
            raise CodecError(InvalidReason.JSON_TOO_DEEP, f"nested deeper than {MAX_JSON_DEPTH} levels")
        name = obj.pop("type", None)
        if not isinstance(name, str):
            raise CodecError(InvalidReason.MISSING_TYPE, "JSON event has no string field 'type'")
        schema = self._schema(name)
        # JSON's types as they are: fastavro would write "no" as true and 1.5 as 1
        _check_json(schema.parsed, obj, name)
        # A round trip through the Avro writer fills in defaults, so JSON and Avro input
        # give identical records.
        return self._decode_avro(self._encode_checked(schema, obj))


def _json_depth(data: bytes, obj: Any) -> int:
    """How deep ``obj`` (parsed from ``data``) nests; cheap for the usual flat event."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return 1  # no more brackets than the limit: it cannot nest deeper
    deepest, stack = 0, [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


_PRIMITIVE_CHECKS: dict[str, Any] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "int": lambda v: type(v) is int and _INT32[0] <= v <= _INT32[1],
    "long": lambda v: type(v) is int and _INT64[0] <= v <= _INT64[1],
    "float": lambda v: type(v) in (int, float),
    "double": lambda v: type(v) in (int, float),
    "string": lambda v: isinstance(v, str),
    "bytes": lambda v: isinstance(v, str | bytes),
}


def _check_json(schema: Any, value: Any, path: str) -> None:
    """Raise ``invalid_field`` unless ``value`` has the JSON type ``schema`` asks for.

    Strict where fastavro's writer coerces: a string is not a boolean, a float or a
    boolean is not an integer. Fields the schema does not name are left alone (fastavro
    ignores them), and a missing field is left to the writer (``missing_field``)."""
    if isinstance(schema, list):  # a union: one branch must take the value
        if not any(_matches(branch, value) for branch in schema):
            raise CodecError(
                InvalidReason.INVALID_FIELD, f"{path}: {shown(value)} is none of {_type_names(schema)}"
            )
        return
    if not _matches(schema, value):
        raise CodecError(InvalidReason.INVALID_FIELD, f"{path}: {shown(value)} is not {_type_names(schema)}")
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind == "record":
            for field in schema["fields"]:
                if field["name"] in value:
                    _check_json(field["type"], value[field["name"]], f"{path}.{field['name']}")
        elif kind == "map":
            for key, item in value.items():
                _check_json(schema["values"], item, f"{path}[{key!r}]")
        elif kind == "array":
            for index, item in enumerate(value):
                _check_json(schema["items"], item, f"{path}[{index}]")


def _matches(schema: Any, value: Any) -> bool:
    """Whether ``value``'s own JSON type is the one of ``schema`` (one level deep)."""
    if isinstance(schema, str):
        check = _PRIMITIVE_CHECKS.get(schema)
        return True if check is None else bool(check(value))  # a named type: the writer decides
    if isinstance(schema, list):
        return any(_matches(branch, value) for branch in schema)
    kind = schema["type"]
    if kind in ("record", "map"):
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "enum":
        return isinstance(value, str)  # an unknown symbol is the writer's unknown_enum_symbol
    if kind == "fixed":
        return isinstance(value, str | bytes)
    return _matches(kind, value)  # {"type": "long", "logicalType": ...}


def _type_names(schema: Any) -> str:
    if isinstance(schema, list):
        return " or ".join(_type_names(branch) for branch in schema)
    return schema if isinstance(schema, str) else str(schema.get("name", schema["type"]))


# fastavro names the stream it reads from: "cannot read float from <_io.BytesIO object at
# 0x7f...>", an address that differs at every read of the same bytes
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _message(exc: Exception) -> str:
    return _OBJECT_REPR.sub("the record", str(exc))


def _write_reason(exc: Exception) -> InvalidReason:
    text = str(exc)
    if "no value and no default" in text or isinstance(exc, KeyError):
        return InvalidReason.MISSING_FIELD
    if "is not in list" in text:  # fastavro's enum writer looks the symbol up with list.index
        return InvalidReason.UNKNOWN_ENUM_SYMBOL
    return InvalidReason.INVALID_FIELD
