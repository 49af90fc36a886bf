"""Per-call state and the customer-focus metrics computed from it.

How the state stays small and exact whatever the arrival order:

* Segments of the last ``horizon`` of media time (largest window + late tolerance)
  are kept as compact :class:`Utterance` facts, sorted by start time (the *tail*).
* Older segments are *sealed*: folded, in sorted order, into a :class:`Fold` of running
  totals and turn state, and forgotten. A segment that would sort before the sealed
  ones arrives too late to place exactly and is rejected (``too_late``).
* Metrics are read by replaying the tail over a copy of the sealed fold. The result
  is a function of the set of segments, so any arrival order, duplicate or revision
  sequence that ends in the same final segments gives the same metrics.

Applying a segment costs O(log n) for the sorted insert plus amortised O(1) sealing;
reading metrics costs O(segments in the horizon), done at most once per change.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Any, ClassVar, Final

import orjson

from streams.engine.catalogue import WINDOW_METRICS
from streams.engine.config import (
    MAX_ANALYSED_WORDS,
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    MAX_END_REASON_CHARS,
    MAX_LONG_SILENCES,
    MAX_ORG_NAMES_CHARS,
    MAX_TAIL_SEGMENTS,
    MAX_TRACKERS_COUNTED,
    MAX_TURN_CONTENT_WORDS,
    EngineConfig,
)
from streams.engine.lexicon import lexicon_language, load_lexicon
from streams.engine.text import PhraseCounter, TextAnalyzer, analysed_part, org_names, tokens
from streams.engine.trackers import EMPTY as NO_TRACKERS
from streams.engine.trackers import TrackerSet
from streams.errors import InvalidEventError, InvalidReason
from streams.wire.events import CallEnded, CallStarted, HoldEnded, HoldStarted, Speaker, TranscriptSegment
from streams.wire.values import Value

AGENT, CUSTOMER, OTHER = 0, 1, 2
_SPEAKER_CODE = {Speaker.AGENT: AGENT, Speaker.CUSTOMER: CUSTOMER, Speaker.OTHER: OTHER}
_NO_TURN = -1
_AGENT_TURN_FIELDS = 6  # Fold.agent_turn
SENTIMENT_SCALE = 1_000_000
DEFAULT_CONFIG = EngineConfig()


class SegmentOutcome(StrEnum):
    APPLIED = "applied"
    INTERIM = "interim"
    DUPLICATE = "duplicate"
    STALE_REVISION = "stale_revision"


@lru_cache(maxsize=8)
def analyzer_for(language: str, lexicon_file: str | None, lexicon_dir: str | None = None) -> TextAnalyzer:
    """The text analyzer of ``language``'s lexicon, found by name in ``lexicon_dir`` or the
    shipped folder (streams/engine/lexicon.py); ValueError if there is none."""
    from pathlib import Path

    return TextAnalyzer(
        load_lexicon(
            language,
            Path(lexicon_file) if lexicon_file else None,
            Path(lexicon_dir) if lexicon_dir else None,
        )
    )


class Utterance:
    """What the engine keeps of one final segment: timing plus text facts, no text."""

    __slots__ = (
        "backchannel",
        "content",
        "customer_refs",
        "end",
        "objections",
        "open_questions",
        "questions",
        "revision",
        "role",
        "row_json",
        "segment_id",
        "self_refs",
        "sentiment",
        "speaker",
        "stance",
        "start",
        "tracker_hits",
        "words",
    )

    def __init__(self, segment_id: str, revision: int, speaker: int, start: int, end: int) -> None:
        self.segment_id = segment_id
        self.revision = revision
        self.row_json: orjson.Fragment | None = None
        self.speaker = speaker
        self.start = start
        self.end = end
        self.words = 0
        self.backchannel = False
        self.content: tuple[str, ...] = ()
        self.questions = self.open_questions = self.customer_refs = self.self_refs = self.stance = 0
        self.objections = 0
        # agent lines minus customer lines said (the speaker-role check), in the call's opening
        self.role = 0
        # (tracker name, hits) of the trackers in force when the segment arrived
        self.tracker_hits: tuple[tuple[str, int], ...] = ()
        self.sentiment = 0  # compound sentiment in millionths: integer sums stay order-exact

    @classmethod
    def restored(cls, segment_id: str, revision: int, speaker: int, start: int, end: int) -> Utterance:
        """An utterance whose text facts the caller sets (a state read back)."""
        return cls(segment_id, revision, speaker, start, end)

    @classmethod
    def of(
        cls,
        segment: TranscriptSegment,
        speaker: int,
        analyzer: TextAnalyzer,
        state: CallState,
        trackers: TrackerSet = NO_TRACKERS,
    ) -> Utterance:
        """The facts of one final segment, from its text."""
        self = cls(segment.segment_id, segment.revision, speaker, segment.start_ms, segment.end_ms)
        words = tokens(segment.text)
        self.words = len(words)
        text = segment.text
        if len(words) > MAX_ANALYSED_WORDS:  # only the first words are analysed
            text, words = analysed_part(text, words)
        # no lexicon for the call's language: timing and trackers only (docs/languages.md)
        lexical = state.lexicon_language is not None
        self.backchannel = lexical and analyzer.is_backchannel(words, state.config.backchannel_max_words)
        if trackers.trackers:
            meta = state.meta
            counts = trackers.match(
                speaker,
                segment.start_ms,
                words,
                meta.team if meta is not None else None,
                meta.queue if meta is not None else None,
            )
            if counts is not None:
                self.tracker_hits = tuple((tracker.name, hits) for tracker, hits in trackers.hits(counts))
        if not lexical:
            return self
        config = state.config
        if segment.start_ms < config.role_check_ms and config.role_check != "off" and speaker != OTHER:
            self.role = analyzer.role_lines(words)
        self.content = analyzer.content_words(words)
        if speaker == AGENT:
            self.stance, service, greeting = analyzer.agent_phrases(words)
            asked = analyzer.questions(text, words, service)
            # The scripted "how can I help you" said with the greeting is the greeting.
            ritual = asked.service_openers if greeting else 0
            self.questions = asked.total - ritual
            self.open_questions = asked.open - ritual
            self.customer_refs, self.self_refs = analyzer.references(
                words, state.customer_orgs, state.seller_orgs
            )
        elif speaker == CUSTOMER:
            self.sentiment = round(analyzer.sentiment(words) * SENTIMENT_SCALE)
            self.objections = analyzer.objections(words)
        return self


_UTTERANCE_FIELDS = (
    "segment_id",
    "revision",
    "speaker",
    "start",
    "end",
    "words",
    "backchannel",
    "content",
    "questions",
    "open_questions",
    "customer_refs",
    "self_refs",
    "stance",
    "sentiment",
    "objections",
    "tracker_hits",
    "role",
)


def _utterance_row(u: Utterance) -> tuple[Any, ...]:
    """The fields of ``_UTTERANCE_FIELDS``, in that order: named here so that the compiled
    code reads them natively, not by name as ``operator.attrgetter`` does."""
    return (
        u.segment_id,
        u.revision,
        u.speaker,
        u.start,
        u.end,
        u.words,
        u.backchannel,
        u.content,
        u.questions,
        u.open_questions,
        u.customer_refs,
        u.self_refs,
        u.stance,
        u.sentiment,
        u.objections,
        u.tracker_hits,
        u.role,
    )


# the values of the fields added after the first 14, for rows of states written before them
_ROW_DEFAULTS: tuple[Any, ...] = (0, (), 0)

_META_FIELDS = CallStarted.FIELDS
_ENDED_FIELDS = CallEnded.FIELDS


def _meta_row(meta: CallStarted) -> dict[str, Any]:
    row = {name: getattr(meta, name) for name in _META_FIELDS}
    row["attributes"] = dict(meta.attributes)
    return row


def _utterance_from_row(row: Sequence[Any]) -> Utterance:
    if len(row) < len(_UTTERANCE_FIELDS):  # a state written before the later fields: their zeros
        row = [*row, *_ROW_DEFAULTS[len(row) - len(_UTTERANCE_FIELDS) :]]
    (
        segment_id,
        revision,
        speaker,
        start,
        end,
        words,
        backchannel,
        content,
        questions,
        open_questions,
        customer_refs,
        self_refs,
        stance,
        sentiment,
        objections,
        tracker_hits,
        role,
    ) = row
    u = Utterance.restored(segment_id, revision, speaker, start, end)
    u.words = words
    u.backchannel = bool(backchannel)
    u.content = tuple(sys.intern(w) for w in content)
    u.questions, u.open_questions = questions, open_questions
    u.customer_refs, u.self_refs = customer_refs, self_refs
    u.stance, u.sentiment = stance, sentiment
    u.objections = objections
    u.role = role
    u.tracker_hits = tuple((sys.intern(name), hits) for name, hits in tracker_hits)
    return u


def _json_fragment(value: Any) -> orjson.Fragment:
    # copied: the buffer orjson returns keeps its 4 KB allocation (tracemalloc), which kept
    # for every utterance of 2,000 calls was 500 MB
    return orjson.Fragment(bytes(memoryview(orjson.dumps(value))))


def _row_json(u: Utterance) -> orjson.Fragment:
    """The utterance's row as JSON, made once: an utterance never changes, and the worker
    writes a changed call's state, its whole tail of minutes, at every commit (a 50-segment
    tail: 47 µs per write with the rows serialised each time)."""
    if u.row_json is None:
        u.row_json = _json_fragment(_utterance_row(u))
    return u.row_json


def _sort_key(u: Utterance) -> tuple[int, int, int, str]:
    return (u.start, u.end, u.speaker, u.segment_id)


def _sorts_after(start: int, end: int, speaker: int, segment_id: str, key: tuple[int, int, int, str]) -> bool:
    """``(start, end, speaker, segment_id) > key`` field by field: the order check every
    segment takes, without the key tuple (and its boxed ints) a comparison would make."""
    key_start, key_end, key_speaker, key_id = key
    if start != key_start:
        return start > key_start
    if end != key_end:
        return end > key_end
    if speaker != key_speaker:
        return speaker > key_speaker
    return segment_id > key_id


# the int fields of a Fold (its others are copied and serialised each in its own way)
_FOLD_SCALARS = (
    "agent_cover_end",
    "agent_cover_start",
    "agent_ms",
    "agent_run_end",
    "agent_run_start",
    "agent_words",
    "customer_cover_end",
    "customer_cover_start",
    "customer_ms",
    "customer_run_end",
    "customer_run_start",
    "customer_turn_end",
    "customer_turns",
    "dead_air_count",
    "dead_air_longest",
    "dead_air_ms",
    "interrupt_end",
    "interrupt_start",
    "interruptions",
    "last_turn",
    "longest_agent_run",
    "longest_customer_run",
    "long_silences_unchecked",
    "objection_pending",
    "objection_pitches",
    "objection_questions",
    "objection_replies",
    "objection_wait_ms",
    "objections",
    "open_questions",
    "overtalk_ms",
    "pitch",
    "questions",
    "reflected_turns",
    "refs_customer",
    "refs_self",
    "responsive_turns",
    "role_swap",
    "sentiment_sum",
    "sentiment_words",
    "situation",
    "speech_end",
    "switches",
)
# the scalars added since states were first written: a sealed row without them reads 0
# (speech_end -1: no speech yet)
_FOLD_LATER_DEFAULTS = {name: 0 for name in _FOLD_SCALARS} | {"speech_end": -1}


class Fold:
    """Running totals and turn state over segments fed in sorted order."""

    __slots__ = (
        *_FOLD_SCALARS,
        "agent_turn",
        "customer_turn_content",
        "gap_counts",
        "long_silences",
        "tracker_hits",
    )

    def __init__(self) -> None:
        self.agent_ms = self.customer_ms = 0
        self.questions = self.open_questions = self.refs_customer = self.refs_self = 0
        self.pitch = self.situation = 0
        self.sentiment_sum = self.sentiment_words = 0
        self.customer_turns = self.responsive_turns = self.reflected_turns = self.interruptions = 0
        self.gap_counts: dict[int, int] = {}
        self.last_turn = _NO_TURN
        self.agent_run_start = self.agent_run_end = self.longest_agent_run = 0
        self.customer_run_start = self.customer_run_end = self.longest_customer_run = 0
        self.customer_turn_content: frozenset[str] = frozenset()
        self.customer_turn_end = 0
        self.interrupt_start = self.interrupt_end = -1
        # the agent turn in progress: [start, follows a customer turn, reflects it,
        # answers an objection, asks a question, pitches]
        self.agent_turn: list[int | bool] | None = None
        self.agent_words = self.switches = 0
        # the furthest end of anyone's speech so far; a later start past it is a silence
        self.speech_end = -1
        self.dead_air_count = self.dead_air_ms = self.dead_air_longest = 0
        # silences long enough to be a hold, (start, end), matched with hold events at read time
        self.long_silences: list[tuple[int, int]] = []
        self.long_silences_unchecked = 0
        # each party's speech covered so far, as its latest merged interval (overtalk)
        self.agent_cover_start = self.agent_cover_end = 0
        self.customer_cover_start = self.customer_cover_end = 0
        self.overtalk_ms = 0
        self.objections = self.objection_pending = self.objection_replies = 0
        self.objection_questions = self.objection_pitches = self.objection_wait_ms = 0
        # hits per tracker name, the first MAX_TRACKERS_COUNTED names
        self.tracker_hits: dict[str, int] = {}
        # agent lines on the customer side and customer lines on the agent side, minus the
        # lines on their own side: the evidence that the roles are swapped
        self.role_swap = 0

    def copy(self) -> Fold:
        other = Fold()
        for name in _FOLD_SCALARS:
            setattr(other, name, getattr(self, name))
        other.customer_turn_content = self.customer_turn_content
        other.gap_counts = dict(self.gap_counts)
        other.agent_turn = list(self.agent_turn) if self.agent_turn is not None else None
        other.long_silences = list(self.long_silences)
        other.tracker_hits = dict(self.tracker_hits)
        return other

    def to_row(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in _FOLD_SCALARS}
        row["agent_turn"] = self.agent_turn
        row["gap_counts"] = sorted(self.gap_counts.items())
        row["customer_turn_content"] = sorted(self.customer_turn_content)
        row["long_silences"] = self.long_silences
        row["tracker_hits"] = sorted(self.tracker_hits.items())
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Fold:
        fold = cls()
        for name in _FOLD_SCALARS:
            setattr(fold, name, row.get(name, _FOLD_LATER_DEFAULTS[name]))
        turn = row["agent_turn"]
        if turn is not None and len(turn) < _AGENT_TURN_FIELDS:
            turn = [*turn, *([False] * (_AGENT_TURN_FIELDS - len(turn)))]
        fold.agent_turn = turn
        fold.long_silences = [(start, end) for start, end in row.get("long_silences", ())]
        fold.tracker_hits = {sys.intern(name): hits for name, hits in row.get("tracker_hits", ())}
        fold.gap_counts = {int(bucket): count for bucket, count in row["gap_counts"]}
        fold.customer_turn_content = frozenset(sys.intern(w) for w in row["customer_turn_content"])
        return fold

    def turn_totals(self) -> tuple[int, int]:
        """Agent turns after a customer turn, and how many reflect it, the open turn included."""
        responsive, reflected = self.responsive_turns, self.reflected_turns
        turn = self.agent_turn
        if turn is not None and turn[1]:
            responsive += 1
            reflected += bool(turn[2])
        return responsive, reflected

    def objection_totals(self) -> tuple[int, int]:
        """Replies to objections that asked a question, and that pitched without asking,
        the open turn included."""
        asked, pitched = self.objection_questions, self.objection_pitches
        turn = self.agent_turn
        if turn is not None and turn[3]:
            asked += bool(turn[4])
            pitched += bool(turn[5]) and not turn[4]
        return asked, pitched

    def _close_agent_turn(self) -> None:
        turn = self.agent_turn
        if turn is not None and turn[1]:
            self.responsive_turns += 1
            self.reflected_turns += bool(turn[2])
            if turn[3]:
                self.objection_questions += bool(turn[4])
                self.objection_pitches += bool(turn[5]) and not turn[4]
        self.agent_turn = None

    def _count_tracker_hits(self, hits: tuple[tuple[str, int], ...]) -> None:
        counted = self.tracker_hits
        for name, count in hits:
            if name in counted:
                counted[name] += count
            elif len(counted) < MAX_TRACKERS_COUNTED:  # names change only with the trackers file
                counted[name] = count

    def _silence(self, start: int, end: int, config: EngineConfig, sink: WindowEvents | None) -> None:
        length = end - start
        self.dead_air_count += 1
        self.dead_air_ms += length
        if length > self.dead_air_longest:
            self.dead_air_longest = length
        if sink is not None:
            sink.silences.append((start, end))
        if length >= config.probable_hold_ms:
            if len(self.long_silences) < MAX_LONG_SILENCES:
                self.long_silences.append((start, end))
            else:
                self.long_silences_unchecked += 1

    def _cover(self, u: Utterance, sink: WindowEvents | None) -> None:
        """Add ``u`` to its party's speech and count the time it newly covers that the other
        party's speech covers too. Fed in start order, only the other party's latest merged
        interval can overlap the new time, and each overlapping instant is counted once: by
        the later of the two segments that cover it."""
        if u.speaker == AGENT:
            start = max(u.start, self.agent_cover_end)
            lo, hi = max(start, self.customer_cover_start), min(u.end, self.customer_cover_end)
            if u.start > self.agent_cover_end:
                self.agent_cover_start = u.start
            if u.end > self.agent_cover_end:
                self.agent_cover_end = u.end
        else:
            start = max(u.start, self.customer_cover_end)
            lo, hi = max(start, self.agent_cover_start), min(u.end, self.agent_cover_end)
            if u.start > self.customer_cover_end:
                self.customer_cover_start = u.start
            if u.end > self.customer_cover_end:
                self.customer_cover_end = u.end
        if hi > lo:
            self.overtalk_ms += hi - lo
            if sink is not None:
                sink.overtalk.append((lo, hi))

    def feed(self, u: Utterance, config: EngineConfig, sink: WindowEvents | None = None) -> None:
        duration = u.end - u.start
        if self.speech_end >= 0 and u.start - self.speech_end >= config.dead_air_ms:
            self._silence(self.speech_end, u.start, config, sink)
        if u.end > self.speech_end:
            self.speech_end = u.end
        if u.speaker != OTHER and not u.backchannel:
            self._cover(u, sink)
        if u.tracker_hits:
            self._count_tracker_hits(u.tracker_hits)
        if u.role:
            self.role_swap += u.role if u.speaker == CUSTOMER else -u.role if u.speaker == AGENT else 0
        if u.speaker == AGENT:
            self.agent_ms += duration
            self.agent_words += u.words
            self.questions += u.questions
            self.open_questions += u.open_questions
            self.refs_customer += u.customer_refs
            self.refs_self += u.self_refs
            self.pitch += u.stance > 0
            self.situation += u.stance < 0
            if u.backchannel and self.last_turn == CUSTOMER:
                return  # listening, not taking the turn
            if (
                self.interrupt_start < u.start
                and min(u.end, self.interrupt_end) - u.start > config.interruption_overlap_ms
            ):
                self.interruptions += 1
                if sink is not None:
                    sink.interruptions.append(u.start)
            if self.last_turn != AGENT:
                follows = self.last_turn == CUSTOMER
                objection = follows and self.objection_pending > 0
                if objection:
                    self.objection_replies += 1
                    self.objection_wait_ms += u.start - self.customer_turn_end
                    self.objection_pending = 0
                if self.last_turn != _NO_TURN:
                    self.switches += 1
                    if sink is not None:
                        sink.switches.append(u.start)
                self.agent_turn = [u.start, follows, False, objection, False, False]
                if sink is not None:
                    sink.agent_turns.append(self.agent_turn)
                if follows:
                    gap = max(0, u.start - self.customer_turn_end)
                    bucket = gap // config.response_gap_resolution_ms
                    self.gap_counts[bucket] = self.gap_counts.get(bucket, 0) + 1
                    if sink is not None:
                        sink.gaps.append((u.start, bucket))
                self.last_turn = AGENT
                self.agent_run_start, self.agent_run_end = u.start, u.end
            elif u.end > self.agent_run_end:
                self.agent_run_end = u.end
            run = self.agent_run_end - self.agent_run_start
            if run > self.longest_agent_run:
                self.longest_agent_run = run
            turn = self.agent_turn
            if turn is not None and turn[1] and not turn[2]:
                heard = self.customer_turn_content
                turn[2] = any(word in heard for word in u.content)
            if turn is not None and turn[3]:
                if u.questions:
                    turn[4] = True
                if u.stance > 0:
                    turn[5] = True
        elif u.speaker == CUSTOMER:
            self.customer_ms += duration
            self.sentiment_sum += u.sentiment * u.words
            self.sentiment_words += u.words
            if u.backchannel and self.last_turn == AGENT:
                return  # "uh-huh" does not end the agent's run
            if not u.backchannel and u.end > self.interrupt_end:
                self.interrupt_start, self.interrupt_end = u.start, u.end
            if self.last_turn != CUSTOMER:
                self._close_agent_turn()
                if self.last_turn != _NO_TURN:
                    self.switches += 1
                    if sink is not None:
                        sink.switches.append(u.start)
                self.customer_turns += 1
                if sink is not None:
                    sink.customer_turns.append(u.start)
                self.last_turn = CUSTOMER
                self.customer_run_start, self.customer_run_end = u.start, u.end
                self.customer_turn_content = frozenset(u.content)
            else:
                if u.end > self.customer_run_end:
                    self.customer_run_end = u.end
                if u.content:
                    heard = self.customer_turn_content.union(u.content)
                    if len(heard) > MAX_TURN_CONTENT_WORDS:
                        heard = _first_heard(self.customer_turn_content, u.content)
                    self.customer_turn_content = heard
            self.customer_turn_end = self.customer_run_end
            if u.objections and not self.objection_pending:
                self.objections += 1
                self.objection_pending = 1
            run = self.customer_run_end - self.customer_run_start
            if run > self.longest_customer_run:
                self.longest_customer_run = run


def _first_heard(heard: frozenset[str], content: tuple[str, ...]) -> frozenset[str]:
    """``heard`` and the first words of ``content`` new to it, up to MAX_TURN_CONTENT_WORDS:
    the words said first (segments are fed in sorted order), whatever the arrival order."""
    room = MAX_TURN_CONTENT_WORDS - len(heard)
    new = [word for word in content if word not in heard]
    return heard.union(new[:room]) if room > 0 else heard


class WindowEvents:
    """Point events found while replaying the tail, for the rolling windows."""

    __slots__ = ("agent_turns", "customer_turns", "gaps", "interruptions", "overtalk", "silences", "switches")

    def __init__(self) -> None:
        self.agent_turns: list[list[int | bool]] = []
        self.customer_turns: list[int] = []
        self.gaps: list[tuple[int, int]] = []
        self.interruptions: list[int] = []
        self.switches: list[int] = []
        # (start, end) of silences and of overtalk, each list in time order, disjoint
        self.silences: list[tuple[int, int]] = []
        self.overtalk: list[tuple[int, int]] = []

    def prune(self, before: int) -> None:
        """Forget events older than every window (all lists are in time order). Sealing
        prunes often, mostly with nothing old enough: a list is cut only when its first
        event is."""
        if self.customer_turns and self.customer_turns[0] < before:
            del self.customer_turns[: bisect.bisect_left(self.customer_turns, before)]
        if self.interruptions and self.interruptions[0] < before:
            del self.interruptions[: bisect.bisect_left(self.interruptions, before)]
        if self.gaps and self.gaps[0][0] < before:
            del self.gaps[: bisect.bisect_left(self.gaps, (before, -1))]
        if self.switches and self.switches[0] < before:
            del self.switches[: bisect.bisect_left(self.switches, before)]
        _prune_spans(self.silences, before)
        _prune_spans(self.overtalk, before)
        keep = 0
        while keep < len(self.agent_turns) and self.agent_turns[keep][0] < before:
            keep += 1
        if keep:
            del self.agent_turns[:keep]


def _prune_spans(spans: list[tuple[int, int]], before: int) -> None:
    """Drop the spans that end before ``before`` (a list of disjoint spans in time order)."""
    keep = 0
    while keep < len(spans) and spans[keep][1] < before:
        keep += 1
    if keep:
        del spans[:keep]


def _ended_since(spans: list[tuple[int, int]], lo: int) -> tuple[int, int]:
    """How many of the spans (disjoint, in time order) end after ``lo``, and the longest."""
    count = longest = 0
    for index in range(len(spans) - 1, -1, -1):
        start, end = spans[index]
        if end <= lo:
            break
        count += 1
        if end - start > longest:
            longest = end - start
    return count, longest


def _overlap(spans: list[tuple[int, int]], lo: int, hi: int) -> int:
    """Time of ``spans`` (disjoint, in time order) inside [lo, hi)."""
    total = 0
    for index in range(len(spans) - 1, -1, -1):
        start, end = spans[index]
        if end <= lo:
            break
        inside = min(end, hi) - max(start, lo)
        if inside > 0:
            total += inside
    return total


class WindowMetrics(Value):
    # what a CallMetrics snapshot (schemas/) carries of a window; the counts after them
    # are the nudges' evidence
    SNAPSHOT_FIELDS: ClassVar[tuple[str, ...]] = ("window", *(m.name for m in WINDOW_METRICS))
    # the __init__ arguments, in order: the metrics the engine had first, the counts, then
    # the later metrics (with defaults, so that values built by hand can leave them out)
    FIELDS: ClassVar[tuple[str, ...]] = (
        *SNAPSHOT_FIELDS[:10],
        "agent_speech_seconds",
        "customer_speech_seconds",
        "questions",
        "open_questions",
        "reference_words",
        "customer_turns",
        *SNAPSHOT_FIELDS[10:],
    )

    def __init__(
        self,
        window: str,
        agent_talk_ratio: float | None,
        questions_per_minute: float | None,
        open_question_ratio: float | None,
        you_focus_ratio: float | None,
        pitch_ratio: float | None,
        reflection_ratio: float | None,
        interruptions: int,
        response_gap_seconds: float | None,
        customer_sentiment: float | None,
        agent_speech_seconds: float,
        customer_speech_seconds: float,
        questions: float,
        open_questions: float,
        reference_words: float,
        customer_turns: int,
        dead_air_silences: int = 0,
        dead_air_longest_seconds: float = 0.0,
        dead_air_ratio: float | None = None,
        overtalk_ratio: float | None = None,
        agent_words_per_minute: float | None = None,
        speaker_switches_per_minute: float | None = None,
    ) -> None:
        self.window: Final = window
        self.agent_talk_ratio: Final = agent_talk_ratio
        self.questions_per_minute: Final = questions_per_minute
        self.open_question_ratio: Final = open_question_ratio
        self.you_focus_ratio: Final = you_focus_ratio
        self.pitch_ratio: Final = pitch_ratio
        self.reflection_ratio: Final = reflection_ratio
        self.interruptions: Final = interruptions
        self.response_gap_seconds: Final = response_gap_seconds
        self.customer_sentiment: Final = customer_sentiment
        self.dead_air_silences: Final = dead_air_silences
        self.dead_air_longest_seconds: Final = dead_air_longest_seconds
        self.dead_air_ratio: Final = dead_air_ratio
        self.overtalk_ratio: Final = overtalk_ratio
        self.agent_words_per_minute: Final = agent_words_per_minute
        self.speaker_switches_per_minute: Final = speaker_switches_per_minute
        # the counts behind the ratios (nudge evidence and minimum-count rules)
        self.agent_speech_seconds: Final = agent_speech_seconds
        self.customer_speech_seconds: Final = customer_speech_seconds
        self.questions: Final = questions
        self.open_questions: Final = open_questions
        self.reference_words: Final = reference_words
        self.customer_turns: Final = customer_turns


class ScorePart(Value):
    """One component of the customer-focus score: the measured ``value``, its ``grade``
    (0 to 1, from the component's best and worst values) and the configured ``weight``."""

    FIELDS: ClassVar[tuple[str, ...]] = ("name", "value", "grade", "weight")

    def __init__(self, name: str, value: float, grade: float, weight: float) -> None:
        self.name: Final = name
        self.value: Final = value
        self.grade: Final = grade
        self.weight: Final = weight

    def to_dict(self) -> dict[str, Any]:
        """Also the ``ScoreComponent`` record of schemas/CallMetrics.avsc. Spelt out rather
        than the generic loop over FIELDS: every snapshot needs six, 1.2 µs less per snapshot."""
        return {"name": self.name, "value": self.value, "grade": self.grade, "weight": self.weight}


class CallMetrics(Value):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "call_id",
        "media_time_ms",
        "windows",
        "monologue_current_seconds",
        "monologue_longest_seconds",
        "customer_story_longest_seconds",
        "customer_focus_score",
        "score_components",
        "holds",
        "hold_seconds",
        "probable_holds",
        "objections",
        "objection_question_ratio",
        "objection_pitch_ratio",
        "objection_wait_seconds",
        "hold_end_ms",
        "tracker_hits",
        "definitions",
        "language",
        "lexicon_language",
        "language_supported",
        "roles_swapped_suspected",
        "roles_exchanged",
    )

    def __init__(
        self,
        call_id: str,
        media_time_ms: int,
        windows: tuple[WindowMetrics, ...],
        monologue_current_seconds: float,
        monologue_longest_seconds: float,
        customer_story_longest_seconds: float,
        customer_focus_score: float | None,
        score_components: tuple[ScorePart, ...],
        holds: int = 0,
        hold_seconds: float = 0.0,
        probable_holds: int = 0,
        objections: int = 0,
        objection_question_ratio: float | None = None,
        objection_pitch_ratio: float | None = None,
        objection_wait_seconds: float | None = None,
        hold_end_ms: int = -1,
        tracker_hits: tuple[tuple[str, int], ...] = (),
        definitions: str = "",
        language: str = "",
        lexicon_language: str = "",
        language_supported: bool = True,
        roles_swapped_suspected: bool = False,
        roles_exchanged: bool = False,
    ) -> None:
        self.call_id: Final = call_id
        self.media_time_ms: Final = media_time_ms
        self.windows: Final = windows
        self.monologue_current_seconds: Final = monologue_current_seconds
        self.monologue_longest_seconds: Final = monologue_longest_seconds
        self.customer_story_longest_seconds: Final = customer_story_longest_seconds
        self.customer_focus_score: Final = customer_focus_score
        self.score_components: Final = score_components
        self.holds: Final = holds
        self.hold_seconds: Final = hold_seconds
        self.probable_holds: Final = probable_holds
        self.objections: Final = objections
        self.objection_question_ratio: Final = objection_question_ratio
        self.objection_pitch_ratio: Final = objection_pitch_ratio
        self.objection_wait_seconds: Final = objection_wait_seconds
        # when the call's latest hold ended (the call's now while one is open); -1: never on
        # hold. Not a metric: the dead-air nudge does not fire for a silence that is a hold.
        self.hold_end_ms: Final = hold_end_ms
        # (tracker name, hits) of the trackers with hits, in the trackers' order
        self.tracker_hits: Final = tracker_hits
        # the definitions that computed these values (engine version, lexicon/tracker/rule digest)
        self.definitions: Final = definitions
        # the call's CallStarted.language, and the lexicon that scored it: "" and not
        # supported when no lexicon has the language (its lexical metrics are then null)
        self.language: Final = language
        self.lexicon_language: Final = lexicon_language
        self.language_supported: Final = language_supported
        # the speaker-role check: the call's lines sound as if AGENT and CUSTOMER were
        # swapped; and (role_check "swap") its later segments are scored with them exchanged
        self.roles_swapped_suspected: Final = roles_swapped_suspected
        self.roles_exchanged: Final = roles_exchanged

    def window(self, label: str) -> WindowMetrics:
        for window in self.windows:
            if window.window == label:
                return window
        raise KeyError(label)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["windows"] = [w.to_dict() for w in self.windows]
        data["score_components"] = [part.to_dict() for part in self.score_components]
        return data


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


