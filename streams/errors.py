"""The project's own exception types."""


class InvalidEventError(ValueError):
    """An input event that cannot be used; it goes to the dead-letter topic.

    ``reason`` is a short stable tag (it becomes the DLQ ``error.reason`` header and
    the ``reason`` label of ``callfocus_invalid_events_total``); ``detail`` is for people.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
