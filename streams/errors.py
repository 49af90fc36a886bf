"""The project's own exception types, and how a bad value is shown in their details."""

from enum import StrEnum
from typing import Any


class InvalidReason(StrEnum):
    """Why an input event went to the dead-letter topic: the one list of reasons.

    A value is the DLQ ``error.reason`` header and the ``reason`` label of
    ``callfocus_invalid_events_total`` (pre-created for every member, in this order), and
    docs/pipeline.md's "Input rules and dead letters" table lists every one (a test checks).
    """

    UNKNOWN_FORMAT = "unknown_format"
    UNKNOWN_SCHEMA = "unknown_schema"
    UNDECODABLE = "undecodable"
    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    UNKNOWN_ENUM_SYMBOL = "unknown_enum_symbol"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    MISSING_TYPE = "missing_type"
    MISSING_CALL_ID = "missing_call_id"
    NOT_AN_INPUT_EVENT = "not_an_input_event"
    END_BEFORE_START = "end_before_start"
    NEGATIVE_TIME = "negative_time"
    SEGMENT_TOO_LONG = "segment_too_long"
    ABSURD_TIME = "absurd_time"
    START_IN_FUTURE = "start_in_future"
    TEXT_TOO_LONG = "text_too_long"
    CALL_ENDED = "call_ended"
    TOO_LATE = "too_late"
    WRONG_CALL = "wrong_call"
    MISSING_SEGMENT_ID = "missing_segment_id"
    NEGATIVE_REVISION = "negative_revision"
    EMPTY = "empty"
    UNKNOWN_RECORD = "unknown_record"
    JSON_TOO_DEEP = "json_too_deep"
    INTERNAL_ERROR = "internal_error"
    MISSING_KEY = "missing_key"
    KEY_MISMATCH = "key_mismatch"
    CALL_NOT_STARTED = "call_not_started"
    ENDED_BEFORE_START = "ended_before_start"
    INVALID_ID = "invalid_id"
    INVALID_LABEL = "invalid_label"
    FIELD_TOO_LONG = "field_too_long"
    INVALID_LANGUAGE = "invalid_language"
    TOO_MANY_HOLDS = "too_many_holds"


class InvalidEventError(ValueError):
    """An input event that cannot be used; it goes to the dead-letter topic.

    ``reason`` says why, as a stable tag (:class:`InvalidReason`); ``detail`` is for people.
    """

    def __init__(self, reason: InvalidReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def shown(value: Any, limit: int = 40) -> str:
    """``value``'s repr for an error detail, cut to ``limit`` characters: input values can
    be megabytes long, and details go into headers, logs and counters' neighbours."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
