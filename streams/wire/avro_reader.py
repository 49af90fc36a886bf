"""A fast Avro binary reader compiled from a schema, for the records callfocus reads.

fastavro's reader takes 5 µs per ``TranscriptSegment``, the worker's largest cost after
the engine itself. Compiled with mypyc (streams/native.py), a tree of readers built once
per schema decodes the same record in about 1 µs, into the same dict fastavro returns.

The reader is strict, like :mod:`streams.wire.avro_writer`: anything it is not sure about (a
truncated record, a negative length, a union or enum index out of range, a boolean byte
other than 0 and 1, bytes that are not UTF-8) raises, and the codec then decodes the
record with fastavro, which gives the error callfocus reports. It reads with the writer's
own schema only; records written with another version go through fastavro's schema
resolution. ``compile_reader`` returns ``None`` for a schema with types it does not read.
"""

from __future__ import annotations

import struct
from typing import Any

from streams.wire.avro_writer import full_name, named_type

_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")


class Unsure(Exception):
    """The record may be invalid: let fastavro read it."""


class _Buffer:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def long(self) -> int:
        data = self.data
        pos = self.pos
        byte = data[pos]
        pos += 1
        value = byte & 0x7F
        shift = 7
        while byte & 0x80:
            if shift > 63:
                raise Unsure("varint longer than a long")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
        self.pos = pos
        return (value >> 1) ^ -(value & 1)

    def take(self, size: int) -> bytes:
        pos = self.pos
        end = pos + size
        if size < 0 or end > len(self.data):
            raise Unsure("length beyond the record")
        self.pos = end
        return self.data[pos:end]


class _Reader:
    def read(self, buffer: _Buffer) -> Any:
        raise NotImplementedError


class _Null(_Reader):
    def read(self, buffer: _Buffer) -> Any:
        return None


class _Boolean(_Reader):
    def read(self, buffer: _Buffer) -> Any:
        byte = buffer.take(1)[0]
        if byte > 1:
            raise Unsure("boolean byte not 0 or 1")
        return byte == 1


class _Integer(_Reader):
    def __init__(self, bits: int) -> None:
        self.low = -(1 << (bits - 1))
        self.high = 1 << (bits - 1)

    def read(self, buffer: _Buffer) -> Any:
        value = buffer.long()
        if not self.low <= value < self.high:
            raise Unsure("integer out of range")
        return value


class _Float(_Reader):
    def read(self, buffer: _Buffer) -> Any:
        value: float = _FLOAT.unpack(buffer.take(4))[0]
        return value


class _Double(_Reader):
    def read(self, buffer: _Buffer) -> Any:
        value: float = _DOUBLE.unpack(buffer.take(8))[0]
        return value


class _String(_Reader):
    def read(self, buffer: _Buffer) -> Any:
        return buffer.take(buffer.long()).decode("utf-8")


class _Bytes(_Reader):
    def read(self, buffer: _Buffer) -> Any:
        return buffer.take(buffer.long())


class _Enum(_Reader):
    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols

    def read(self, buffer: _Buffer) -> Any:
        index = buffer.long()
        if not 0 <= index < len(self.symbols):
            raise Unsure("enum index out of range")
        return self.symbols[index]


class _Union(_Reader):
    def __init__(self, branches: list[_Reader]) -> None:
        self.branches = branches

    def read(self, buffer: _Buffer) -> Any:
        index = buffer.long()
        if not 0 <= index < len(self.branches):
            raise Unsure("union index out of range")
        return self.branches[index].read(buffer)


class _Blocks(_Reader):
    """Arrays and maps: blocks of items, each block its count (negative: then its size)."""

    def count(self, buffer: _Buffer) -> int:
        count = buffer.long()
        if count < 0:
            buffer.long()  # the block's size in bytes, for readers that skip it
            count = -count
        return count


class _Array(_Blocks):
    def __init__(self, items: _Reader) -> None:
        self.items = items

    def read(self, buffer: _Buffer) -> Any:
        values: list[Any] = []
        count = self.count(buffer)
        while count:
            for _ in range(count):
                values.append(self.items.read(buffer))
            count = self.count(buffer)
        return values


