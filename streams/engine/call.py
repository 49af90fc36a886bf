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
import contextlib
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from statistics import median

from streams.engine.config import EngineConfig
from streams.engine.lexicon import load_lexicon
from streams.engine.text import TextAnalyzer, org_phrases, tokens
from streams.errors import InvalidEventError
from streams.events import CallEnded, CallStarted, Speaker, TranscriptSegment

AGENT, CUSTOMER, OTHER = 0, 1, 2
_SPEAKER_CODE = {Speaker.AGENT: AGENT, Speaker.CUSTOMER: CUSTOMER, Speaker.OTHER: OTHER}
_NO_TURN = -1
DEFAULT_CONFIG = EngineConfig()


class SegmentOutcome(StrEnum):
    APPLIED = "applied"
    INTERIM = "interim"
    DUPLICATE = "duplicate"
    STALE_REVISION = "stale_revision"


@lru_cache(maxsize=8)
def analyzer_for(language: str, lexicon_file: str | None) -> TextAnalyzer:
    from pathlib import Path

    return TextAnalyzer(load_lexicon(language, Path(lexicon_file) if lexicon_file else None))


class Utterance:
    """What the engine keeps of one final segment: timing plus text facts, no text."""

    __slots__ = (
        "backchannel",
        "content",
        "customer_refs",
        "end",
        "open_questions",
        "questions",
        "revision",
        "segment_id",
        "self_refs",
        "sentiment",
        "speaker",
        "stance",
        "start",
        "words",
    )

    def __init__(
        self, segment: TranscriptSegment, speaker: int, analyzer: TextAnalyzer, state: CallState
    ) -> None:
        self.segment_id = segment.segment_id
        self.revision = segment.revision
        self.speaker = speaker
        self.start = segment.start_ms
        self.end = segment.end_ms
        words = tokens(segment.text)
        self.words = len(words)
        self.backchannel = analyzer.is_backchannel(words, state.config.backchannel_max_words)
        self.content = analyzer.content_words(words)
        self.questions = self.open_questions = self.customer_refs = self.self_refs = self.stance = 0
        self.sentiment = 0.0
        if speaker == AGENT:
            asked = analyzer.questions(segment.text)
            # The scripted "how can I help you" said with the greeting is the greeting.
            ritual = asked.service_openers if asked.service_openers and analyzer.is_greeting(words) else 0
            self.questions = asked.total - ritual
            self.open_questions = asked.open - ritual
            self.customer_refs, self.self_refs = analyzer.references(
                words, state.customer_orgs, state.seller_orgs
            )
            self.stance = analyzer.stance(words)
        elif speaker == CUSTOMER:
            self.sentiment = analyzer.sentiment(words)


def _sort_key(u: Utterance) -> tuple[int, int, int, str]:
    return (u.start, u.end, u.speaker, u.segment_id)


class Fold:
    """Running totals and turn state over segments fed in sorted order."""

    __slots__ = (
        "agent_ms",
        "agent_run_end",
        "agent_run_start",
        "agent_turn",
        "customer_ms",
        "customer_run_end",
        "customer_run_start",
        "customer_turn_content",
        "customer_turn_end",
        "customer_turns",
        "gap_counts",
        "interrupt_end",
        "interrupt_start",
        "interruptions",
        "last_turn",
        "longest_agent_run",
        "longest_customer_run",
        "open_questions",
        "pitch",
        "questions",
        "reflected_turns",
        "refs_customer",
        "refs_self",
        "responsive_turns",
        "sentiment_sum",
        "sentiment_words",
        "situation",
    )

    def __init__(self) -> None:
        self.agent_ms = self.customer_ms = 0
        self.questions = self.open_questions = self.refs_customer = self.refs_self = 0
        self.pitch = self.situation = 0
        self.sentiment_sum = 0.0
        self.sentiment_words = 0
        self.customer_turns = self.responsive_turns = self.reflected_turns = self.interruptions = 0
        self.gap_counts: dict[int, int] = {}
        self.last_turn = _NO_TURN
        self.agent_run_start = self.agent_run_end = self.longest_agent_run = 0
        self.customer_run_start = self.customer_run_end = self.longest_customer_run = 0
        self.customer_turn_content: frozenset[str] = frozenset()
        self.customer_turn_end = 0
        self.interrupt_start = self.interrupt_end = -1
        # the agent turn in progress: [start, follows a customer turn, reflects it]
        self.agent_turn: list[int | bool] | None = None

    def copy(self) -> Fold:
        other = Fold.__new__(Fold)
        for name in Fold.__slots__:
            setattr(other, name, getattr(self, name))
        other.gap_counts = dict(self.gap_counts)
        other.agent_turn = list(self.agent_turn) if self.agent_turn is not None else None
        return other

    def _close_agent_turn(self) -> None:
        turn = self.agent_turn
        if turn is not None and turn[1]:
            self.responsive_turns += 1
            self.reflected_turns += bool(turn[2])
        self.agent_turn = None

    def feed(self, u: Utterance, config: EngineConfig, sink: WindowEvents | None = None) -> None:
        duration = u.end - u.start
        if u.speaker == AGENT:
            self.agent_ms += duration
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
                self.agent_turn = [u.start, follows, False]
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
            if turn is not None and turn[1] and not turn[2] and u.content & self.customer_turn_content:
                turn[2] = True
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
                self.customer_turns += 1
                if sink is not None:
                    sink.customer_turns.append(u.start)
                self.last_turn = CUSTOMER
                self.customer_run_start, self.customer_run_end = u.start, u.end
                self.customer_turn_content = u.content
            else:
                if u.end > self.customer_run_end:
                    self.customer_run_end = u.end
                if u.content:
                    self.customer_turn_content = self.customer_turn_content | u.content
            self.customer_turn_end = self.customer_run_end
            run = self.customer_run_end - self.customer_run_start
            if run > self.longest_customer_run:
                self.longest_customer_run = run


