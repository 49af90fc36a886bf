"""The live calls one worker owns, and how an input message changes them.

No Kafka and no Faust here: the Faust agent feeds raw message bytes to
:class:`CallProcessor` and ships what it returns (dead letters) to Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol

import orjson

from streams.engine import CallMetrics, CallState, EngineConfig, SegmentOutcome
from streams.engine.nudges import DEFAULT_RULES, Nudge, NudgeRule, NudgeTracker
from streams.engine.trackers import EMPTY as NO_TRACKERS
from streams.engine.trackers import TrackerSet
from streams.errors import InvalidEventError, InvalidReason
from streams.privacy.events import redact_event
from streams.privacy.redaction import Redactor, may_hold_pii
from streams.wire.codec import AvroCodec
from streams.wire.events import (
    CallEnded,
    CallStarted,
    Event,
    HoldEnded,
    HoldStarted,
    Speaker,
    TranscriptSegment,
    event_from_record,
)
from streams.worker.exporter import PipelineMetrics

# a speaker's place in PipelineMetrics.segments_processed (its values are Speaker's)
_SPEAKER_INDEX: Final = {speaker: index for index, speaker in enumerate(Speaker)}


class CallLabels(NamedTuple):
    """Whose call it is, as its CallStarted says: the labels of its series and records."""

    agent_id: str
    team: str
    queue: str


# a call's labels until its CallStarted (or for good, if implicitly started)
UNKNOWN_LABELS: Final = CallLabels("unknown", "unknown", "unknown")


@dataclass(slots=True)
class LiveCall:
    """A call this worker owns: its metric state plus what export and outputs need."""

    state: CallState
    partition: int
    ended_monotonic: float | None = None
    labels: CallLabels = field(default=UNKNOWN_LABELS)
    # (team, queue) as exported to Prometheus, folded once when the labels are set
    # (streams/worker/export_labels.py); not kept durably: folded again when loaded
    exported_labels: tuple[str, str] | None = None
    last_event_monotonic: float = 0.0
    last_snapshot_monotonic: float = float("-inf")
    snapshot_pending: bool = False
    last_nudge_check_monotonic: float = float("-inf")
    nudge_check_pending: bool = False
    nudges: NudgeTracker = field(init=False)
    # the text of the call's latest segment, for masked nudge snippets (not kept durably)
    last_text: str = ""
    # when the call ended, wall clock: its EndedCall marker keeps it (0: not ended)
    ended_wall_ms: int = 0

    def __post_init__(self) -> None:
        self.nudges = NudgeTracker(self.state.call_id)

    @property
    def call_id(self) -> str:
        return self.state.call_id

    def to_bytes(self) -> bytes:
        """What the durable table keeps of a call: partition, labels and the engine state."""
        return orjson.dumps(self.durable_data())

    def durable_data(self) -> dict[str, Any]:
        """:meth:`to_bytes` before it is JSON: taken now, written later, it does not change
        with the call meanwhile (:meth:`CallState.json_data`). An ended call leaves only its
        :class:`EndedCall` marker."""
        if self.ended_monotonic is not None:
            return EndedCall(self.call_id, self.partition, self.ended_wall_ms).durable_data()
        return {
            "partition": self.partition,
            # a JSON array, as states have always kept it (orjson writes no NamedTuple)
            "labels": list(self.labels),
            "state": self.state.json_data(),
            "nudges": self.nudges.to_dict(),
        }

    @classmethod
    def from_bytes(cls, raw: bytes, config: EngineConfig) -> LiveCall:
        data = orjson.loads(raw)
        if "state" not in data:
            raise ValueError("an ended call's marker, not a call's state")
        return cls.from_data(data, config)

    @classmethod
    def from_data(cls, data: dict[str, Any], config: EngineConfig) -> LiveCall:
        agent_id, team, queue = data["labels"]
        # idle time counts from the load: the table does not keep wall-clock times
        call = cls(
            CallState.from_dict(data["state"], config),
            data["partition"],
            labels=CallLabels(agent_id, team, queue),
            last_event_monotonic=time.monotonic(),
        )
        if "nudges" in data:  # absent in states written before nudges existed
            call.nudges = NudgeTracker.from_dict(call.call_id, data["nudges"])
        return call


def exported_labels(call: LiveCall) -> tuple[str, str]:
    """The team and queue a call's series carry (its labels as set, if never folded)."""
    exported = call.exported_labels
    return exported if exported is not None else (call.labels.team, call.labels.queue)


