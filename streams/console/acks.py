"""Nudge acknowledgements: a supervisor marks a nudge handled, with an optional note. Pure.

An acknowledgement is a ``NudgeAck`` record (``schemas/NudgeAck.avsc``) on the compacted topic
``<prefix>.nudge-acks``, keyed by nudge id: Kafka keeps the latest one per nudge, and every
worker's console reads the topic from the beginning, so each shows the same acknowledgements.
:class:`NudgeAcks` is what a console holds of them (the latest per nudge, bounded);
:func:`parse_ack_request` reads the body of ``POST /api/nudges/{nudge_id}/ack``.

A note is plain text: never parsed as HTML anywhere it is shown (the page sets it as text).
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from streams.console.newest import put_newest

MAX_NOTE_CHARS = 500
MAX_BODY_BYTES = 16 * 1024  # a note of 500 characters is at most 2 KB of UTF-8, escaped 4x in JSON
ACK_FIELDS = ("nudge_id", "call_id", "agent_id", "team", "type", "acked_by", "acked_at", "note")
_KEPT_CONTROLS = frozenset("\n\t")


class AckRequestError(ValueError):
    """A request body the console refuses; the message is the one-line reason."""


def clean_note(value: Any) -> str | None:
    """The note as kept: None when absent or blank; control characters other than newline
    and tab removed; AckRequestError when it is not text or longer than MAX_NOTE_CHARS."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise AckRequestError("note: expected a string")
    text = "".join(
        ch for ch in value if ch in _KEPT_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()
    if len(text) > MAX_NOTE_CHARS:
        raise AckRequestError(f"note: {len(text)} characters, at most {MAX_NOTE_CHARS}")
    return text or None


def parse_ack_request(body: Any) -> str | None:
    """The note of a decoded JSON body ``{"note": "..."}`` (note optional)."""
    if not isinstance(body, dict):
        raise AckRequestError('expected a JSON object, e.g. {"note": "talked it through"}')
    unknown = sorted(set(body) - {"note"})
    if unknown:
        raise AckRequestError(f"unknown fields: {', '.join(unknown)[:100]}")
    return clean_note(body.get("note"))


def ack_record(nudge: Mapping[str, Any], acked_by: str, note: str | None, now_ms: int) -> dict[str, Any]:
    """The ``NudgeAck`` of ``nudge`` (a Nudge record or its brief) by ``acked_by``, now."""
    return {
        "nudge_id": nudge["nudge_id"],
        "call_id": nudge["call_id"],
        "agent_id": nudge.get("agent_id") or "",
        "team": nudge["team"],
        "type": nudge["type"],
        "acked_by": acked_by,
        "acked_at": now_ms,
        "note": note,
    }


def ack_problem(record: Mapping[str, Any]) -> str | None:
    """Why a decoded ``NudgeAck`` cannot be shown (a skipped record's reason), else None."""
    if not record.get("nudge_id"):
        return "ack_without_nudge_id"
    note = record.get("note")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        return "ack_note_too_long"
    return None


def ack_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a feed entry and the agent page show of an acknowledgement."""
    return {"by": record["acked_by"], "at": record["acked_at"], "note": record.get("note")}


class NudgeAcks:
    """The latest acknowledgement of each nudge, at most ``max_acks`` (the least recently
    acknowledged go first). Records are applied in the topic's order: per nudge that is the
    order they were written (one key, one partition), so every console ends up the same."""

    def __init__(self, max_acks: int = 20_000) -> None:
        self.max_acks = max_acks
        self._acks: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._acks)

    def apply(self, record: Mapping[str, Any]) -> bool:
        """One acknowledgement; False when it is the one already held (the writer's own,
        read back) or cannot be shown."""
        if ack_problem(record) is not None:
            return False
        kept = {name: record.get(name) for name in ACK_FIELDS}
        nudge_id = str(kept["nudge_id"])
        if self._acks.get(nudge_id) == kept:
            return False
        put_newest(self._acks, nudge_id, kept, self.max_acks)
        return True

    def forget(self, nudge_id: str) -> bool:
        """A tombstone (the key with no value): the acknowledgement was erased."""
        return self._acks.pop(nudge_id, None) is not None

    def record(self, nudge_id: str | None) -> dict[str, Any] | None:
        return self._acks.get(nudge_id) if nudge_id else None

    def get(self, nudge_id: str | None) -> dict[str, Any] | None:
        """The acknowledgement of ``nudge_id`` as shown (by, at, note), or None."""
        record = self.record(nudge_id)
        return ack_json(record) if record is not None else None

    def clear(self) -> None:
        self._acks.clear()
