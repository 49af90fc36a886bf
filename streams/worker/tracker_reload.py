"""The trackers in force in a worker, reloaded from their file while the worker runs.

The file (``TRACKERS_FILE``, in Kubernetes a mounted ConfigMap, which the kubelet
replaces by swapping a symlink) is looked at every ``TRACKERS_RELOAD_SECONDS``: a
``stat`` only, unless its modification time, size or inode changed; then it is read,
and parsed unless its content is the one in force. A valid file replaces the trackers
in one assignment of :attr:`TrackerReload.current`, so a reader sees the old set or the
new one, never a mix; an invalid one is logged once, in one line naming file and line,
and the trackers in force stay. docs/trackers.md describes this for operators.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.engine.trackers import EMPTY, TrackerFileError, TrackerSet, trackers_of_file

log = logging.getLogger(__name__)

# What a file's stat says about its version: modification time (ns), size and inode.
Signature = tuple[int, int, int]


def _signature(path: Path) -> Signature | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class TrackerReload:
    """The current :class:`TrackerSet` (``current``), and the counts of reloads for the
    exporter: ``reloads_ok`` and ``reloads_error`` (the load at start is not a reload),
    ``digest`` and ``tracker_count`` of the set in force, and ``last_error``."""

    def __init__(
        self,
        path: Path | None,
        interval_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.interval_seconds = interval_seconds
        self.clock = clock
        self.reloads_ok = 0
        self.reloads_error = 0
        self.last_error: str | None = None
        self._signature: Signature | None = None
        self._content_digest = ""
        self.current: TrackerSet = EMPTY
        if path is not None:
            # at start a bad file stops the worker (the settings check it first, in one line)
            self._signature = _signature(path)
            try:
                raw = path.read_bytes()
            except OSError as error:
                raise TrackerFileError(f"{path}: cannot read: {error.strerror or error}") from None
            self.current = trackers_of_file(path, raw)
            self._content_digest = hashlib.sha256(raw).hexdigest()
        self._next_check = clock() + interval_seconds

    @property
    def digest(self) -> str:
        return self.current.digest

    @property
    def tracker_count(self) -> int:
        return len(self.current)

    def check(self) -> bool:
        """Reloads the file if it is due and changed; True when the trackers in force changed."""
        if self.path is None:
            return False
        now = self.clock()
        if now < self._next_check:
            return False
        self._next_check = now + self.interval_seconds
        signature = _signature(self.path)
        if signature == self._signature:
            return False
        # a version is judged once: a bad file is logged once, not at every check
        self._signature = signature
        try:
            raw = self.path.read_bytes()
        except OSError as error:
            return self._refuse(f"{self.path}: cannot read: {error.strerror or error}")
        content_digest = hashlib.sha256(raw).hexdigest()
        if content_digest == self._content_digest:
            return False  # touched, or the same content written again
        try:
            trackers = trackers_of_file(self.path, raw)
        except TrackerFileError as error:
            self._content_digest = ""  # so that the good content written back again is reloaded
            return self._refuse(str(error))
        self._content_digest = content_digest
        self.last_error = None
        self.reloads_ok += 1
        changed = trackers.digest != self.current.digest
        self.current = trackers
        log.info("trackers reloaded from %s: %d, definitions %s", self.path, len(trackers), trackers.digest)
        return changed

    def _refuse(self, problem: str) -> bool:
        self.reloads_error += 1
        self.last_error = problem
        log.error(
            "trackers not reloaded, the %d in force (definitions %s) stay: %s",
            len(self.current),
            self.current.digest,
            problem,
        )
        return False

    async def run_check(self) -> None:
        """:meth:`check`, for a worker timer: in a thread, so that reading and parsing a new
        version (up to 0.2 s for the largest file allowed) does not hold the event loop."""
        await asyncio.to_thread(self.check)


class TrackerReloadCollector(Collector):
    """The trackers in force and their reloads, read at scrape time."""

    def __init__(self, trackers: TrackerReload) -> None:
        self.trackers = trackers

    def describe(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        return list(self.collect())

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        reloads = CounterMetricFamily(
            "callfocus_tracker_reloads",
            "Reloads of the trackers file since start, by result (error: the file was refused and the "
            "trackers in force stayed; the worker's log names the line).",
            labels=["result"],
        )
        reloads.add_metric(["ok"], self.trackers.reloads_ok)
        reloads.add_metric(["error"], self.trackers.reloads_error)
        yield reloads
        loaded = GaugeMetricFamily(
            "callfocus_trackers_loaded",
            "User-defined trackers in force, with the digest of their definitions as a label.",
            labels=["digest"],
        )
        loaded.add_metric([self.trackers.current.digest], len(self.trackers.current))
        yield loaded