class EndedCall:
    """What a worker remembers of a call that ended and left memory: enough to refuse its
    late events (``call_ended``) and never summarise it twice. Kept in the call-state table
    in place of the state, and forgotten ``ended_call_memory_seconds`` after the end."""

    __slots__ = ("call_id", "ended_wall_ms", "partition")

    def __init__(self, call_id: str, partition: int, ended_wall_ms: int) -> None:
        self.call_id: Final = call_id
        self.partition: Final = partition
        self.ended_wall_ms: Final = ended_wall_ms

    def durable_data(self) -> dict[str, Any]:
        return {"partition": self.partition, "ended_wall_ms": self.ended_wall_ms}


class ForgottenCall:
    """An :class:`EndedCall` marker past its memory: the next commit deletes it."""

    __slots__ = ("call_id",)

    def __init__(self, call_id: str) -> None:
        self.call_id: Final = call_id

    def durable_data(self) -> None:
        return None


class LostCall:
    """A call whose durable state could not be read (an incompatible version, damage): it
    starts again from its next event, as if implicitly started."""

    __slots__ = ("call_id",)

    def __init__(self, call_id: str) -> None:
        self.call_id: Final = call_id


def read_durable(call_id: str, raw: bytes, config: EngineConfig) -> LiveCall | EndedCall:
    """A call from what the call-state table keeps of it: its state, or its end marker."""
    data = orjson.loads(raw)
    if "state" not in data:
        return EndedCall(call_id, data["partition"], data["ended_wall_ms"])
    return LiveCall.from_data(data, config)


# a call's state as a commit writes it: key, durable data (None: the call ended, delete
# it) and the input record that last changed it (its partition's transaction carries it)
TakenState = tuple[bytes, dict[str, Any] | None, Any]


class Durable(Protocol):
    """What a commit writes to a table under the key ``call_id``: a call's state or end marker
    (LiveCall), a deletion (ForgottenCall), a scorecard cell (streams/worker/scorecard_cells.py)."""

    @property
    def call_id(self) -> str: ...

    def durable_data(self) -> dict[str, Any] | None: ...


def _take(call: Durable, source: Any) -> TakenState:
    return (call.call_id.encode(), call.durable_data(), source)


class UnwrittenStates:
    """The calls whose durable state the next commit writes, and the states of the commit
    that is writing.

    A commit writes every call changed since the last one as it was at one point of the
    input, :meth:`begin`, and the input goes on while it writes. The states are not all
    taken at that point, which held the input for 23-63 ms per commit at 5,000 segments/s
    (2,500 calls): each is taken when the writer asks for it (:meth:`take`) or, if the
    input is about to change the call first, just before (:meth:`before_change`). Taking
    copies (``LiveCall.durable_data``), so the later change is not in it.

    Only events change what is taken here. A nudge check between the commit point and the
    take can be in the state (the tracker's cooldowns): harmless, the nudge went out when
    it fired, outside any transaction.
    """

    def __init__(self) -> None:
        self._changed: dict[str, tuple[Durable, Any]] = {}
        self._untaken: dict[str, tuple[Durable, Any]] = {}
        self._taken: list[TakenState] = []

    def changed(self, call: Durable, source: Any) -> None:
        """``call`` changed, last by the input record ``source``: the next commit writes it."""
        self._changed[call.call_id] = (call, source)

    def discard(self, call_id: str) -> None:
        """Forget a change that will be made again (its batch is dropped and comes again)."""
        self._changed.pop(call_id, None)

    def before_change(self, call_id: str) -> None:
        """Take the call's state for the writing commit now, if it has not yet."""
        entry = self._untaken.pop(call_id, None)
        if entry is not None:
            self._taken.append(_take(*entry))

    def begin(self) -> int:
        """The commit point: what changed until now is what this commit writes. A commit
        that failed before it wrote everything leaves its calls to the next."""
        for call_id, entry in self._untaken.items():
            self._changed.setdefault(call_id, entry)
        self._untaken, self._changed, self._taken = self._changed, {}, []
        return len(self._untaken)

    def take(self, limit: int) -> list[TakenState]:
        """Up to ``limit`` states of the writing commit; none when all are written."""
        states = self._taken[:limit]
        del self._taken[:limit]
        while len(states) < limit and self._untaken:
            _, entry = self._untaken.popitem()
            states.append(_take(*entry))
        return states