class _Map(_Blocks):
    def __init__(self, values: _Reader) -> None:
        self.values = values

    def read(self, buffer: _Buffer) -> Any:
        entries: dict[str, Any] = {}
        count = self.count(buffer)
        while count:
            for _ in range(count):
                key = buffer.take(buffer.long()).decode("utf-8")
                entries[key] = self.values.read(buffer)
            count = self.count(buffer)
        return entries


class _Record(_Reader):
    def __init__(self, names: list[str], fields: list[_Reader]) -> None:
        self.names = names
        self.fields = fields

    def read(self, buffer: _Buffer) -> Any:
        record: dict[str, Any] = {}
        names = self.names
        fields = self.fields
        for i in range(len(names)):
            record[names[i]] = fields[i].read(buffer)
        return record


class _Unsupported(Exception):
    pass


_PRIMITIVES: dict[str, _Reader] = {
    "null": _Null(),
    "boolean": _Boolean(),
    "int": _Integer(32),
    "long": _Integer(64),
    "float": _Float(),
    "double": _Double(),
    "string": _String(),
    "bytes": _Bytes(),
}


def _compile(schema: Any, named: dict[str, _Reader], namespace: str | None) -> _Reader:
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        reader = named_type(schema, named, namespace)
        if reader is None:
            raise _Unsupported(f"unknown type {schema}")
        return reader
    if isinstance(schema, list):
        return _Union([_compile(branch, named, namespace) for branch in schema])
    kind = schema["type"]
    if kind == "record":
        name = full_name(schema, namespace)
        space = name.rpartition(".")[0] or None
        fields = schema["fields"]
        reader = _Record([f["name"] for f in fields], [_compile(f["type"], named, space) for f in fields])
        named[name] = reader
        return reader
    if kind == "enum":
        enum = _Enum(list(schema["symbols"]))
        named[full_name(schema, namespace)] = enum
        return enum
    if kind == "array":
        return _Array(_compile(schema["items"], named, namespace))
    if kind == "map":
        return _Map(_compile(schema["values"], named, namespace))
    if isinstance(kind, str) and kind in _PRIMITIVES and "logicalType" not in schema:
        return _PRIMITIVES[kind]
    raise _Unsupported(f"type {kind} is not read")


class RecordReader:
    """Reads one record of a schema from Avro binary."""

    def __init__(self, root: _Reader) -> None:
        self._root = root

    def read(self, data: bytes, start: int) -> Any:
        """The record in ``data[start:]``, which must hold exactly one; raises (any
        exception) when unsure."""
        buffer = _Buffer(data, start)
        value = self._root.read(buffer)
        if buffer.pos != len(data):
            raise Unsure("trailing bytes")
        return value


SINGLE_OBJECT_MARKER = b"\xc3\x01"
HEADER_LEN = len(SINGLE_OBJECT_MARKER) + 8


class SingleObjectReader:
    """Reads single-object Avro records whose writer schema is one of the current ones, by
    the fingerprint in their header: the codec's common case, compiled whole, so that the
    worker's decode of a segment runs no interpreted code.

    :meth:`read` returns ``None`` for anything else (JSON, an older writer schema, an
    unknown fingerprint, a record the reader is unsure about); the codec's ``decode``
    then decides, and says what is wrong."""

    def __init__(self) -> None:
        self._readers: dict[int, tuple[str, RecordReader]] = {}

    def add(self, fingerprint: int, name: str, reader: RecordReader) -> None:
        self._readers[fingerprint] = (name, reader)

    def read(self, data: bytes) -> tuple[str, Any] | None:
        if len(data) < HEADER_LEN or data[:2] != SINGLE_OBJECT_MARKER:
            return None
        found = self._readers.get(int.from_bytes(data[2:HEADER_LEN], "little"))
        if found is None:
            return None
        try:
            return found[0], found[1].read(data, HEADER_LEN)
        except Exception:  # any doubt: the codec's decode decides
            return None


def compile_reader(schema: Any) -> RecordReader | None:
    """A reader for ``schema`` (plain JSON form, no logical types), or ``None``."""
    try:
        return RecordReader(_compile(schema, {}, None))
    except _Unsupported:
        return None


def is_compiled() -> bool:
    """Interpreted, this reader is slower than fastavro's: the codec uses it compiled only."""
    return not __file__.endswith(".py")
