"""callfocus' Avro records as Faust codecs: ``value_serializer="callfocus.CallMetrics"`` etc.

The input topic is read as raw bytes instead, so that a message Faust could not
decode still reaches the dead-letter topic with its reason and original bytes.
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from streams.wire.codec import AvroCodec

PREFIX = "callfocus."


class AvroRecordCodec(codecs.Codec):
    """Single-object Avro for one named record of ``schemas/``."""

    def __init__(self, avro: AvroCodec, record_name: str, **kwargs: Any) -> None:
        super().__init__(avro=avro, record_name=record_name, **kwargs)
        self.avro = avro
        self.record_name = record_name

    def _dumps(self, obj: Any) -> bytes:
        return self.avro.encode(self.record_name, obj)

    def _loads(self, s: bytes) -> Any:
        return self.avro.decode(s)[1]


def register_faust_codecs(avro: AvroCodec) -> list[str]:
    """Register one Faust codec per schema; returns the codec names."""
    names = []
    for record_name in avro.names:
        name = PREFIX + record_name
        codecs.register(name, AvroRecordCodec(avro, record_name))
        names.append(name)
    return names
