"""Offline scoring of recorded calls with the very engine the worker runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from streams.engine import CallMetrics, CallState, EngineConfig
from streams.engine.nudges import DEFAULT_RULES, Nudge, NudgeRule, NudgeTracker
from streams.engine.trackers import EMPTY as NO_TRACKERS
from streams.engine.trackers import TrackerSet
from streams.errors import InvalidEventError
from streams.tools.sources import Recording
from streams.wire.events import CallEnded, CallStarted, HoldEnded, HoldStarted, TranscriptSegment


@dataclass
class ScoredCall:
    recording: Recording
    metrics: CallMetrics
    invalid: Counter[str] = field(default_factory=Counter)
    nudges: list[Nudge] = field(default_factory=list)

    @property
    def started(self) -> CallStarted | None:
        return self.recording.started

    def as_dict(self) -> dict[str, Any]:
        metrics = self.metrics.to_dict()
        metrics["windows"] = {w.pop("window"): w for w in metrics["windows"]}
        started = self.started
        return {
            "call_id": self.recording.call_id,
            "agent_id": started.agent_id if started else "unknown",
            "team": started.team if started else "unknown",
            "queue": started.queue if started else "unknown",
            "invalid_segments": dict(self.invalid),
            **metrics,
            "nudges": [asdict(n) for n in self.nudges],
        }


def score_recording(
    recording: Recording,
    config: EngineConfig | None = None,
    rules: tuple[NudgeRule, ...] = DEFAULT_RULES,
    trackers: TrackerSet = NO_TRACKERS,
) -> ScoredCall:
    """Feed one call's events, in recorded order, to a fresh engine state; the nudge rules
    and the trackers' nudges run after every segment (the worker runs them once per batch)."""
    state = CallState(recording.call_id, config or EngineConfig())
    tracker = NudgeTracker(recording.call_id)
    nudges: list[Nudge] = []
    invalid: Counter[str] = Counter()
    for timed in recording.events:
        event = timed.event
        if isinstance(event, CallStarted):
            state.start(event)
        elif isinstance(event, TranscriptSegment):
            try:
                state.apply(event, trackers)
            except InvalidEventError as error:
                invalid[error.reason] += 1
            else:
                metrics = state.metrics()
                nudges += tracker.evaluate(metrics, rules, trackers, tracker.new_tracker_hits(metrics))
        elif isinstance(event, HoldStarted | HoldEnded):
            try:
                if isinstance(event, HoldStarted):
                    state.hold_started(event)
                else:
                    state.hold_ended(event)
            except InvalidEventError as error:
                invalid[error.reason] += 1
        elif isinstance(event, CallEnded):
            state.end(event)
    return ScoredCall(recording, state.metrics(), invalid, nudges)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# Text columns (call id, agent, team) are as wide as their longest value, up to this cap; a
# longer value is cut with "~" at its end so that the numeric columns stay aligned.
MAX_TEXT_WIDTH = 40


def text_width(header: str, values: list[str], cap: int = MAX_TEXT_WIDTH) -> int:
    """The width of a text column: its longest value or its header, at most ``cap``."""
    return min(cap, max([len(header), *(len(v) for v in values)]))


def fitted(value: str, width: int) -> str:
    """``value`` left-aligned in ``width`` characters, cut with ``~`` when longer."""
    return f"{value:<{width}}" if len(value) <= width else value[: width - 1] + "~"


def score_table(scored: list[ScoredCall]) -> str:
    call_ids = [call.recording.call_id for call in scored]
    agents = [call.started.agent_id if call.started else "-" for call in scored]
    teams = [call.started.team if call.started else "-" for call in scored]
    id_w, agent_w, team_w = (
        text_width("call_id", call_ids),
        text_width("agent", agents),
        text_width("team", teams),
    )
    header = (
        f"{'call_id':<{id_w}} {'agent':<{agent_w}} {'team':<{team_w}} {'min':>5} {'score':>6} {'talk':>5} "
        f"{'mono_s':>6} {'q/min':>5} {'open':>5} {'you':>5} {'pitch':>5} {'refl':>5} {'intr':>4} "
        f"{'gap_s':>5} {'sent':>5}  nudges"
    )
    lines = [header, "-" * len(header)]
    for call, call_id, agent, team in zip(scored, call_ids, agents, teams, strict=True):
        m = call.metrics
        w = m.window("call")
        lines.append(
            f"{fitted(call_id, id_w)} {fitted(agent, agent_w)} {fitted(team, team_w)} "
            f"{m.media_time_ms / 60000:>5.1f} "
            f"{_fmt(m.customer_focus_score, 1):>6} {_fmt(w.agent_talk_ratio):>5} "
            f"{m.monologue_longest_seconds:>6.1f} {_fmt(w.questions_per_minute, 1):>5} "
            f"{_fmt(w.open_question_ratio):>5} {_fmt(w.you_focus_ratio):>5} {_fmt(w.pitch_ratio):>5} "
            f"{_fmt(w.reflection_ratio):>5} {w.interruptions:>4} {_fmt(w.response_gap_seconds, 1):>5} "
            f"{_fmt(w.customer_sentiment):>5}  " + (",".join(n.type for n in call.nudges) or "-")
        )
    return "\n".join(lines)


def signals_table(scored: list[ScoredCall]) -> str:
    """The live conversation signals and tracker hits of each call, whole call."""
    call_ids = [call.recording.call_id for call in scored]
    id_w = text_width("call_id", call_ids)
    header = (
        f"{'call_id':<{id_w}} {'dead_air':>8} {'longest_s':>9} {'overtalk':>8} {'wpm':>5} {'switch/min':>10} "
        f"{'holds':>5} {'hold_s':>6} {'prob_hold':>9} {'objections':>10} {'obj_q':>5} {'obj_wait_s':>10}"
        "  tracker hits"
    )
    lines = [header, "-" * len(header)]
    for call, call_id in zip(scored, call_ids, strict=True):
        m = call.metrics
        w = m.window("call")
        trackers = ",".join(f"{name}={hits}" for name, hits in m.tracker_hits) or "-"
        lines.append(
            f"{fitted(call_id, id_w)} {w.dead_air_silences:>8} {w.dead_air_longest_seconds:>9.1f} "
            f"{_fmt(w.overtalk_ratio):>8} {_fmt(w.agent_words_per_minute, 0):>5} "
            f"{_fmt(w.speaker_switches_per_minute, 1):>10} {m.holds:>5} {m.hold_seconds:>6.1f} "
            f"{m.probable_holds:>9} {m.objections:>10} {_fmt(m.objection_question_ratio):>5} "
            f"{_fmt(m.objection_wait_seconds, 1):>10}  {trackers}"
        )
    return "\n".join(lines)