# Full contribution of one utterance to a window's sums, all integers so that adding and
# removing in any order gives exactly the same totals.
_AGENT_MS, _CUSTOMER_MS, _QUESTIONS, _OPEN, _REFS_C, _REFS_S, _PITCH, _SITUATION, _SENT, _WORDS = range(10)
_AGENT_WORDS = 10
_FIELDS = 11


def _contribution(u: Utterance) -> tuple[int, ...]:
    duration = u.end - u.start
    if u.speaker == AGENT:
        return (
            duration,
            0,
            u.questions,
            u.open_questions,
            u.customer_refs,
            u.self_refs,
            int(u.stance > 0),
            int(u.stance < 0),
            0,
            0,
            u.words,
        )
    if u.speaker == CUSTOMER:
        return (0, duration, 0, 0, 0, 0, 0, 0, u.sentiment * u.words, u.words, 0)
    return (0,) * _FIELDS


class _Window:
    """Sums over the tail segments that start inside one rolling window.

    ``first`` is the index of the first tail segment starting at or after the window's
    start; segments before it that still overlap the window are clipped at read time.
    The sums are native int attributes, not a list: a list's items are boxed, and each
    update of a sum made a new int object, up to three windows times four sums a segment.
    """

    __slots__ = (
        "agent_ms",
        "agent_words",
        "customer_ms",
        "customer_words",
        "first",
        "label",
        "open_questions",
        "pitch",
        "questions",
        "refs_customer",
        "refs_self",
        "sentiment",
        "situation",
        "width",
    )

    def __init__(self, label: str, width: int) -> None:
        self.label = label
        self.width = width
        self.first = 0
        self.agent_ms = self.customer_ms = self.questions = self.open_questions = 0
        self.refs_customer = self.refs_self = self.pitch = self.situation = 0
        self.sentiment = self.customer_words = self.agent_words = 0

    def add(self, u: Utterance, sign: int) -> None:
        # the same sums as _contribution(), unrolled: this runs up to three times per segment
        if u.speaker == AGENT:
            self.agent_ms += sign * (u.end - u.start)
            self.agent_words += sign * u.words
            if u.questions:
                self.questions += sign * u.questions
                self.open_questions += sign * u.open_questions
            if u.customer_refs:
                self.refs_customer += sign * u.customer_refs
            if u.self_refs:
                self.refs_self += sign * u.self_refs
            if u.stance > 0:
                self.pitch += sign
            elif u.stance < 0:
                self.situation += sign
        elif u.speaker == CUSTOMER:
            self.customer_ms += sign * (u.end - u.start)
            self.sentiment += sign * u.sentiment * u.words
            self.customer_words += sign * u.words

    def sums(self) -> list[float]:
        """The sums in the order of :func:`_contribution`."""
        return [
            self.agent_ms,
            self.customer_ms,
            self.questions,
            self.open_questions,
            self.refs_customer,
            self.refs_self,
            self.pitch,
            self.situation,
            self.sentiment,
            self.customer_words,
            self.agent_words,
        ]


