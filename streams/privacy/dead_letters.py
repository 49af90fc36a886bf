"""What the dead-letter topic keeps of a refused record when it may not keep the original.

A record that decodes (its event was refused for another reason: a missing key, a call
that never started ...) is kept redacted as its event would have been, re-encoded in Avro
(header ``redaction: event``). A record that does not decode cannot be read field by
field: its bytes are kept with everything the redactor finds replaced and then every
remaining digit masked as ``#`` (header ``redaction: masked``). Its size and a hash of the
original are not kept: a SHA-256 of a short record holding a card number is reversed by
trying every card number.
"""

from __future__ import annotations

import re
from typing import Final

from streams.privacy.events import redact_record
from streams.privacy.redaction import Redactor
from streams.wire.codec import AvroCodec

REDACTED_EVENT: Final = b"event"
MASKED_BYTES: Final = b"masked"
_DIGIT: Final = re.compile(r"[0-9]")


def masked_bytes(redactor: Redactor, value: bytes) -> bytes:
    """Raw bytes with the redactor's finds replaced and every other ASCII digit masked.
    Read as Latin-1, so every byte maps to one character and back, whatever the bytes are."""
    text, _ = redactor.redact(value.decode("latin-1"))
    return _DIGIT.sub("#", text).encode("latin-1", "replace")


def redacted_dead_letter(redactor: Redactor, codec: AvroCodec, value: bytes) -> tuple[bytes, bytes]:
    """The value a dead letter carries instead of ``value``, and its ``redaction`` header."""
    try:
        name, record = codec.decode(value)
        redacted, _ = redact_record(redactor, name, record)
        return codec.encode(name, redacted), REDACTED_EVENT
    except Exception:  # not readable as an event record: masked as bytes
        return masked_bytes(redactor, value), MASKED_BYTES
