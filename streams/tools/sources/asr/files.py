"""Recorded vendor output as callfocus recordings, for ``replay``/``score --format <vendor>``.

One file is one call, its id the file name without its extension (or ``call_id`` when
given, for a single file); a folder is read file by file (``*.json``, ``*.jsonl``, sorted).
A file is either one JSON document (a message, or a list of messages) or JSON Lines (one
message per line; blank lines and lines starting with ``#`` are skipped). Every call gets
a ``CallStarted`` at 0 ms and a ``CallEnded`` after its last segment unless the vendor's
own messages gave them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streams.errors import InvalidEventError, InvalidReason
from streams.tools.sources import Recording, timeline
from streams.tools.sources.asr import ChannelRoles, VendorFormat, parser_for
from streams.wire.events import CallEnded, CallStarted, Event


def read_vendor(
    path: Path, fmt: VendorFormat, roles: ChannelRoles | None = None, call_id: str | None = None
) -> list[Recording]:
    files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl")) if path.is_dir() else [path]
    if call_id is not None and len(files) != 1:
        raise InvalidEventError(
            InvalidReason.UNKNOWN_FORMAT, f"{path}: one call id given for {len(files)} files"
        )
    return [read_call(file, fmt, roles or ChannelRoles(), call_id or file.stem) for file in files]


def read_call(path: Path, fmt: VendorFormat, roles: ChannelRoles, call_id: str) -> Recording:
    parser = parser_for(fmt, roles)
    events: list[Event] = []
    for where, message in messages(path, one_document=fmt == "whisper"):
        try:
            events.extend(parser.parse(message, call_id, 0))
        except InvalidEventError as error:
            raise InvalidEventError(error.reason, f"{where}: {error.detail}") from None
    if not any(isinstance(e, CallStarted) for e in events):
        events.insert(0, CallStarted(call_id, 0))
    if not any(isinstance(e, CallEnded) for e in events):
        events.append(CallEnded(call_id, 0, "completed"))
    return timeline(call_id, events)


def messages(path: Path, one_document: bool = False) -> list[tuple[str, Any]]:
    """The messages of a file and where each is (``file:line`` or ``file[n]``); with
    ``one_document`` a JSON list is one message (Whisper's bare list of segments)."""
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        pass
    else:
        if isinstance(document, list) and not one_document:
            return [(f"{path}[{n}]", m) for n, m in enumerate(document)]
        return [(str(path), document)]
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            found.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as error:
            raise InvalidEventError(
                InvalidReason.INVALID_JSON, f"{path}:{number}: not JSON ({error.msg}, column {error.colno})"
            ) from None
    return found