class CallState:
    """Everything callfocus knows about one call; updated one event at a time."""

    __slots__ = (
        "_by_id",
        "_cached",
        "_events",
        "_hold_ids",
        "_holds",
        "_live",
        "_longest_segment",
        "_meta_json",
        "_roles_exchanged",
        "_sealed",
        "_sealed_json",
        "_tail",
        "_watermark",
        "_windows",
        "analyzer",
        "call_id",
        "config",
        "customer_orgs",
        "ended",
        "lexicon_language",
        "meta",
        "now_ms",
        "segments_applied",
        "segments_final",
        "seller_orgs",
        "trackers_digest",
    )

    def __init__(self, call_id: str, config: EngineConfig = DEFAULT_CONFIG) -> None:
        self.call_id = call_id
        self.config = config
        self.analyzer = analyzer_for(
            config.language,
            str(config.lexicon_file) if config.lexicon_file else None,
            str(config.lexicon_dir) if config.lexicon_dir else None,
        )
        self.meta: CallStarted | None = None
        self.ended: CallEnded | None = None
        # the language of the lexicon scoring the call; None: the call's language has none
        self.lexicon_language: str | None = config.language.lower()
        self.customer_orgs: PhraseCounter | None = None
        self.seller_orgs: PhraseCounter | None = None
        self.now_ms = 0
        self.segments_applied = 0
        self.segments_final = 0  # distinct segments (a revision replaces, it does not add)
        # the digest of the trackers in force at the latest segment (the definitions version)
        self.trackers_digest = NO_TRACKERS.digest
        self._tail: list[Utterance] = []
        self._by_id: dict[str, Utterance] = {}
        self._sealed = Fold()
        self._watermark: tuple[int, int, int, str] | None = None
        # the fold over sealed + tail, kept while segments arrive in order
        self._live: Fold | None = Fold()
        self._events: WindowEvents = WindowEvents()
        self._windows = [
            _Window(label, w) for label, w in zip(config.window_labels, config.windows_ms, strict=False)
        ]
        self._longest_segment = 0
        self._cached: CallMetrics | None = None
        # the state's parts that change seldom, as JSON made once per change (json_data)
        self._meta_json: orjson.Fragment | None = None
        self._sealed_json: orjson.Fragment | None = None
        # the call's holds (hold_started): [start_ms, end_ms] rows, -1 for a time not yet
        # seen, sorted; _hold_ids[i] is the hold_id of row i
        self._holds: list[list[int]] = []
        self._hold_ids: list[str] = []
        # role_check "swap": the call was flagged, and its segments since are applied with
        # AGENT and CUSTOMER exchanged (kept: the segments already exchanged stay so)
        self._roles_exchanged = False

    # -- events -------------------------------------------------------------------------
    def start(self, event: CallStarted) -> None:
        event = _bounded_start(event)
        self.meta = event
        self._meta_json = None
        self.customer_orgs = org_names(event.customer_org)
        self.seller_orgs = org_names(event.seller_org)
        config = self.config
        lexicon_dir = str(config.lexicon_dir) if config.lexicon_dir else None
        # a language without a lexicon (or not a language tag, in a state written before
        # tags were checked) is not scored with another language's: lexical metrics null
        found = lexicon_language(event.language, config.lexicon_dir)
        configured = config.language.lower()
        self.analyzer = analyzer_for(
            config.language, str(config.lexicon_file) if config.lexicon_file else None, lexicon_dir
        )
        if found is not None and found != configured:
            try:
                self.analyzer = analyzer_for(found, None, lexicon_dir)
            except ValueError:  # a lexicon file that does not load
                found = None
        self.lexicon_language = found
        self._cached = None

    def end(self, event: CallEnded) -> None:
        if event.reason is not None and len(event.reason) > MAX_END_REASON_CHARS:
            event = CallEnded(event.call_id, event.ended_at, event.reason[:MAX_END_REASON_CHARS])
        if self.ended is None:
            self.ended = event
            self._cached = None

    def check(self, segment: TranscriptSegment) -> None:
        """Raise InvalidEventError if this call cannot accept ``segment``; changes nothing."""
        if segment.call_id != self.call_id:
            raise self._invalid(segment, InvalidReason.WRONG_CALL, f"belongs to call {segment.call_id!r}")
        if self.ended is not None:
            raise self._invalid(segment, InvalidReason.CALL_ENDED, "arrived after the call ended")
        if self.segments_applied and segment.start_ms > self.now_ms + self.config.future_tolerance_ms:
            raise self._invalid(
                segment,
                InvalidReason.START_IN_FUTURE,
                f"starts at {segment.start_ms} ms, more than "
                f"{self.config.future_tolerance_ms // 1000} s after the call's media time {self.now_ms} ms",
            )
        watermark = self._watermark
        if watermark is not None and segment.is_final:
            speaker = self._speaker_code(segment)
            if (
                not _sorts_after(segment.start_ms, segment.end_ms, speaker, segment.segment_id, watermark)
                or segment.end_ms < self.now_ms - self.config.horizon_ms
            ):
                raise self._invalid(
                    segment,
                    InvalidReason.TOO_LATE,
                    f"({segment.start_ms}-{segment.end_ms} ms) sorts before the segments folded into "
                    f"the call's totals: more than {self.config.late_tolerance_ms // 1000} s of media "
                    f"time behind the largest window, or behind the last {MAX_TAIL_SEGMENTS} segments",
                )

    def _invalid(self, segment: TranscriptSegment, reason: InvalidReason, detail: str) -> InvalidEventError:
        # formatted only for an error, not for every segment checked
        return InvalidEventError(reason, f"segment {segment.segment_id!r} of call {self.call_id!r} {detail}")

    def apply(self, segment: TranscriptSegment, trackers: TrackerSet = NO_TRACKERS) -> SegmentOutcome:
        """Apply one segment; ``trackers`` are the trackers in force (their hits are kept
        with the segment, so a later change of the trackers does not recount it)."""
        self.check(segment)
        if not segment.is_final:
            return SegmentOutcome.INTERIM
        known = self._by_id.get(segment.segment_id)
        if known is not None:
            if segment.revision == known.revision:
                return SegmentOutcome.DUPLICATE
            if segment.revision < known.revision:
                return SegmentOutcome.STALE_REVISION
            self._remove(known)
        utterance = Utterance.of(segment, self._speaker_code(segment), self.analyzer, self, trackers)
        self.trackers_digest = trackers.digest
        self._insert(utterance)
        self.segments_applied += 1
        self.segments_final += known is None
        duration = utterance.end - utterance.start
        if duration > self._longest_segment:
            self._longest_segment = duration
        now = max(self.now_ms, utterance.end) if known is None else max(u.end for u in self._tail)
        if now != self.now_ms:
            self.now_ms = now
            self._move_windows()
            self._seal()
        if len(self._tail) > MAX_TAIL_SEGMENTS:
            self._seal_oldest(len(self._tail) - MAX_TAIL_SEGMENTS)
        self._cached = None
        swap = self.config.role_check == "swap"
        if utterance.role and swap and not self._roles_exchanged and self._roles_suspected():
            self._exchange_roles()
        return SegmentOutcome.APPLIED

    def _exchange_roles(self) -> None:
        """From now on apply segments with AGENT and CUSTOMER exchanged, and exchange the
        segments already kept, if none was folded yet (the flag comes in the opening, well
        inside the horizon): their times count for the other party, exactly; of their word
        facts, only those both roles have (words, backchannel, content words, role lines)
        carry over, since the engine keeps no text to read them again in the other role."""
        self._roles_exchanged = True
        if self._watermark is not None:
            return  # some are folded into the totals: those already counted stay as counted
        for u in self._tail:
            if u.speaker == OTHER:
                continue
            u.speaker = CUSTOMER if u.speaker == AGENT else AGENT
            u.questions = u.open_questions = u.customer_refs = u.self_refs = u.stance = 0
            u.sentiment = u.objections = 0
            u.row_json = None
        self._tail.sort(key=_sort_key)
        self._windows = [
            _Window(label, w)
            for label, w in zip(self.config.window_labels, self.config.windows_ms, strict=False)
        ]
        for window in self._windows:
            lo = self.now_ms - window.width
            window.first = bisect.bisect_left([u.start for u in self._tail], lo)
            for u in self._tail[window.first :]:
                window.add(u, 1)
        self._live = None
        self._cached = None

    def _speaker_code(self, segment: TranscriptSegment) -> int:
        code = _SPEAKER_CODE[segment.speaker]
        if self._roles_exchanged and code != OTHER:
            return CUSTOMER if code == AGENT else AGENT
        return code

    def _roles_suspected(self) -> bool:
        return self._live_fold().role_swap >= self.config.role_swap_evidence

    def _insert(self, u: Utterance) -> None:
        tail = self._tail
        # most segments come in order: the search only for those that do not
        in_order = not tail or _sorts_after(u.start, u.end, u.speaker, u.segment_id, _sort_key(tail[-1]))
        index = len(tail) if in_order else bisect.bisect_right(tail, _sort_key(u), key=_sort_key)
        in_order = index == len(tail)
        tail.insert(index, u)
        self._by_id[u.segment_id] = u
        for window in self._windows:
            if u.start < self.now_ms - window.width:  # sorts before every in-window segment
                window.first += 1
            else:
                window.add(u, 1)
        if in_order and self._live is not None:
            self._live.feed(u, self.config, self._events)
        else:
            self._live = None  # arrived out of order: replay the tail on the next read

    def _remove(self, u: Utterance) -> None:
        tail = self._tail
        index = bisect.bisect_left(tail, _sort_key(u), key=_sort_key)
        del tail[index]
        del self._by_id[u.segment_id]
        for window in self._windows:
            if index < window.first:
                window.first -= 1
            else:
                window.add(u, -1)
        self._live = None

    def _move_windows(self) -> None:
        tail = self._tail
        for window in self._windows:
            lo = self.now_ms - window.width
            while window.first < len(tail) and tail[window.first].start < lo:
                window.add(tail[window.first], -1)
                window.first += 1
            while window.first > 0 and tail[window.first - 1].start >= lo:
                window.first -= 1
                window.add(tail[window.first], 1)

    def _seal(self) -> None:
        limit = self.now_ms - self.config.horizon_ms
        tail = self._tail
        sealed = 0
        while sealed < len(tail) and tail[sealed].end < limit:
            utterance = tail[sealed]
            self._sealed.feed(utterance, self.config)
            del self._by_id[utterance.segment_id]
            sealed += 1
        if sealed:
            self._watermark = _sort_key(tail[sealed - 1])
            self._sealed_json = None
            del tail[:sealed]
            for window in self._windows:
                window.first -= sealed
            self._events.prune(self.now_ms - self.config.largest_window_ms)

    def _seal_oldest(self, count: int) -> None:
        """Fold the ``count`` oldest segments of a tail longer than MAX_TAIL_SEGMENTS before
        their time (the state stays small whatever the segments' times): the totals stay
        exact; the rolling windows, which count the tail's segments only, lose them; and a
        segment that sorts before them is too_late, as for any folded segment."""
        tail = self._tail
        for index in range(count):
            utterance = tail[index]
            self._sealed.feed(utterance, self.config)
            del self._by_id[utterance.segment_id]
            for window in self._windows:
                if index >= window.first:
                    window.add(utterance, -1)
        self._watermark = _sort_key(tail[count - 1])
        del tail[:count]
        for window in self._windows:
            window.first = max(0, window.first - count)
        self._sealed_json = None
        self._live = None  # the window events are rebuilt from the tail at the next read

    # Holds: a call keeps at most this many (a state must fit a changelog record); one
    # more is refused (too_many_holds)
    MAX_HOLDS: ClassVar[int] = 200

    def hold_started(self, event: HoldStarted) -> bool:
        """Note a hold's start; returns whether the state changed. A repeat of a hold_id's
        start changes nothing (the first start stands); a start after its own end is
        refused (end_before_start)."""
        row = self._hold_row(event.call_id, event.hold_id)
        if row is None:
            return self._add_hold(event.hold_id, event.at_ms, -1)
        if row[0] != -1:
            return False
        if event.at_ms > row[1]:
            raise self._invalid_hold(
                event.hold_id, f"starts at {event.at_ms} ms, after its end at {row[1]} ms"
            )
        row[0] = event.at_ms
        self._sort_holds()
        return True

    def hold_ended(self, event: HoldEnded) -> bool:
        """Note a hold's end; returns whether the state changed. A repeat changes nothing
        (the first end stands). An end whose start has not come is kept, unused by
        :meth:`holds`, until its start completes it: any order of a hold's two events
        gives the same state."""
        row = self._hold_row(event.call_id, event.hold_id)
        if row is None:
            return self._add_hold(event.hold_id, -1, event.at_ms)
        if row[1] != -1:
            return False
        if event.at_ms < row[0]:
            raise self._invalid_hold(
                event.hold_id, f"ends at {event.at_ms} ms, before its start at {row[0]} ms"
            )
        row[1] = event.at_ms
        self._sort_holds()
        return True

    def holds(self) -> list[tuple[int, int | None]]:
        """The call's holds as (start_ms, end_ms), end None while the customer is still on
        hold, sorted and disjoint: overlapping holds (one hold reported by two producers
        under two ids) are merged, so none is counted twice. A hold whose start never came
        is left out."""
        merged: list[tuple[int, int | None]] = []
        for row in self._holds:
            start, end = row[0], row[1]
            if start < 0:
                continue
            if merged:
                last_start, last_end = merged[-1]
                if last_end is None:
                    break  # an open hold covers every later one
                if start <= last_end:
                    merged[-1] = (last_start, None if end < 0 else max(last_end, end))
                    continue
            merged.append((start, None if end < 0 else end))
        return merged

    def _hold_row(self, call_id: str, hold_id: str) -> list[int] | None:
        if call_id != self.call_id:
            raise self._invalid_hold(hold_id, f"belongs to call {call_id!r}", InvalidReason.WRONG_CALL)
        if self.ended is not None:
            raise self._invalid_hold(hold_id, "arrived after the call ended", InvalidReason.CALL_ENDED)
        for index, known in enumerate(self._hold_ids):
            if known == hold_id:
                return self._holds[index]
        return None

    def _add_hold(self, hold_id: str, start: int, end: int) -> bool:
        if len(self._holds) >= self.MAX_HOLDS:
            raise self._invalid_hold(
                hold_id, f"is one more than the {self.MAX_HOLDS} a call keeps", InvalidReason.TOO_MANY_HOLDS
            )
        self._holds.append([start, end])
        self._hold_ids.append(hold_id)
        self._sort_holds()
        return True

    def _sort_holds(self) -> None:
        # by start, end and id: the same holds in any arrival order give the same state
        holds, ids = self._holds, self._hold_ids
        order = sorted(range(len(holds)), key=lambda i: (holds[i][0], holds[i][1], ids[i]))
        self._holds = [holds[i] for i in order]
        self._hold_ids = [ids[i] for i in order]
        self._cached = None

    def _invalid_hold(
        self, hold_id: str, detail: str, reason: InvalidReason = InvalidReason.END_BEFORE_START
    ) -> InvalidEventError:
        return InvalidEventError(reason, f"hold {hold_id!r} of call {self.call_id!r} {detail}")

    # -- persistence --------------------------------------------------------------------
    SCHEMA_VERSION: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able) from which :meth:`from_dict` rebuilds an identical state."""
        return self._data([_utterance_row(u) for u in self._tail])

    def to_json(self) -> bytes:
        """:meth:`to_dict` as JSON."""
        return orjson.dumps(self.json_data())

    def json_data(self) -> dict[str, Any]:
        """What :meth:`to_json` writes, with the parts already made as JSON fragments: each
        tail row made once in the utterance's life, the call's metadata once and the sealed
        totals once per change. Nothing in it changes with the state afterwards, so the
        worker takes it from every changed call while it holds its input (a few µs a call)
        and writes the JSON later."""
        if self._meta_json is None and self.meta is not None:
            self._meta_json = _json_fragment(_meta_row(self.meta))
        if self._sealed_json is None:
            self._sealed_json = _json_fragment(self._sealed.to_row())
        return self._data([_row_json(u) for u in self._tail], self._meta_json, self._sealed_json)

    def make_new_rows(self) -> None:
        """Make the JSON rows of the utterances added at the end of the tail since the last
        call, which :meth:`json_data` then only collects: the worker calls this after each
        batch, so that a commit, which holds its input, does not make them (a row of 14
        fields: about 2 µs; one late segment's row waits for the commit)."""
        for u in reversed(self._tail):
            if u.row_json is not None:
                break
            _row_json(u)

    def _data(self, tail: list[Any], meta: Any = None, sealed: Any = None) -> dict[str, Any]:
        ended = self.ended
        if meta is None and self.meta is not None:
            meta = _meta_row(self.meta)
        data: dict[str, Any] = {
            "v": self.SCHEMA_VERSION,
            "call_id": self.call_id,
            "meta": meta,
            "ended": {name: getattr(ended, name) for name in _ENDED_FIELDS} if ended is not None else None,
            "now_ms": self.now_ms,
            "segments_applied": self.segments_applied,
            "segments_final": self.segments_final,
            "trackers_digest": self.trackers_digest,
            "longest_segment": self._longest_segment,
            "watermark": list(self._watermark) if self._watermark is not None else None,
            "tail": tail,
            "sealed": sealed if sealed is not None else self._sealed.to_row(),
        }
        if self._roles_exchanged:  # absent: not exchanged
            data["roles_exchanged"] = True
        if self._holds:  # absent: no holds (as in every state written before holds existed)
            data["holds"] = [
                [row[0], row[1], hold_id] for row, hold_id in zip(self._holds, self._hold_ids, strict=True)
            ]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: EngineConfig = DEFAULT_CONFIG) -> CallState:
        if data.get("v") != cls.SCHEMA_VERSION:
            raise ValueError(f"call state version {data.get('v')!r} is not {cls.SCHEMA_VERSION}")
        state = cls(data["call_id"], config)
        if data["meta"] is not None:
            state.start(CallStarted(**data["meta"]))
        if data["ended"] is not None:
            state.ended = CallEnded(**data["ended"])
        state.now_ms = data["now_ms"]
        state.segments_applied = data["segments_applied"]
        state.segments_final = data["segments_final"]
        state.trackers_digest = data.get("trackers_digest", NO_TRACKERS.digest)
        state._longest_segment = data["longest_segment"]
        watermark = data["watermark"]
        state._watermark = tuple(watermark) if watermark is not None else None
        state._tail = [_utterance_from_row(row) for row in data["tail"]]
        state._by_id = {u.segment_id: u for u in state._tail}
        state._sealed = Fold.from_row(data["sealed"])
        state._live = None
        state._roles_exchanged = bool(data.get("roles_exchanged", False))
        for start, end, hold_id in data.get("holds", ()):  # written sorted
            state._holds.append([start, end])
            state._hold_ids.append(hold_id)
        for window in state._windows:
            lo = state.now_ms - window.width
            window.first = bisect.bisect_left([u.start for u in state._tail], lo)
            for u in state._tail[window.first :]:
                window.add(u, 1)
        return state

    # -- metrics ------------------------------------------------------------------------
    def metrics(self) -> CallMetrics:
        if self._cached is None:
            self._cached = self._compute()
        return self._cached

    def agent_talk_ratio(self, window_ms: int | None) -> float | None:
        label = "call" if window_ms is None else f"{window_ms // 1000}s"
        return self.metrics().window(label).agent_talk_ratio

    def _live_fold(self) -> Fold:
        if self._live is None:
            fold = self._sealed.copy()
            events = WindowEvents()
            for u in self._tail:
                fold.feed(u, self.config, events)
            self._live, self._events = fold, events
        return self._live

    def _compute(self) -> CallMetrics:
        fold = self._live_fold()
        windows = [self._window(window, self._events) for window in self._windows]
        windows.append(self._call_window(fold))
        monologue_current = (
            (fold.agent_run_end - fold.agent_run_start) / 1000 if fold.last_turn == AGENT else 0.0
        )
        lexical = self.lexicon_language is not None
        if not lexical:
            windows = [_without_lexicon(window) for window in windows]
        score, components = self._score(windows[-1], fold)
        holds = self.holds() if self._holds else []
        hold_ms, hold_end, probable = self._hold_totals(holds, fold)
        asked, pitched = fold.objection_totals()
        replies = fold.objection_replies
        return CallMetrics(
            call_id=self.call_id,
            media_time_ms=self.now_ms,
            windows=tuple(windows),
            monologue_current_seconds=monologue_current,
            monologue_longest_seconds=fold.longest_agent_run / 1000,
            customer_story_longest_seconds=fold.longest_customer_run / 1000,
            customer_focus_score=score,
            score_components=components,
            holds=len(holds),
            hold_seconds=hold_ms / 1000,
            probable_holds=probable,
            objections=fold.objections,
            objection_question_ratio=_ratio(asked, replies),
            objection_pitch_ratio=_ratio(pitched, replies),
            objection_wait_seconds=fold.objection_wait_ms / replies / 1000 if replies else None,
            hold_end_ms=hold_end if holds else -1,
            tracker_hits=tuple(sorted(fold.tracker_hits.items())) if fold.tracker_hits else (),
            definitions=self._definitions(),
            language=self.meta.language if self.meta is not None else self.config.language,
            lexicon_language=self.lexicon_language or "",
            language_supported=lexical,
            roles_swapped_suspected=self._roles_exchanged
            or (self.config.role_check != "off" and fold.role_swap >= self.config.role_swap_evidence),
            roles_exchanged=self._roles_exchanged,
        )

    def _definitions(self) -> str:
        definitions = self.config.definitions
        return f"{definitions}.trackers-{self.trackers_digest}" if definitions else ""

    def _hold_totals(self, holds: list[tuple[int, int | None]], fold: Fold) -> tuple[int, int, int]:
        """Time on hold up to now, when the latest hold ended (now while one is open), and the
        long silences that no hold covers (probable holds)."""
        if not holds:
            return 0, 0, len(fold.long_silences) + fold.long_silences_unchecked
        now = self.now_ms
        hold_ms = hold_end = 0
        for start, end in holds:
            until = now if end is None else min(end, now)
            hold_ms += max(0, until - start)
            hold_end = max(hold_end, until)
        probable = fold.long_silences_unchecked
        for start, end in fold.long_silences:
            covered = False
            for h_start, h_end in holds:
                if h_start < end and (h_end is None or h_end > start):
                    covered = True
                    break
            probable += not covered
        return hold_ms, hold_end, probable

    def _window(self, window: _Window, events: WindowEvents) -> WindowMetrics:
        lo = self.now_ms - window.width
        sums = window.sums()
        # segments that started before the window but reach into it count for the part inside
        index = window.first - 1
        earliest = lo - self._longest_segment
        tail = self._tail
        while index >= 0 and tail[index].start >= earliest:
            u = tail[index]
            index -= 1
            if u.end <= lo:
                continue
            share = (u.end - lo) / (u.end - u.start)
            for i, value in enumerate(_contribution(u)):
                if value:
                    sums[i] += value * share
        agent_ms, customer_ms = sums[_AGENT_MS], sums[_CUSTOMER_MS]
        questions, open_q = sums[_QUESTIONS], sums[_OPEN]
        refs = sums[_REFS_C] + sums[_REFS_S]
        minutes = min(window.width, self.now_ms) / 60_000
        responsive = reflected = 0
        for turn in reversed(events.agent_turns):
            if turn[0] < lo:
                break
            if turn[1]:
                responsive += 1
                reflected += bool(turn[2])
        gaps = sorted(bucket for t, bucket in _since(events.gaps, lo))
        now = self.now_ms
        span = min(window.width, now)
        silences = events.silences
        silences_ended, longest_silence = _ended_since(silences, lo) if silences else (0, 0)
        return WindowMetrics(
            window=window.label,
            agent_talk_ratio=_ratio(agent_ms, agent_ms + customer_ms),
            questions_per_minute=questions / minutes if minutes > 0 else None,
            open_question_ratio=_ratio(open_q, questions),
            you_focus_ratio=_ratio(sums[_REFS_C], refs),
            pitch_ratio=_ratio(sums[_PITCH], sums[_PITCH] + sums[_SITUATION]),
            reflection_ratio=_ratio(reflected, responsive),
            interruptions=_count_since(events.interruptions, lo),
            response_gap_seconds=self._gap_seconds(_median(gaps)) if gaps else None,
            customer_sentiment=_ratio(sums[_SENT], sums[_WORDS] * SENTIMENT_SCALE),
            dead_air_silences=silences_ended,
            dead_air_longest_seconds=longest_silence / 1000,
            dead_air_ratio=_ratio(_overlap(silences, lo, now) if silences else 0, span),
            overtalk_ratio=_ratio(_overlap(events.overtalk, lo, now) if events.overtalk else 0, span),
            agent_words_per_minute=self._words_per_minute(sums[_AGENT_WORDS], agent_ms),
            speaker_switches_per_minute=_count_since(events.switches, lo) / minutes if minutes > 0 else None,
            agent_speech_seconds=agent_ms / 1000,
            customer_speech_seconds=customer_ms / 1000,
            questions=float(questions),
            open_questions=float(open_q),
            reference_words=float(refs),
            customer_turns=_count_since(events.customer_turns, lo),
        )

    def _call_window(self, fold: Fold) -> WindowMetrics:
        minutes = self.now_ms / 60_000
        responsive, reflected = fold.turn_totals()
        return WindowMetrics(
            window="call",
            agent_talk_ratio=_ratio(fold.agent_ms, fold.agent_ms + fold.customer_ms),
            questions_per_minute=fold.questions / minutes if minutes > 0 else None,
            open_question_ratio=_ratio(fold.open_questions, fold.questions),
            you_focus_ratio=_ratio(fold.refs_customer, fold.refs_customer + fold.refs_self),
            pitch_ratio=_ratio(fold.pitch, fold.pitch + fold.situation),
            reflection_ratio=_ratio(reflected, responsive),
            interruptions=fold.interruptions,
            response_gap_seconds=self._gap_seconds(_median_of_counts(fold.gap_counts))
            if fold.gap_counts
            else None,
            customer_sentiment=_ratio(fold.sentiment_sum, fold.sentiment_words * SENTIMENT_SCALE),
            dead_air_silences=fold.dead_air_count,
            dead_air_longest_seconds=fold.dead_air_longest / 1000,
            dead_air_ratio=_ratio(fold.dead_air_ms, self.now_ms),
            overtalk_ratio=_ratio(fold.overtalk_ms, self.now_ms),
            agent_words_per_minute=self._words_per_minute(fold.agent_words, fold.agent_ms),
            speaker_switches_per_minute=fold.switches / minutes if minutes > 0 else None,
            agent_speech_seconds=fold.agent_ms / 1000,
            customer_speech_seconds=fold.customer_ms / 1000,
            questions=float(fold.questions),
            open_questions=float(fold.open_questions),
            reference_words=float(fold.refs_customer + fold.refs_self),
            customer_turns=fold.customer_turns,
        )

    def _words_per_minute(self, words: float, agent_ms: float) -> float | None:
        if agent_ms < self.config.speech_rate_min_agent_ms or agent_ms <= 0:
            return None
        return words * 60_000 / agent_ms

    def _gap_seconds(self, median_bucket: float) -> float:
        return median_bucket * self.config.response_gap_resolution_ms / 1000

    def _score(self, call: WindowMetrics, fold: Fold) -> tuple[float | None, tuple[ScorePart, ...]]:
        """100 x the weighted mean of the graded components that have a value: a component
        without one yet (no questions asked, no customer turn) leaves the mean, so the
        others' weights count for more until it has one."""
        if call.agent_talk_ratio is None:
            return None, ()
        config = self.config.score
        ten_minutes = self.now_ms / 600_000
        values: dict[str, float | None] = {
            "talk_balance": call.agent_talk_ratio,
            "longest_monologue": fold.longest_agent_run / 1000,
            "open_questions": fold.open_questions / ten_minutes
            if ten_minutes > 0 and self.lexicon_language is not None
            else None,
            "you_focus": call.you_focus_ratio,
            "reflection": call.reflection_ratio,
            "interruptions": fold.interruptions / ten_minutes if ten_minutes > 0 else None,
        }
        graded = []
        weighted = weights = 0.0
        for name, component in config.components().items():
            value = values[name]
            if value is None or component.weight <= 0:
                continue
            grade = component.grade(value)
            graded.append(ScorePart(name, value, grade, component.weight))
            weighted += component.weight * grade
            weights += component.weight
        if weights == 0:
            return None, ()
        return round(100 * weighted / weights, 6), tuple(graded)