class LiveCalls:
    """Calls owned by this worker, by call_id, and the calls that ended lately.

    ``load`` (optional) finds a call that is not in memory, e.g. in the durable table
    after a restart or a rebalance, before a new one is created.
    """

    def __init__(
        self,
        config: EngineConfig,
        load: Callable[[str], LiveCall | EndedCall | LostCall | None] | None = None,
    ) -> None:
        self.config = config
        self.load = load
        # folds a call's (team, queue) for export when it enters memory (CallProcessor sets it)
        self.export_labels: Callable[[str, str], tuple[str, str]] | None = None
        self._calls: dict[str, LiveCall] = {}
        self._pending: dict[str, LiveCall] = {}
        # calls that ended and left memory, oldest first (ended_call_memory_seconds)
        self.ended: dict[str, EndedCall] = {}
        self.unwritten = UnwrittenStates()

    def add(self, call: LiveCall, fold_labels: bool = True) -> None:
        """A call enters memory; its labels are folded for export unless ``fold_labels`` is
        false (a CallStarted folds them)."""
        if fold_labels:
            self._fold_labels(call)
        self._calls[call.call_id] = call

    def remember_ended(self, ended: EndedCall) -> None:
        self.ended[ended.call_id] = ended

    def _fold_labels(self, call: LiveCall) -> None:
        if self.export_labels is not None:
            call.exported_labels = self.export_labels(call.labels.team, call.labels.queue)

    def touched(self, call: LiveCall) -> None:
        """Note that ``call`` changed: its snapshot and nudge check are due (:meth:`pending`)."""
        self._pending[call.call_id] = call

    def pending(self) -> list[LiveCall]:
        """The live calls whose snapshot or nudge check still waits, for the timer that
        catches up on them. Only these, not every call in memory: most calls a worker
        holds went quiet long ago, and walking 10,000 of them four times a second took
        6.5 % of a core at 5,000 segments/s (py-spy)."""
        self._pending = {
            call_id: call
            for call_id, call in self._pending.items()
            if call.ended_monotonic is None and (call.snapshot_pending or call.nudge_check_pending)
        }
        return list(self._pending.values())

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[LiveCall]:
        return iter(list(self._calls.values()))

    def get(self, call_id: str) -> LiveCall | None:
        return self._calls.get(call_id)

    def find(self, call_id: str) -> LiveCall | EndedCall | LostCall | None:
        """The call in memory, else the marker of its end, else what ``load`` finds (a call
        loaded into memory has its labels folded for export)."""
        call = self._calls.get(call_id)
        if call is not None:
            return call
        ended = self.ended.get(call_id)
        if ended is not None or self.load is None:
            return ended
        loaded = self.load(call_id)
        if isinstance(loaded, EndedCall):
            self.ended[call_id] = loaded
        elif isinstance(loaded, LiveCall):
            self.add(loaded)
        return loaded

    def forget(self, call_id: str) -> None:
        """Drop a call from memory, and its changes not yet written: its next event loads
        it again (``load``) from the last commit."""
        self._drop(call_id)
        self.ended.pop(call_id, None)
        self.unwritten.discard(call_id)

    def _drop(self, call_id: str) -> None:
        # a dropped call's pending snapshot or nudge check goes with it
        self._calls.pop(call_id, None)
        self._pending.pop(call_id, None)

    def drop_partitions(self, partitions: set[int]) -> int:
        """Forget calls whose partition moved to another worker; returns how many."""
        gone = [cid for cid, call in self._calls.items() if call.partition in partitions]
        for cid in gone:
            self._drop(cid)
        for cid in [cid for cid, ended in self.ended.items() if ended.partition in partitions]:
            del self.ended[cid]
        return len(gone)

    def drop_ended(self, older_than_monotonic: float) -> int:
        """Forget calls that ended before the given monotonic time, but for the marker of
        their end; returns how many."""
        gone = [
            call
            for call in self._calls.values()
            if call.ended_monotonic is not None and call.ended_monotonic < older_than_monotonic
        ]
        for call in gone:
            self._drop(call.call_id)
            self.ended[call.call_id] = EndedCall(call.call_id, call.partition, call.ended_wall_ms)
        return len(gone)

    def expire_ended(self, ended_before_wall_ms: int) -> list[EndedCall]:
        """Forget the ends older than ``ended_before_wall_ms``; returns them, for their
        markers to be deleted from the table."""
        expired = [ended for ended in self.ended.values() if ended.ended_wall_ms < ended_before_wall_ms]
        for ended in expired:
            del self.ended[ended.call_id]
        return expired


class Processed:
    """What one input message did: the error for the dead-letter topic, or the call it changed.

    A plain class, one per input message: compiled, its ``__init__`` is C (streams/wire/values.py).
    """

    def __init__(
        self, error: InvalidEventError | None = None, call: LiveCall | None = None, ended_now: bool = False
    ) -> None:
        self.error: Final = error
        self.call: Final = call
        self.ended_now: Final = ended_now


