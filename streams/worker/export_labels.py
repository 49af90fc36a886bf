"""Bounded label values for Prometheus: the teams and queues a worker exports.

``team`` and ``queue`` come from the input (``CallStarted``), so their number has no
bound of its own: 3,000 distinct teams grew ``/metrics`` from 16 KB to 19 MB. A
:class:`LabelFolder` keeps at most ``cap`` values of one label (optionally only those
of an allow-list); every other value is exported as :data:`OTHER`. A value is kept
while calls in memory carry it, and for ``grace_seconds`` after the last one went
(:meth:`LabelFolder.expire`); then its slot is free for another value, and its
per-team series are removed.

A call's values are folded once, when its labels are set (``CallStarted``, or the call
loaded from the call-state table), and the call keeps them: its per-call series and
the per-team series it feeds always name the same team and queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

OTHER: Final = "other"


@dataclass(frozen=True, slots=True)
class LabelLimits:
    """What :class:`streams.worker.exporter.PipelineMetrics` exports of ``team`` and ``queue``."""

    max_teams: int = 200
    max_queues: int = 200
    # only these values are exported (the rest as OTHER); None: any, up to the cap
    teams: frozenset[str] | None = None
    queues: frozenset[str] | None = None
    # a value no call in memory carries is dropped this long after the last one went
    grace_seconds: float = 300.0


class LabelFolder:
    """The values of one label that are exported as themselves; the rest fold to OTHER.

    ``fold`` admits a value while fewer than ``cap`` are kept (and, with an allow-list,
    if it is listed); ``expire`` drops the kept values no call has carried for the grace
    period. The value ``other`` itself is exported as OTHER without taking a slot.
    """

    def __init__(
        self,
        cap: int,
        allowed: Collection[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cap = cap
        self.allowed = None if allowed is None else frozenset(allowed)
        self._clock = clock
        # kept value -> monotonic time it was last known in use
        self._kept: dict[str, float] = {}

    def fold(self, value: str) -> tuple[str, bool]:
        """The value to export for ``value``, and whether it was folded into OTHER."""
        if value in self._kept:
            self._kept[value] = self._clock()
            return value, False
        if value == OTHER:
            return OTHER, False
        if len(self._kept) < self.cap and (self.allowed is None or value in self.allowed):
            self._kept[value] = self._clock()
            return value, False
        return OTHER, True

    def expire(self, in_use: Collection[str], grace_seconds: float) -> list[str]:
        """Drop the kept values not in ``in_use`` whose last use is older than
        ``grace_seconds``; returns them. Values in use are noted as used now."""
        now = self._clock()
        gone = []
        for value, last_used in list(self._kept.items()):
            if value in in_use:
                self._kept[value] = now
            elif now - last_used >= grace_seconds:
                del self._kept[value]
                gone.append(value)
        return gone

    def __len__(self) -> int:
        return len(self._kept)

    def __contains__(self, value: object) -> bool:
        return value in self._kept