# what needs a lexicon: null in the windows of a call whose language has none
_LEXICAL_WINDOW_METRICS = (
    "questions_per_minute",
    "open_question_ratio",
    "you_focus_ratio",
    "pitch_ratio",
    "reflection_ratio",
    "customer_sentiment",
)


def _without_lexicon(window: WindowMetrics) -> WindowMetrics:
    """``window`` with the metrics that need a lexicon null (an unsupported language)."""
    values = {name: getattr(window, name) for name in WindowMetrics.FIELDS}
    for name in _LEXICAL_WINDOW_METRICS:
        values[name] = None
    return WindowMetrics(**values)


def _bounded_start(event: CallStarted) -> CallStarted:
    """``event`` with what a call's state keeps of its free-form fields bounded (the
    MAX_ATTRIBUTE* and MAX_ORG_NAMES_CHARS of config.py): ``event`` itself when within."""
    attributes = event.attributes
    customer_org, seller_org = _org_names_kept(event.customer_org), _org_names_kept(event.seller_org)
    if (
        customer_org == event.customer_org
        and seller_org == event.seller_org
        and len(attributes) <= MAX_ATTRIBUTES
        and all(
            len(key) <= MAX_ATTRIBUTE_KEY_CHARS and len(value) <= MAX_ATTRIBUTE_VALUE_CHARS
            for key, value in attributes.items()
        )
    ):
        return event
    kept: dict[str, str] = {}
    for key, value in attributes.items():
        if len(kept) == MAX_ATTRIBUTES:
            break
        if len(key) <= MAX_ATTRIBUTE_KEY_CHARS:
            kept[key] = value[:MAX_ATTRIBUTE_VALUE_CHARS]
    return CallStarted(
        event.call_id,
        event.started_at,
        event.agent_id,
        event.team,
        event.queue,
        event.direction,
        event.language,
        event.tenant,
        customer_org,
        seller_org,
        kept,
    )