def _check_key(key: bytes | None, call_id: str) -> None:
    if key is None:
        raise InvalidEventError(
            InvalidReason.MISSING_KEY, f"record of call {call_id!r} has no key (the key is the call_id)"
        )
    if key != call_id.encode():
        shown = key[:40].decode("utf-8", "replace")
        raise InvalidEventError(
            InvalidReason.KEY_MISMATCH, f"record of call {call_id!r} has the key {shown!r}"
        )


class TrackersInForce(Protocol):
    """What holds the trackers in force (streams/worker/tracker_reload.py's TrackerReload)."""

    current: TrackerSet


class NoTrackers:
    current: TrackerSet = NO_TRACKERS


NO_TRACKERS_IN_FORCE: Final = NoTrackers()


class CallProcessor:
    """Decodes one input message and applies it to the live calls."""

    def __init__(
        self,
        codec: AvroCodec,
        calls: LiveCalls,
        metrics: PipelineMetrics,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        monotonic: Callable[[], float] = time.monotonic,
        nudge_rules: tuple[NudgeRule, ...] = DEFAULT_RULES,
        implicit_start: bool = False,
        trackers: TrackersInForce = NO_TRACKERS_IN_FORCE,
        redactor: Redactor | None = None,
    ) -> None:
        self.codec = codec
        # personal data is redacted from each event before it changes anything (docs/privacy.md)
        self.redactor = redactor if redactor is not None and redactor.enabled else None
        # the codec's compiled reader of current records, called directly: through the
        # codec's decode(), which is interpreted, each event ran two Python frames more
        self._fast_reader = codec.fast_reader
        self.calls = calls
        self.metrics = metrics
        self.nudge_rules = nudge_rules
        # the user-defined trackers in force, read at each segment (reloaded while running)
        self.trackers = trackers
        # segments and ends of a call never started create it (with unknown labels)
        self.implicit_start = implicit_start
        self._wall_clock_ms = wall_clock_ms
        self._monotonic = monotonic
        calls.export_labels = metrics.export_labels

    def process(self, raw: bytes | None, partition: int) -> Processed:
        """Apply one message; an unusable one is returned with its error and changes no state."""
        return self._process(raw, partition, None, False)

    def process_record(self, key: bytes | None, raw: bytes | None, partition: int) -> Processed:
        """:meth:`process` for a Kafka record, whose key must be the event's call_id: the
        input's partitioning (and so each call's order and owner) follows the key."""
        return self._process(raw, partition, key, True)

    def _process(self, raw: bytes | None, partition: int, key: bytes | None, keyed: bool) -> Processed:
        try:
            found = self._fast_reader.read(raw) if self._fast_reader is not None and raw else None
            name, record = found if found is not None else self.codec.decode(raw)
            event = event_from_record(name, record)
            # most segments hold nothing to redact: the pre-filter alone, without a frame more
            if self.redactor is not None and (
                not isinstance(event, TranscriptSegment) or may_hold_pii(event.text)
            ):
                event = self._redacted(event)
            if keyed:
                _check_key(key, event.call_id)
            return self._apply(event, partition)
        except InvalidEventError as error:
            return self._invalid(error)
        except Exception as error:  # a bug or a hostile record: its record goes, the worker stays
            detail = f"{type(error).__name__}: {str(error)[:200]}"
            return self._invalid(InvalidEventError(InvalidReason.INTERNAL_ERROR, detail))

    def _redacted(self, event: Event) -> Event:
        assert self.redactor is not None
        event, counts = redact_event(self.redactor, event)
        if counts:
            for kind, count in counts.items():
                self.metrics.redactions.labels(kind).inc(count)
        return event

    def _invalid(self, error: InvalidEventError) -> Processed:
        self.metrics.invalid_events.labels(error.reason).inc()
        # kept without its traceback and the exception it replaced: their frames reach
        # back to the caller's frame, which holds the result, and that cycle (with the
        # caller's whole batch) would wait for the full collection (streams/worker/gc_policy.py)
        error.__traceback__ = error.__context__ = error.__cause__ = None
        return Processed(error=error)

    def _apply(self, event: Event, partition: int) -> Processed:
        call_id = event.call_id
        found = self.calls.find(call_id)
        if found is None or isinstance(found, LostCall):
            if found is None and not (isinstance(event, CallStarted) or self.implicit_start):
                raise InvalidEventError(
                    InvalidReason.CALL_NOT_STARTED,
                    f"{type(event).__name__} of call {call_id!r}, which never started",
                )
            call = LiveCall(CallState(call_id, self.calls.config), partition)
            self.calls.add(call, fold_labels=not isinstance(event, CallStarted))
        elif isinstance(found, EndedCall) or found.ended_monotonic is not None:
            if isinstance(event, CallEnded) and event.reason == "timeout":
                return Processed()  # the worker's own idle end, overtaken by the call's end
            raise InvalidEventError(
                InvalidReason.CALL_ENDED, f"{type(event).__name__} of call {call_id!r} after the call ended"
            )
        else:
            call = found
        if isinstance(event, CallEnded):
            started = call.state.meta
            if started is not None and event.ended_at < started.started_at:
                raise InvalidEventError(
                    InvalidReason.ENDED_BEFORE_START,
                    f"call {call_id!r} ended at {event.ended_at}, before it started at {started.started_at}",
                )
        self.calls.unwritten.before_change(call_id)
        call.last_event_monotonic = self._monotonic()
        ended_now = False
        if isinstance(event, TranscriptSegment):
            outcome = call.state.apply(event, self.trackers.current)
            if outcome is SegmentOutcome.APPLIED:
                call.last_text = event.text
                self.metrics.segments_processed.add(_SPEAKER_INDEX[event.speaker])
                if event.produced_at > 0:
                    latency = (self._wall_clock_ms() - event.produced_at) / 1000
                    self.metrics.processing_latency.observe(max(latency, 0.0))
            else:
                self.metrics.segments_ignored.labels(outcome.value).inc()
        elif isinstance(event, CallStarted):
            first_start = call.state.meta is None
            call.state.start(event)
            if first_start and call.state.lexicon_language is None:  # not a redelivered start
                self.metrics.count_unsupported_language(event.language)
            call.labels = CallLabels(event.agent_id, event.team, event.queue)
            call.exported_labels = self.metrics.export_labels(event.team, event.queue)
        elif isinstance(event, HoldStarted):
            call.state.hold_started(event)
        elif isinstance(event, HoldEnded):
            call.state.hold_ended(event)
        else:
            call.state.end(event)
            call.ended_monotonic = self._monotonic()
            call.ended_wall_ms = self._wall_clock_ms()
            ended_now = True
            self.metrics.calls_ended.labels("timeout" if event.reason == "timeout" else "event").inc()
            self._count_tracker_hits(call, call.state.metrics())  # the hits since the last check
            score = call.state.metrics().customer_focus_score
            if score is not None:
                self.metrics.ended_call_score.labels(exported_labels(call)[0]).observe(score)
        call.snapshot_pending = True
        # no rules and no trackers: no check waits
        call.nudge_check_pending = bool(self.nudge_rules) or bool(self.trackers.current.trackers)
        self.calls.touched(call)
        return Processed(call=call, ended_now=ended_now)

    def nudges(self, call: LiveCall, min_interval: float = 0.0) -> list[Nudge]:
        """The nudges the call's current metrics raise, if it changed since the last check and
        that check is ``min_interval`` seconds old (none for an ended call).

        Each check reads all of the call's metrics (tens of microseconds), so a busy call is
        checked at most once per interval rather than on every event.
        """
        if call.ended_monotonic is not None or not call.nudge_check_pending:
            return []
        now = self._monotonic()
        if now - call.last_nudge_check_monotonic < min_interval:
            return []
        call.nudge_check_pending = False
        call.last_nudge_check_monotonic = now
        metrics = call.state.metrics()
        new_hits = self._count_tracker_hits(call, metrics)
        raised = call.nudges.evaluate(metrics, self.nudge_rules, self.trackers.current, new_hits)
        for nudge in raised:
            self.metrics.nudges.labels(nudge.type, exported_labels(call)[0]).inc()
        return raised

    def _count_tracker_hits(self, call: LiveCall, metrics: CallMetrics) -> list[tuple[str, int]]:
        new_hits = call.nudges.new_tracker_hits(metrics)
        if new_hits:
            team = exported_labels(call)[0]
            for name, hits in new_hits:
                self.metrics.count_tracker_hits(name, team, hits)
        return new_hits

    def idle_calls(self, idle_seconds: float) -> list[LiveCall]:
        """Calls with no event for ``idle_seconds`` (wall clock) that have not ended."""
        limit = self._monotonic() - idle_seconds
        return [c for c in self.calls if c.ended_monotonic is None and c.last_event_monotonic < limit]
