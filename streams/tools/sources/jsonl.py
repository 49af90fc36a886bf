"""The project's JSONL event format: one event per line, ``{"type": "CallStarted", ...}``.

Fields are those of the Avro schemas in ``schemas/``; a line is decoded by the same
codec the worker uses for JSON input, so a file that reads here is accepted live.
``produced_at`` may be left out (replay stamps it when it sends).
"""

from __future__ import annotations

from pathlib import Path

from streams.errors import InvalidEventError
from streams.tools.sources import Recording, timeline
from streams.wire.codec import AvroCodec
from streams.wire.events import Event, event_from_record


def read_jsonl(path: Path, codec: AvroCodec | None = None) -> list[Recording]:
    codec = codec or AvroCodec()
    by_call: dict[str, list[Event]] = {}
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith(b"#"):
                continue
            try:
                event = event_from_record(*codec.decode(line))
            except InvalidEventError as exc:
                raise InvalidEventError(exc.reason, f"{path}:{number}: {exc.detail}") from None
            by_call.setdefault(event.call_id, []).append(event)
    return [timeline(call_id, events) for call_id, events in by_call.items()]
