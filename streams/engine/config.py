"""Engine configuration: windows, tolerances, lexicon choice and score weights.

Every default has its reason in docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final


@dataclass(frozen=True, slots=True)
class ScoreComponent:
    """One part of the customer-focus score: linear from ``best`` (1.0) to ``worst`` (0.0)."""

    weight: float
    best: float
    worst: float

    def grade(self, value: float) -> float:
        if self.best == self.worst:
            return 1.0 if value == self.best else 0.0
        share = (value - self.worst) / (self.best - self.worst)
        return min(1.0, max(0.0, share))


@dataclass(frozen=True, slots=True)
class ScoreConfig:
    # agent share of speech: 43:57 talk:listen is where top performers sit in published
    # conversation research (Gong Labs), so <= 0.45 is full marks; >= 0.80 is a lecture.
    talk_balance: ScoreComponent = ScoreComponent(0.25, best=0.45, worst=0.80)
    # longest agent monologue, seconds: past a minute the customer's attention drops;
    # three minutes without a customer turn is a pitch, not a conversation.
    longest_monologue: ScoreComponent = ScoreComponent(0.15, best=60.0, worst=180.0)
    # open questions per 10 minutes of call: discovery needs several; none is the failure.
    open_questions: ScoreComponent = ScoreComponent(0.20, best=4.0, worst=0.0)
    # customer references / (customer + self references) in agent speech.
    you_focus: ScoreComponent = ScoreComponent(0.15, best=0.60, worst=0.30)
    # share of agent turns after a customer turn that reuse the customer's words.
    reflection: ScoreComponent = ScoreComponent(0.15, best=0.50, worst=0.0)
    # agent interruptions per 10 minutes.
    interruptions: ScoreComponent = ScoreComponent(0.10, best=0.0, worst=6.0)

    def components(self) -> dict[str, ScoreComponent]:
        return {
            "talk_balance": self.talk_balance,
            "longest_monologue": self.longest_monologue,
            "open_questions": self.open_questions,
            "you_focus": self.you_focus,
            "reflection": self.reflection,
            "interruptions": self.interruptions,
        }


@dataclass(frozen=True, slots=True)
class EngineConfig:
    windows_ms: tuple[int, ...] = (60_000, 180_000)
    language: str = "en"
    lexicon_file: Path | None = None
    # a folder of <language>.toml lexicons searched before the shipped one
    lexicon_dir: Path | None = None
    backchannel_max_words: int = 3
    interruption_overlap_ms: int = 300
    # Segments may arrive this much media time late (behind the largest window) and still
    # count exactly; older ones are rejected as too_late. Bounds memory per call.
    late_tolerance_ms: int = 60_000
    future_tolerance_ms: int = 10 * 60_000
    response_gap_resolution_ms: int = 100
    # Both parties silent this long is dead air: past 5 s a caller asks "are you still
    # there?"; shorter pauses are thinking time.
    dead_air_ms: int = 5_000
    # A silence this long without a hold event is flagged as a probable (unannounced) hold.
    probable_hold_ms: int = 30_000
    # Speech rate needs enough agent speech in the window to mean anything.
    speech_rate_min_agent_ms: int = 10_000
    # what snapshots and summaries carry as ``definitions``: the engine version and a digest
    # of the lexicon and the nudge rules (streams/engine/definitions.py), the trackers'
    # digest added by the worker; empty when not set (tests, ad-hoc states)
    definitions: str = ""
    # The speaker-role check (docs/metrics.md, "Speaker roles"): "off", "flag" (a call whose
    # lines sound swapped is flagged) or "swap" (and its later segments are scored with
    # AGENT and CUSTOMER exchanged). Lines are looked for in segments starting in the
    # call's first role_check_ms (the opener says it all, and later segments cost nothing);
    # a call is flagged at role_swap_evidence lines more on the wrong side than the right.
    role_check: str = "flag"
    role_check_ms: int = 120_000
    role_swap_evidence: int = 2
    score: ScoreConfig = field(default_factory=ScoreConfig)
    # derived, set once: every segment reads them (a property cost 1 % of a segment)
    largest_window_ms: int = field(init=False, repr=False, compare=False)
    horizon_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "largest_window_ms", max(self.windows_ms))
        object.__setattr__(self, "horizon_ms", self.largest_window_ms + self.late_tolerance_ms)

    @property
    def window_labels(self) -> tuple[str, ...]:
        return (*(f"{w // 1000}s" for w in self.windows_ms), "call")


# -- Bounds: the cost of one segment and the size of one call's state ----------------
# Not settings: the guarantee that a call's state fits a changelog record (tested with
# the worst case, tests/unit/test_engine_bounds.py) rests on them. docs/metrics.md,
# "Bounds", says what a segment or call past each bound still counts.

# Words of one segment analysed for questions, phrases (stance, service openers,
# greetings), references, sentiment and content words: the first ones. Every word
# still counts in the segment's word count (the weight of its sentiment); speech time
# comes from the times, not the words. About 7 minutes of speech: a transcript
# segment is a few seconds to a minute.
MAX_ANALYSED_WORDS: Final = 1_000
# Content words kept of one segment (for reflection), in the order they are said: at
# most this many characters in all. A segment of 100 words has about 150.
MAX_CONTENT_CHARS: Final = 240
# A longer token (a run of letters and digits) is not taken for a content word.
MAX_CONTENT_WORD_CHARS: Final = 32
# Distinct content words remembered of the customer's turn in progress (the ones said
# first); an agent turn reflecting a later one is not counted as reflecting.
MAX_TURN_CONTENT_WORDS: Final = 400
# Segments kept in a call's tail (the horizon). Past it the oldest are folded into
# the call's totals early: the totals stay exact, the rolling windows then count the
# tail's segments only, and a segment that sorts before a folded one is too_late.
MAX_TAIL_SEGMENTS: Final = 500
# CallStarted.attributes kept: the first ones, keys of at most MAX_ATTRIBUTE_KEY_CHARS
# characters (longer ones are dropped), values cut to MAX_ATTRIBUTE_VALUE_CHARS.
MAX_ATTRIBUTES: Final = 32
MAX_ATTRIBUTE_KEY_CHARS: Final = 64
MAX_ATTRIBUTE_VALUE_CHARS: Final = 256
# customer_org / seller_org: whole ';'-separated names kept while they fit; a name of
# more words is not counted as a reference (its matching would cost up to that many
# probes at each word of every segment).
MAX_ORG_NAMES_CHARS: Final = 256
MAX_ORG_NAME_WORDS: Final = 8
# Silences of at least probable_hold_ms remembered per call (to match them with hold
# events that may arrive later); past it a long silence counts as a probable hold unchecked.
MAX_LONG_SILENCES: Final = 64
# Tracker names whose hits a call counts (the first ones hit): a trackers file has at most
# 200 trackers (streams/engine/trackers.py); names only change when the file does.
MAX_TRACKERS_COUNTED: Final = 200
# Hold intervals kept per call (HoldStarted / HoldEnded); later holds are ignored.
MAX_HOLDS: Final = 200
# CallEnded.reason kept (cut to this length).
MAX_END_REASON_CHARS: Final = 256
# Nudge ids kept per call for its summary: the first ones.
MAX_NUDGE_IDS: Final = 100
# The ids and labels (call_id, segment_id, agent_id, team, queue, direction, tenant)
# are bounded by the event checks (streams/wire/events.py), not here; the worst-case state
# size is computed with ids of this length.
MAX_ID_CHARS: Final = 128
# What the worst-case state stays under (JSON): half the broker's default 1 MiB record.
MAX_STATE_BYTES: Final = 512 * 1024
