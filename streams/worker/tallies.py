"""Counts the per-segment path keeps: plain integers, compiled (streams/native.py).

prometheus_client's ``Counter.inc`` and ``Histogram.observe`` are interpreted and take a
lock: 1.0 and 2.2 µs a call on the benchmark machine, paid for every applied segment
(its speaker's count and its latency), about 6 % of a segment's cost in a backlog. These
count for a few tens of nanoseconds; ``exporter.TallyCollector`` exposes them at scrape
time as a counter and a histogram, in the event loop that also updates them, so a
scrape never sees half an update.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Final


class LabelledCount:
    """A counter per value of one label, every value known (and exported at 0) from the start."""

    def __init__(self, values: tuple[str, ...]) -> None:
        self.values: Final = values
        self.counts = [0] * len(values)

    def add(self, index: int) -> None:
        """One more for ``values[index]``."""
        self.counts[index] += 1

    def count(self, value: str) -> int:
        return self.counts[self.values.index(value)]


class BucketHistogram:
    """Observations counted per bucket, as Prometheus exposes them: the bucket ``le`` holds
    the observations at most ``le``, and ``+Inf`` all of them."""

    def __init__(self, upper_bounds: tuple[float, ...]) -> None:
        if list(upper_bounds) != sorted(set(upper_bounds)):
            raise ValueError(f"bucket bounds must increase: {upper_bounds}")
        self.upper_bounds: Final = upper_bounds
        self.counts = [0] * (len(upper_bounds) + 1)  # the last: above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.upper_bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[int]:
        """Observations at most each bound, then all of them (+Inf)."""
        return list(itertools.accumulate(self.counts))
