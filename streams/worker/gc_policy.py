"""Short garbage-collection pauses for a worker that holds thousands of live calls.

CPython's full (generation 2) collection walks every tracked object. A worker with 5,000
calls in memory holds about a million of them (each call's utterances, turns, windows),
and its full collections, every 10-20 s under load, paused the event loop for 420-500 ms
(measured with ``gc.callbacks`` on the bench's loaded worker): the input waited, and
those pauses were the p99 latency at 2,000 segments/s.

:class:`LongLivedObjects` moves the objects that survived into Python's permanent
generation (``gc.freeze``) every ``FREEZE_INTERVAL_SECONDS``, so a full collection walks
only what is newer. Reference counting still frees frozen objects that become
unreachable; only reference cycles among them wait, until the full collection of
everything (``gc.unfreeze`` + ``gc.collect``) every ``full_interval`` seconds: one long
pause in that interval instead of one every few seconds, and a bounded wait for cycles.

:func:`collect_young_after` raises the threshold of the youngest generation. Each event
makes container objects (decoded records, words, metrics) that reference counting frees.
With CPython's 700 a young collection ran every few hundred events, and the promotions it
made started 9-10 full collections in the bench's backlog run (2,000 calls, about 15 s):
1.9-2.3 s of collections in all; with 50,000, 3-4 full collections and 0.4-0.9 s
(``gc.callbacks`` in the worker). A young collection's pause grows with the threshold,
and the middle generation's with it: 20 ms per young collection at 50,000 with 5,000
calls in memory, and middle ones of 211-224 ms in the worker. 10,000 is the compromise:
in-process over 5,000 calls, collections took 184 ms in all (700: 274 ms, 50,000:
101 ms) with no pause above 33 ms (700: 55 ms).

Live, those collections found almost nothing to collect. In the bench's worker at 5,000
segments/s (``gc.callbacks``, wall and thread CPU time), the young collections ran once
or twice a second, each 25-40 ms of CPU and 30-100 ms of wall time, and the middle ones
every few seconds, 60-120 ms; over 100 s of live traffic they collected 42 objects.
Reference counting frees what a segment makes; the collections walked live state. Over
a short bench run (about 115 s) they took 2.8-3.0 s of CPU, with 69-77 pauses above
20 ms. :func:`apply` therefore switches Python's automatic collections off by default
(``gc_automatic_collections``): 0.2-0.3 s, all at start-up. The full collection every
``full_interval`` still frees the few reference cycles (22 objects per 10,000 valid
events in-process); what it frees is exported (``python_gc_objects_collected_total``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


class LongLivedObjects:
    FREEZE_INTERVAL_SECONDS = 30.0

    def __init__(self, full_interval: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.full_interval = full_interval
        self._monotonic = monotonic
        self._last_full = monotonic()
        self.full_collections = 0

    def tick(self) -> None:
        """Call every ``FREEZE_INTERVAL_SECONDS``: freeze what survived; when a full interval
        has passed, collect everything first."""
        now = self._monotonic()
        if now - self._last_full >= self.full_interval:
            gc.unfreeze()
            gc.collect()
            self._last_full = now
            self.full_collections += 1
        gc.freeze()


def apply(automatic: bool, young_objects: int) -> None:
    """The worker's policy: no automatic collections, or automatic ones with the young
    threshold at ``young_objects``. Set at start-up, not at import: a test process keeps
    Python's own."""
    if automatic:
        collect_young_after(young_objects)
        gc.enable()
    else:
        gc.disable()


def collect_young_after(objects: int) -> None:
    """Collect the youngest generation once ``objects`` new container objects survive
    (0: keep the current threshold); the older generations keep their thresholds."""
    if objects:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(objects, middle, old)
