"""Streaming output of ASR vendors turned into callfocus events.

One module per vendor, each a pure parser: a decoded vendor message (JSON) in, the
``TranscriptSegment`` (and, where the vendor says so, ``CallStarted``/``CallEnded``) events
out. ``replay --format <vendor>`` (streams/tools/sources/asr/files.py) and ``callfocus
bridge`` (streams/tools/bridge.py) share them. docs/asr-formats.md describes every format.

Segment ids and revisions come from the payload, not from a counter, so a bridge that
restarts from its committed offsets sends the same events again: a partial's revision is
its ``end_ms``, the final's ``end_ms + FINAL_REVISION`` (it replaces every partial).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from streams.errors import InvalidEventError, InvalidReason, shown
from streams.wire.events import Event, Speaker, event_from_record

VendorFormat = Literal["transcribe", "contact-lens", "google-stt", "deepgram", "whisper"]
VENDOR_FORMATS: tuple[VendorFormat, ...] = ("transcribe", "contact-lens", "google-stt", "deepgram", "whisper")


@dataclass(frozen=True, slots=True)
class ChannelRoles:
    """Which audio channel (or diarized speaker number) is the agent and which the customer;
    any other is ``OTHER``, and so is a message that names no channel or speaker."""

    agent: int = 0
    customer: int = 1

    def speaker(self, channel: int | None) -> Speaker:
        if channel == self.agent:
            return Speaker.AGENT
        if channel == self.customer:
            return Speaker.CUSTOMER
        return Speaker.OTHER


class VendorParser(Protocol):
    def parse(self, message: Any, call_id: str, at_ms: int) -> list[Event]:
        """The events of one vendor message of call ``call_id``; ``at_ms`` (wall clock, epoch
        ms) stamps ``produced_at`` and the calls' start and end. Raises InvalidEventError."""
        ...


# above any end_ms (media time is at most 24 h, 86 400 000 ms), within Avro's int
FINAL_REVISION = 100_000_000


def revision(end_ms: int, is_final: bool) -> int:
    """Later partials of a segment end later; the final outranks every partial, even one
    that ended later (a vendor may drop trailing words when it finalises)."""
    return end_ms + (FINAL_REVISION if is_final else 0)


def invalid(
    vendor: str, detail: str, reason: InvalidReason = InvalidReason.INVALID_FIELD
) -> InvalidEventError:
    return InvalidEventError(reason, f"{vendor}: {detail}")


def need(vendor: str, obj: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[name]``, which must be a ``kind``; else an InvalidEventError naming the field."""
    if not isinstance(obj, Mapping):
        raise invalid(vendor, f"{where} is {type(obj).__name__}, not an object")
    if name not in obj or obj[name] is None:
        raise invalid(vendor, f"{where} has no {name}", InvalidReason.MISSING_FIELD)
    return check(vendor, obj[name], kind, f"{where}.{name}")


def optional(
    vendor: str, obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str
) -> Any:
    value = obj.get(name)
    return None if value is None else check(vendor, value, kind, f"{where}.{name}")


def check(vendor: str, value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    # bool is an int to Python, never a number or a count in these payloads
    if isinstance(value, bool) and kind is not bool:
        raise invalid(vendor, f"{where} is {shown(value)}, not {_kind_name(kind)}")
    if not isinstance(value, kind):
        raise invalid(vendor, f"{where} is {shown(value)}, not {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        "str": "a string",
        "int": "a number",
        "float": "a number",
        "bool": "true or false",
        "list": "a list",
        "dict": "an object",
        "Mapping": "an object",
    }
    return " or ".join(dict.fromkeys(names.get(k.__name__, k.__name__) for k in kinds))


def seconds_ms(vendor: str, value: Any, where: str) -> int:
    """Seconds (a JSON number) as whole ms; negative is refused."""
    number = check(vendor, value, (int, float), where)
    if number < 0:
        raise invalid(vendor, f"{where} is {shown(number)} < 0", InvalidReason.NEGATIVE_TIME)
    return round(number * 1000)


def segment(
    vendor: str,
    call_id: str,
    segment_id: str,
    speaker: Speaker,
    start_ms: int,
    end_ms: int,
    text: str,
    is_final: bool,
    at_ms: int,
    confidence: float | None = None,
) -> Event:
    """A TranscriptSegment checked as the worker would check it (ids, times, lengths)."""
    record = {
        "call_id": call_id,
        "segment_id": segment_id,
        "speaker": speaker.value,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "text": text,
        "revision": revision(end_ms, is_final),
        "is_final": is_final,
        "confidence": None if confidence is None else float(confidence),
        "produced_at": at_ms,
    }
    try:
        return event_from_record("TranscriptSegment", record)
    except InvalidEventError as error:
        raise InvalidEventError(error.reason, f"{vendor}: {error.detail}") from None


def parser_for(fmt: VendorFormat, roles: ChannelRoles) -> VendorParser:
    """A new parser of ``fmt`` (parsers of some formats keep per-call state: one per stream)."""
    from streams.tools.sources.asr import contact_lens, deepgram, google_stt, transcribe, whisper

    makers: dict[str, Callable[[ChannelRoles], VendorParser]] = {
        "transcribe": transcribe.TranscribeParser,
        "contact-lens": contact_lens.ContactLensParser,
        "google-stt": google_stt.GoogleSttParser,
        "deepgram": deepgram.DeepgramParser,
        "whisper": whisper.WhisperParser,
    }
    return makers[fmt](roles)