def _org_names_kept(names: str | None) -> str | None:
    """The whole ';'-separated names of ``names`` that fit in MAX_ORG_NAMES_CHARS."""
    if names is None or len(names) <= MAX_ORG_NAMES_CHARS:
        return names
    kept: list[str] = []
    size = -1
    for name in names.split(";"):
        size += len(name) + 1
        if size > MAX_ORG_NAMES_CHARS:
            break
        kept.append(name)
    return ";".join(kept)


def _count_since(times: list[int], lo: int) -> int:
    return len(times) - bisect.bisect_left(times, lo)


def _since(items: list[tuple[int, int]], lo: int) -> list[tuple[int, int]]:
    return items[bisect.bisect_left(items, (lo, -1)) :]


def _median(ordered: list[int]) -> float:
    """The median of sorted values, the mean of the middle two for an even count."""
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _median_of_counts(counts: dict[int, int]) -> float:
    """:func:`_median` of the values ``counts`` holds (value -> how many times), without
    listing them: a call's response gaps are counted by bucket, and a long call has
    hundreds of them, read at every snapshot."""
    total = sum(counts.values())
    low_rank, high_rank = (total - 1) // 2, total // 2  # 0-based ranks of the middle values
    low: int | None = None
    seen = 0
    for value, count in sorted(counts.items()):
        seen += count
        if low is None and seen > low_rank:
            low = value
        if seen > high_rank:
            assert low is not None  # low_rank <= high_rank: found at this value or before
            return value if low == value else (low + value) / 2
    raise ValueError("no values counted")
