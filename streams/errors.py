"""The project's own exception types, and how a bad value is shown in their details."""

from typing import Any


class InvalidEventError(ValueError):
    """An input event that cannot be used; it goes to the dead-letter topic.

    ``reason`` is a short stable tag (it becomes the DLQ ``error.reason`` header and
    the ``reason`` label of ``callfocus_invalid_events_total``); ``detail`` is for people.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def shown(value: Any, limit: int = 40) -> str:
    """``value``'s repr for an error detail, cut to ``limit`` characters: input values can
    be megabytes long, and details go into headers, logs and counters' neighbours."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