class WindowEvents:
    """Point events found while replaying the tail, for the rolling windows."""

    __slots__ = ("agent_turns", "customer_turns", "gaps", "interruptions")

    def __init__(self) -> None:
        self.agent_turns: list[list[int | bool]] = []
        self.customer_turns: list[int] = []
        self.gaps: list[tuple[int, int]] = []
        self.interruptions: list[int] = []


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    window: str
    agent_talk_ratio: float | None
    questions_per_minute: float | None
    open_question_ratio: float | None
    you_focus_ratio: float | None
    pitch_ratio: float | None
    reflection_ratio: float | None
    interruptions: int
    response_gap_seconds: float | None
    customer_sentiment: float | None
    # the counts behind the ratios (nudge evidence and minimum-count rules)
    agent_speech_seconds: float
    customer_speech_seconds: float
    questions: float
    open_questions: float
    reference_words: float
    customer_turns: int


@dataclass(frozen=True, slots=True)
class CallMetrics:
    call_id: str
    media_time_ms: int
    windows: tuple[WindowMetrics, ...]
    monologue_current_seconds: float
    monologue_longest_seconds: float
    customer_story_longest_seconds: float
    customer_focus_score: float | None
    score_components: tuple[tuple[str, float], ...]

    def window(self, label: str) -> WindowMetrics:
        for window in self.windows:
            if window.window == label:
                return window
        raise KeyError(label)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


class _Accumulator:
    __slots__ = (
        "agent_ms",
        "customer_ms",
        "open_q",
        "pitch",
        "questions",
        "refs_c",
        "refs_s",
        "sent_sum",
        "sent_words",
        "situation",
    )

    def __init__(self) -> None:
        self.agent_ms = self.customer_ms = 0.0
        self.questions = self.open_q = self.refs_c = self.refs_s = 0.0
        self.pitch = self.situation = self.sent_sum = self.sent_words = 0.0


