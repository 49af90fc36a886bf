"""Repeated log lines of the Kafka clients, at most one per message per interval.

While the broker is down aiokafka and Faust log the same errors for every connection
attempt, fetch and heartbeat: about 200 lines a second, which buried everything else and
filled the log volume. :class:`RepeatedLogFilter` lets the first line of each message
(logger and format string, whatever its arguments) through, drops the repeats for
``interval`` seconds, and adds how many it dropped to the next one it lets through:
``... (37 more in the last 5 s)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

# the loggers whose repeats are limited (and their children)
KAFKA_LOGGERS = ("aiokafka", "faust", "mode", "kafka")


class RepeatedLogFilter(logging.Filter):
    """Rate-limits repeated records of the given loggers, per (logger, format string)."""

    def __init__(
        self,
        interval: float,
        loggers: Iterable[str] = KAFKA_LOGGERS,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.prefixes = tuple(loggers)
        self.level = level
        self.clock = clock
        # (logger, msg) -> (when its last line went out, repeats dropped since)
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def _limited(self, record: logging.LogRecord) -> bool:
        name = record.name
        return record.levelno >= self.level and any(
            name == p or name.startswith(p + ".") for p in self.prefixes
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._limited(record):
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.interval:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if len(self._seen) > 1000:  # distinct messages are few; never grow without bound
            self._seen.clear()
        self._seen[key] = (now, 0)
        if last is not None and last[1]:
            record.msg = f"{record.msg} ({last[1]} more in the last {now - last[0]:.0f} s)"
        return True


def install(interval: float) -> RepeatedLogFilter | None:
    """Put the filter on every handler of the root logger (records of child loggers reach
    handlers, not the filters of their ancestors). None if ``interval`` is 0."""
    if not interval:
        return None
    log_filter = RepeatedLogFilter(interval)
    for handler in logging.getLogger().handlers:
        handler.addFilter(log_filter)
    return log_filter
