"""Live nudges for supervisors: rules over a call's metrics, with hysteresis and cooldown.

Pure: the worker runs the rules on every call a batch changed, ``callfocus score`` after
every segment; both feed the same :class:`NudgeTracker`. All times are media time (the
call's own clock), so a replay at any speed raises the same nudges.

A rule fires when its value crosses ``threshold`` (above or below, per rule), the call is
at least ``min_age_seconds`` old and the rule's ``cooldown_seconds`` since its last nudge
on this call have passed. It then stays disarmed until the value is back past ``rearm``
(hysteresis), so a value hovering at the threshold does not flap.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from streams.engine.call import CallMetrics, WindowMetrics
from streams.engine.config import MAX_NUDGE_IDS
from streams.engine.trackers import EMPTY as NO_TRACKERS
from streams.engine.trackers import TrackerSet

NUDGE_TYPES = (
    "monologue",
    "talk_dominance",
    "no_discovery",
    "self_focus",
    "pitching_early",
    "customer_negative",
    "interrupting",
    "dead_air",
    "overtalk",
    "speech_rate",
)
# A tracker with a nudge (streams/engine/trackers.py) raises this type; which tracker is in
# the nudge's id and evidence (the type stays one label value whatever the trackers).
TRACKER_NUDGE = "tracker"
ALL_NUDGE_TYPES = (*NUDGE_TYPES, TRACKER_NUDGE)
# a tracker's nudge fires again for the same call only after this much media time
TRACKER_NUDGE_COOLDOWN_MS = 120_000


@dataclass(frozen=True, slots=True)
class NudgeRule:
    type: str
    threshold: float
    rearm: float
    above: bool = True
    min_age_seconds: float = 60.0
    cooldown_seconds: float = 180.0
    severity: str = "warning"
    enabled: bool = True

    def crossed(self, value: float) -> bool:
        return value > self.threshold if self.above else value < self.threshold

    def rearmed(self, value: float) -> bool:
        return value < self.rearm if self.above else value > self.rearm


DEFAULT_RULES: tuple[NudgeRule, ...] = (
    # seconds of agent speech since the last customer turn
    NudgeRule("monologue", threshold=90, rearm=30, min_age_seconds=0, cooldown_seconds=120),
    # agent share of speech over the last 3 minutes, once the call is 3 minutes old
    NudgeRule("talk_dominance", threshold=0.75, rearm=0.65, min_age_seconds=180, cooldown_seconds=300),
    # seconds since the last open question (or the call start), once the call is 5 minutes old
    NudgeRule("no_discovery", threshold=300, rearm=60, min_age_seconds=300, cooldown_seconds=300),
    # you-focus over the last 3 minutes, with at least 40 reference words in it
    NudgeRule("self_focus", threshold=0.3, rearm=0.4, above=False, min_age_seconds=120, cooldown_seconds=300),
    # pitch share of agent statements over the last 3 minutes, before any open question
    NudgeRule("pitching_early", threshold=0.5, rearm=0.4, min_age_seconds=60, cooldown_seconds=600),
    # customer sentiment over the last 3 minutes, over at least 3 customer turns
    NudgeRule(
        "customer_negative",
        threshold=-0.35,
        rearm=-0.2,
        above=False,
        min_age_seconds=60,
        cooldown_seconds=300,
        severity="critical",
    ),
    # interruptions in the last minute
    NudgeRule("interrupting", threshold=2.5, rearm=1.5, min_age_seconds=60, cooldown_seconds=180),
    # the longest silence of both parties in the last minute, seconds (not one that is a
    # hold): past 15 s the caller wonders whether anyone is there. Re-armed once the last
    # minute has no silence of 5 s or more.
    NudgeRule("dead_air", threshold=15, rearm=1, min_age_seconds=30, cooldown_seconds=120),
    # share of the last minute in which both parties speak at once
    NudgeRule("overtalk", threshold=0.15, rearm=0.08, min_age_seconds=60, cooldown_seconds=180),
    # agent words per minute of agent speech (segment time, so pauses between segments do
    # not count) in the last minute: Harper Valley agents run at a median of 238, 99 % of
    # their minutes under 282 (human transcripts) and 297 (ASR); 300 is past all of them
    NudgeRule("speech_rate", threshold=300, rearm=270, min_age_seconds=60, cooldown_seconds=300),
)

MIN_REFERENCE_WORDS = 40
MIN_CUSTOMER_TURNS = 3


def load_rules(path: Path | None) -> tuple[NudgeRule, ...]:
    """The default rules, with the fields a TOML file sets per rule (``[monologue] threshold = 120``)."""
    if path is None:
        return DEFAULT_RULES
    overrides = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(overrides) - set(NUDGE_TYPES)
    if unknown:
        raise ValueError(f"{path}: unknown nudge rules {sorted(unknown)}; known: {list(NUDGE_TYPES)}")
    rules = []
    for rule in DEFAULT_RULES:
        changes = dict(overrides.get(rule.type, {}))
        if "type" in changes:
            raise ValueError(f"{path}: [{rule.type}] cannot change the rule's type")
        try:
            rules.append(replace(rule, **changes))
        except TypeError as exc:
            raise ValueError(f"{path}: [{rule.type}]: {exc}") from None
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class Nudge:
    nudge_id: str
    type: str
    severity: str
    message: str
    evidence: dict[str, float]
    media_time_ms: int


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def _window(metrics: CallMetrics, label: str) -> WindowMetrics | None:
    try:
        return metrics.window(label)
    except KeyError:
        return None


# Each rule has two readers. Its value, read on every check of every changed call; and,
# only when it fires, the evidence and the supervisor's message: made on every check,
# they took most of a check's time (13 µs of 7 rules in the worker, mostly formatting).


def _monologue(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    return metrics.monologue_current_seconds


def _monologue_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, seconds: float
) -> tuple[dict[str, float], str]:
    return (
        {"monologue_current_seconds": seconds},
        f"Agent has talked for {_duration(seconds)} without a customer turn — "
        "invite the customer in with an open question.",
    )


def _talk_dominance(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    window = _window(metrics, "180s")
    return None if window is None else window.agent_talk_ratio


def _talk_dominance_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, ratio: float
) -> tuple[dict[str, float], str]:
    window = metrics.window("180s")
    return (
        {"agent_talk_ratio_180s": ratio, "agent_speech_seconds_180s": window.agent_speech_seconds},
        f"Agent has had {_percent(ratio)} of the talk time in the last 3 minutes — "
        "pause and let the customer speak.",
    )


def _no_discovery(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    if not metrics.language_supported:  # no lexicon finds the questions of its language
        return None
    return (metrics.media_time_ms - tracker.last_open_question_ms) / 1000


def _no_discovery_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, since: float
) -> tuple[dict[str, float], str]:
    first = tracker.open_questions_seen == 0
    return (
        {"seconds_since_open_question": since, "open_questions_call": float(tracker.open_questions_seen)},
        (
            f"No open question in the first {_duration(since)} of the call — "
            if first
            else f"No open question for {_duration(since)} — "
        )
        + "ask about the customer's goals, situation or problem.",
    )


def _self_focus(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    window = _window(metrics, "180s")
    if window is None or window.reference_words < MIN_REFERENCE_WORDS:
        return None
    return window.you_focus_ratio


def _self_focus_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, ratio: float
) -> tuple[dict[str, float], str]:
    return (
        {"you_focus_ratio_180s": ratio, "reference_words_180s": metrics.window("180s").reference_words},
        f"Agent talks about us more than about the customer (you-focus {_percent(ratio)} "
        "in the last 3 minutes) — bring it back to the customer's business.",
    )


def _pitching_early(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    window = _window(metrics, "180s")
    if window is None or tracker.open_questions_seen > 0:
        return None
    return window.pitch_ratio


def _pitching_early_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, ratio: float
) -> tuple[dict[str, float], str]:
    return (
        {"pitch_ratio_180s": ratio, "open_questions_call": 0.0},
        f"Agent is pitching ({_percent(ratio)} of statements) before a single open question — "
        "discover first: ask what the customer wants to achieve.",
    )


def _customer_negative(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    window = _window(metrics, "180s")
    if window is None or window.customer_turns < MIN_CUSTOMER_TURNS:
        return None
    return window.customer_sentiment


def _customer_negative_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, sentiment: float
) -> tuple[dict[str, float], str]:
    turns = metrics.window("180s").customer_turns
    return (
        {"customer_sentiment_180s": sentiment, "customer_turns_180s": float(turns)},
        f"Customer sentiment is negative ({sentiment:+.2f}) over the last 3 minutes — "
        "acknowledge the concern before moving on.",
    )


def _interrupting(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    window = _window(metrics, "60s")
    return None if window is None else float(window.interruptions)


def _interrupting_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, count: float
) -> tuple[dict[str, float], str]:
    return (
        {"interruptions_60s": count},
        f"Agent interrupted the customer {int(count)} times in the last minute — let the customer finish.",
    )


def _dead_air(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    window = _window(metrics, "60s")
    if window is None:
        return None
    if metrics.hold_end_ms >= 0 and metrics.hold_end_ms >= metrics.media_time_ms - 60_000:
        return None  # a hold in the last minute: its silence is expected
    return window.dead_air_longest_seconds


def _dead_air_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, seconds: float
) -> tuple[dict[str, float], str]:
    return (
        {"dead_air_longest_seconds_60s": seconds},
        f"{_duration(seconds)} of dead air on the line — tell the customer what is happening, or "
        "put them on hold properly.",
    )


def _overtalk(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    window = _window(metrics, "60s")
    return None if window is None else window.overtalk_ratio


def _overtalk_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, ratio: float
) -> tuple[dict[str, float], str]:
    return (
        {"overtalk_ratio_60s": ratio},
        f"Agent and customer talked over each other {_percent(ratio)} of the last minute — pause "
        "and let the customer finish.",
    )


def _speech_rate(metrics: CallMetrics, tracker: NudgeTracker) -> float | None:
    window = _window(metrics, "60s")
    return None if window is None else window.agent_words_per_minute


def _speech_rate_nudge(
    metrics: CallMetrics, tracker: NudgeTracker, rate: float
) -> tuple[dict[str, float], str]:
    return (
        {"agent_words_per_minute_60s": rate},
        f"Agent is speaking fast ({rate:.0f} words a minute over the last minute) — slow down so "
        "the customer can follow.",
    )


_READERS: Mapping[
    str,
    tuple[
        Callable[[CallMetrics, NudgeTracker], float | None],
        Callable[[CallMetrics, NudgeTracker, float], tuple[dict[str, float], str]],
    ],
] = {
    "monologue": (_monologue, _monologue_nudge),
    "talk_dominance": (_talk_dominance, _talk_dominance_nudge),
    "no_discovery": (_no_discovery, _no_discovery_nudge),
    "self_focus": (_self_focus, _self_focus_nudge),
    "pitching_early": (_pitching_early, _pitching_early_nudge),
    "customer_negative": (_customer_negative, _customer_negative_nudge),
    "interrupting": (_interrupting, _interrupting_nudge),
    "dead_air": (_dead_air, _dead_air_nudge),
    "overtalk": (_overtalk, _overtalk_nudge),
    "speech_rate": (_speech_rate, _speech_rate_nudge),
}


@dataclass(slots=True)
class NudgeTracker:
    """One call's nudge state: disarmed rules, last nudge per type, the last open question."""

    call_id: str
    disarmed: set[str] = field(default_factory=set)
    last_fired_ms: dict[str, int] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)  # nudge ids, for the call summary: the first MAX_NUDGE_IDS
    open_questions_seen: float = 0.0
    last_open_question_ms: int = 0
    # hits per tracker name already counted (the worker's callfocus_tracker_hits_total)
    tracker_hits_seen: dict[str, int] = field(default_factory=dict)

    def new_tracker_hits(self, metrics: CallMetrics) -> list[tuple[str, int]]:
        """The tracker hits of ``metrics`` not seen at the last call, by tracker name; marks
        them seen. A call's hits only grow (a revision that drops one is not taken back)."""
        seen = self.tracker_hits_seen
        new = []
        for name, hits in metrics.tracker_hits:
            before = seen.get(name, 0)
            if hits > before:
                new.append((name, hits - before))
                seen[name] = hits
        return new

    def evaluate(
        self,
        metrics: CallMetrics,
        rules: tuple[NudgeRule, ...] = DEFAULT_RULES,
        trackers: TrackerSet = NO_TRACKERS,
        new_hits: list[tuple[str, int]] | None = None,
    ) -> list[Nudge]:
        """The nudges ``metrics`` raise now (usually none); updates the tracker. ``new_hits``
        (:meth:`new_tracker_hits`) raise the nudges of the ``trackers`` that have one."""
        now_ms = metrics.media_time_ms
        whole = _window(metrics, "call")
        if whole is not None and whole.open_questions > self.open_questions_seen:
            self.open_questions_seen = whole.open_questions
            self.last_open_question_ms = now_ms
        raised = []
        for rule in rules:
            if not rule.enabled:
                continue
            read_value, details = _READERS[rule.type]
            value = read_value(metrics, self)
            if value is None:
                continue
            if rule.type in self.disarmed:
                if rule.rearmed(value):
                    self.disarmed.discard(rule.type)
                continue
            if not rule.crossed(value) or now_ms < rule.min_age_seconds * 1000:
                continue
            last = self.last_fired_ms.get(rule.type)
            if last is not None and now_ms - last < rule.cooldown_seconds * 1000:
                continue
            nudge_id = f"{self.call_id}:{rule.type}:{now_ms}"
            self.disarmed.add(rule.type)
            self.last_fired_ms[rule.type] = now_ms
            if len(self.fired) < MAX_NUDGE_IDS:  # the summary lists the first ones
                self.fired.append(nudge_id)
            evidence, message = details(metrics, self, value)
            raised.append(Nudge(nudge_id, rule.type, rule.severity, message, evidence, now_ms))
        for name, _ in new_hits or ():
            nudge = self._tracker_nudge(metrics, trackers, name)
            if nudge is not None:
                raised.append(nudge)
        return raised

    def _tracker_nudge(self, metrics: CallMetrics, trackers: TrackerSet, name: str) -> Nudge | None:
        try:
            tracker = trackers.trackers[trackers.index(name)]
        except ValueError:
            return None  # a tracker no longer in force
        if tracker.nudge is None:
            return None
        now_ms = metrics.media_time_ms
        key = f"{TRACKER_NUDGE}.{name}"
        last = self.last_fired_ms.get(key)
        if last is not None and now_ms - last < TRACKER_NUDGE_COOLDOWN_MS:
            return None
        self.last_fired_ms[key] = now_ms
        nudge_id = f"{self.call_id}:{key}:{now_ms}"
        if len(self.fired) < MAX_NUDGE_IDS:
            self.fired.append(nudge_id)
        hits = dict(metrics.tracker_hits).get(name, 0)
        message = f"{tracker.nudge.message} (tracker {name})"
        return Nudge(nudge_id, TRACKER_NUDGE, tracker.nudge.severity, message, {"hits": float(hits)}, now_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "disarmed": sorted(self.disarmed),
            "last_fired_ms": dict(self.last_fired_ms),
            "fired": list(self.fired),
            "open_questions_seen": self.open_questions_seen,
            "last_open_question_ms": self.last_open_question_ms,
            "tracker_hits_seen": dict(self.tracker_hits_seen),
        }

    @classmethod
    def from_dict(cls, call_id: str, data: Mapping[str, Any]) -> NudgeTracker:
        return cls(
            call_id,
            set(data["disarmed"]),
            dict(data["last_fired_ms"]),
            list(data["fired"]),
            data["open_questions_seen"],
            data["last_open_question_ms"],
            dict(data.get("tracker_hits_seen", {})),
        )


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_DIGIT = re.compile(r"\d")
SNIPPET_CHARS = 200


def masked_snippet(text: str) -> str:
    """A transcript excerpt safe to show: e-mail addresses, card-like numbers and digits masked."""
    masked = _EMAIL.sub("[email]", text)
    masked = _CARD.sub("[card]", masked)
    masked = _DIGIT.sub("#", masked)
    return masked if len(masked) <= SNIPPET_CHARS else masked[: SNIPPET_CHARS - 1] + "…"