class CallState:
    """Everything callfocus knows about one call; updated one event at a time."""

    __slots__ = (
        "_by_id",
        "_cached",
        "_sealed",
        "_tail",
        "_watermark",
        "analyzer",
        "call_id",
        "config",
        "customer_orgs",
        "ended",
        "meta",
        "now_ms",
        "segments_applied",
        "seller_orgs",
    )

    def __init__(self, call_id: str, config: EngineConfig = DEFAULT_CONFIG) -> None:
        self.call_id = call_id
        self.config = config
        self.analyzer = analyzer_for(
            config.language, str(config.lexicon_file) if config.lexicon_file else None
        )
        self.meta: CallStarted | None = None
        self.ended: CallEnded | None = None
        self.customer_orgs: tuple[tuple[str, ...], ...] = ()
        self.seller_orgs: tuple[tuple[str, ...], ...] = ()
        self.now_ms = 0
        self.segments_applied = 0
        self._tail: list[Utterance] = []
        self._by_id: dict[str, Utterance] = {}
        self._sealed = Fold()
        self._watermark: tuple[int, int, int, str] | None = None
        self._cached: CallMetrics | None = None

    # -- events -------------------------------------------------------------------------
    def start(self, event: CallStarted) -> None:
        self.meta = event
        self.customer_orgs = org_phrases(event.customer_org)
        self.seller_orgs = org_phrases(event.seller_org)
        if event.language != self.config.language:
            with contextlib.suppress(ValueError):  # no lexicon for that language: keep ours
                self.analyzer = analyzer_for(event.language, None)

    def end(self, event: CallEnded) -> None:
        if self.ended is None:
            self.ended = event
            self._cached = None

    def check(self, segment: TranscriptSegment) -> None:
        """Raise InvalidEventError if this call cannot accept ``segment``; changes nothing."""
        where = f"segment {segment.segment_id!r} of call {self.call_id!r}"
        if segment.call_id != self.call_id:
            raise InvalidEventError("wrong_call", f"{where} belongs to call {segment.call_id!r}")
        if self.ended is not None:
            raise InvalidEventError("call_ended", f"{where} arrived after the call ended")
        if self.segments_applied and segment.start_ms > self.now_ms + self.config.future_tolerance_ms:
            raise InvalidEventError(
                "start_in_future",
                f"{where} starts at {segment.start_ms} ms, more than "
                f"{self.config.future_tolerance_ms // 1000} s after the call's media time {self.now_ms} ms",
            )
        if self._watermark is not None and segment.is_final:
            key = (segment.start_ms, segment.end_ms, _SPEAKER_CODE[segment.speaker], segment.segment_id)
            if key <= self._watermark or segment.end_ms < self.now_ms - self.config.horizon_ms:
                raise InvalidEventError(
                    "too_late",
                    f"{where} ({segment.start_ms}-{segment.end_ms} ms) is more than "
                    f"{self.config.late_tolerance_ms // 1000} s of media time behind the largest window",
                )

    def apply(self, segment: TranscriptSegment) -> SegmentOutcome:
        self.check(segment)
        if not segment.is_final:
            return SegmentOutcome.INTERIM
        known = self._by_id.get(segment.segment_id)
        if known is not None:
            if segment.revision == known.revision:
                return SegmentOutcome.DUPLICATE
            if segment.revision < known.revision:
                return SegmentOutcome.STALE_REVISION
        utterance = Utterance(segment, _SPEAKER_CODE[segment.speaker], self.analyzer, self)
        if known is not None:
            del self._tail[bisect.bisect_left(self._tail, _sort_key(known), key=_sort_key)]
        bisect.insort(self._tail, utterance, key=_sort_key)
        self._by_id[segment.segment_id] = utterance
        self.segments_applied += 1
        if utterance.end > self.now_ms:
            self.now_ms = utterance.end
            self._seal()
        elif known is not None and known.end == self.now_ms:
            # a revision shortened the latest segment: now is the largest end of the final set
            self.now_ms = max(u.end for u in self._tail)
        self._cached = None
        return SegmentOutcome.APPLIED

    def _seal(self) -> None:
        limit = self.now_ms - self.config.horizon_ms
        tail = self._tail
        sealed = 0
        while sealed < len(tail) and tail[sealed].end < limit:
            utterance = tail[sealed]
            self._sealed.feed(utterance, self.config)
            del self._by_id[utterance.segment_id]
            self._watermark = _sort_key(utterance)
            sealed += 1
        if sealed:
            del tail[:sealed]

    # -- metrics ------------------------------------------------------------------------
    def metrics(self) -> CallMetrics:
        if self._cached is None:
            self._cached = self._compute()
        return self._cached

    def agent_talk_ratio(self, window_ms: int | None) -> float | None:
        label = "call" if window_ms is None else f"{window_ms // 1000}s"
        return self.metrics().window(label).agent_talk_ratio

    def window_metrics(self) -> tuple[WindowMetrics, ...]:
        return self.metrics().windows

    def _compute(self) -> CallMetrics:
        config = self.config
        now = self.now_ms
        fold = self._sealed.copy()
        events = WindowEvents()
        lows = [now - w for w in config.windows_ms]
        accs = [_Accumulator() for _ in lows]
        for u in self._tail:
            fold.feed(u, config, events)
            duration = u.end - u.start
            for lo, acc in zip(lows, accs, strict=True):
                inside = u.end - (u.start if u.start > lo else lo)
                if inside <= 0 and not (duration == 0 and u.start >= lo):
                    continue
                share = inside / duration if duration else 1.0
                if u.speaker == AGENT:
                    acc.agent_ms += inside
                    acc.questions += u.questions * share
                    acc.open_q += u.open_questions * share
                    acc.refs_c += u.customer_refs * share
                    acc.refs_s += u.self_refs * share
                    if u.stance:
                        if u.stance > 0:
                            acc.pitch += share
                        else:
                            acc.situation += share
                elif u.speaker == CUSTOMER:
                    acc.customer_ms += inside
                    acc.sent_sum += u.sentiment * u.words * share
                    acc.sent_words += u.words * share
        fold._close_agent_turn()
        windows = [
            self._window(label, config.windows_ms[i], lows[i], accs[i], events)
            for i, label in enumerate(config.window_labels[:-1])
        ]
        windows.append(self._call_window(fold))
        monologue_current = (
            (fold.agent_run_end - fold.agent_run_start) / 1000 if fold.last_turn == AGENT else 0.0
        )
        score, components = self._score(windows[-1], fold)
        return CallMetrics(
            call_id=self.call_id,
            media_time_ms=now,
            windows=tuple(windows),
            monologue_current_seconds=monologue_current,
            monologue_longest_seconds=fold.longest_agent_run / 1000,
            customer_story_longest_seconds=fold.longest_customer_run / 1000,
            customer_focus_score=score,
            score_components=components,
        )

    def _window(
        self, label: str, width: int, lo: int, acc: _Accumulator, events: WindowEvents
    ) -> WindowMetrics:
        minutes = min(width, self.now_ms) / 60_000
        turns = [t for t in events.agent_turns if t[0] >= lo and t[1]]
        gaps = [bucket for t, bucket in events.gaps if t >= lo]
        return WindowMetrics(
            window=label,
            agent_talk_ratio=_ratio(acc.agent_ms, acc.agent_ms + acc.customer_ms),
            questions_per_minute=acc.questions / minutes if minutes > 0 else None,
            open_question_ratio=_ratio(acc.open_q, acc.questions),
            you_focus_ratio=_ratio(acc.refs_c, acc.refs_c + acc.refs_s),
            pitch_ratio=_ratio(acc.pitch, acc.pitch + acc.situation),
            reflection_ratio=_ratio(sum(1 for t in turns if t[2]), len(turns)),
            interruptions=sum(1 for t in events.interruptions if t >= lo),
            response_gap_seconds=self._gap_seconds(gaps) if gaps else None,
            customer_sentiment=_ratio(acc.sent_sum, acc.sent_words) if acc.sent_words > 0 else None,
            agent_speech_seconds=acc.agent_ms / 1000,
            customer_speech_seconds=acc.customer_ms / 1000,
            questions=acc.questions,
            open_questions=acc.open_q,
            reference_words=acc.refs_c + acc.refs_s,
            customer_turns=sum(1 for t in events.customer_turns if t >= lo),
        )

    def _call_window(self, fold: Fold) -> WindowMetrics:
        minutes = self.now_ms / 60_000
        gaps = [bucket for bucket, count in fold.gap_counts.items() for _ in range(count)]
        return WindowMetrics(
            window="call",
            agent_talk_ratio=_ratio(fold.agent_ms, fold.agent_ms + fold.customer_ms),
            questions_per_minute=fold.questions / minutes if minutes > 0 else None,
            open_question_ratio=_ratio(fold.open_questions, fold.questions),
            you_focus_ratio=_ratio(fold.refs_customer, fold.refs_customer + fold.refs_self),
            pitch_ratio=_ratio(fold.pitch, fold.pitch + fold.situation),
            reflection_ratio=_ratio(fold.reflected_turns, fold.responsive_turns),
            interruptions=fold.interruptions,
            response_gap_seconds=self._gap_seconds(gaps) if gaps else None,
            customer_sentiment=_ratio(fold.sentiment_sum, fold.sentiment_words)
            if fold.sentiment_words
            else None,
            agent_speech_seconds=fold.agent_ms / 1000,
            customer_speech_seconds=fold.customer_ms / 1000,
            questions=float(fold.questions),
            open_questions=float(fold.open_questions),
            reference_words=float(fold.refs_customer + fold.refs_self),
            customer_turns=fold.customer_turns,
        )

    def _gap_seconds(self, buckets: list[int]) -> float:
        return median(buckets) * self.config.response_gap_resolution_ms / 1000

    def _score(self, call: WindowMetrics, fold: Fold) -> tuple[float | None, tuple[tuple[str, float], ...]]:
        if call.agent_talk_ratio is None:
            return None, ()
        config = self.config.score
        ten_minutes = self.now_ms / 600_000
        values: dict[str, float | None] = {
            "talk_balance": call.agent_talk_ratio,
            "longest_monologue": fold.longest_agent_run / 1000,
            "open_questions": fold.open_questions / ten_minutes if ten_minutes > 0 else None,
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
            graded.append((name, grade))
            weighted += component.weight * grade
            weights += component.weight
        if weights == 0:
            return None, ()
        return round(100 * weighted / weights, 6), tuple(graded)
