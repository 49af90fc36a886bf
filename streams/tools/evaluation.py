"""How well the engine agrees with the Harper Valley corpus labels.

* Agent question detection per agent turn. A turn is a run of agent segments not
  broken by a customer turn (a customer backchannel does not break it, as in the
  engine); gold = some segment of the turn carries a question dialog act.
* Open vs closed agreement on the agent segments both sides call a question.
* Spearman correlation of the engine's customer sentiment with the emotion model's
  valence (positive - negative), per customer segment and per call.
* Spearman correlation of the customer-focus score with the caller's survey rating.
* The speaker-role check (``--swap-roles``): AGENT and CUSTOMER exchanged on purpose in
  half the calls (chosen by a hash of the call id), and the precision and recall
  of ``roles_swapped_suspected`` in telling them apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from streams.engine import CallMetrics, CallState, EngineConfig
from streams.engine.call import AGENT, CUSTOMER, Utterance
from streams.errors import InvalidEventError
from streams.tools.scoring import score_recording
from streams.tools.sources.harper_valley import CorpusCall, call_ids, read_corpus_call
from streams.wire.events import Speaker, TranscriptSegment

# Dialog acts of the corpus' tagger that mark a question (found in the data: the tag
# set has exactly two question tags; confirm_data marks read-backs, mostly statements).
QUESTION_TAGS = frozenset({"gridspace_data_question", "gridspace_open_question"})
OPEN_TAG = "gridspace_open_question"
CLOSED_TAG = "gridspace_data_question"
# The tagger's greeting act: its turns carry the scripted "how can I help you", which the
# tagger calls a question in some calls and not in others (docs/metrics.md).
GREETING_TAG = "gridspace_greeting"


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rho (Pearson on average ranks); None when undefined."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    return pearson(_ranks(xs), _ranks(ys))


def pearson(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / math.sqrt(sxx * syy)


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


@dataclass
class Evaluation:
    transcript: str
    calls: int
    agent_turns: int
    question_tp: int
    question_fp: int
    question_fn: int
    # the same tallies over the agent turns without a greeting act
    greeting_turns: int
    plain_tp: int
    plain_fp: int
    plain_fn: int
    open_closed_segments: int
    open_closed_agreement: float | None
    open_closed_kappa: float | None
    sentiment_segments: int
    sentiment_spearman_segments: float | None
    sentiment_spearman_calls: float | None
    rated_calls: int
    score_rating_spearman: float | None

    @property
    def precision(self) -> float:
        return self.question_tp / max(1, self.question_tp + self.question_fp)

    @property
    def recall(self) -> float:
        return self.question_tp / max(1, self.question_tp + self.question_fn)

    @property
    def f1(self) -> float:
        return _f1(self.question_tp, self.question_fp, self.question_fn)

    @property
    def f1_without_greetings(self) -> float:
        return _f1(self.plain_tp, self.plain_fp, self.plain_fn)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "f1_without_greetings": self.f1_without_greetings,
        }


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _kappa(pairs: list[tuple[bool, bool]]) -> float | None:
    n = len(pairs)
    if not n:
        return None
    agree = sum(a == b for a, b in pairs) / n
    pa, pb = sum(a for a, _ in pairs) / n, sum(b for _, b in pairs) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    return None if chance == 1 else (agree - chance) / (1 - chance)


def evaluate_harper_valley(
    directory: Path, transcript: str = "human", config: EngineConfig | None = None
) -> Evaluation:
    config = config or EngineConfig()
    tally = _Tally()
    open_pairs: list[tuple[bool, bool]] = []
    sent_engine: list[float] = []
    sent_valence: list[float] = []
    call_sent: list[tuple[float, float]] = []
    rated: list[tuple[float, float]] = []
    ids = call_ids(directory)
    for sid in ids:
        call = read_corpus_call(directory, sid, transcript)
        state = CallState(sid, config)
        if call.recording.started is not None:
            state.start(call.recording.started)
        turn_gold = turn_pred = turn_greeting = in_turn = False
        valence_sum = valence_words = 0.0
        for labelled in call.segments:
            segment = labelled.segment
            speaker = AGENT if segment.speaker.value == "AGENT" else CUSTOMER
            facts = Utterance.of(segment, speaker, state.analyzer, state)
            tags = set(labelled.dialog_acts)
            if speaker == AGENT:
                in_turn = True
                turn_gold |= bool(tags & QUESTION_TAGS)
                turn_pred |= facts.questions > 0
                turn_greeting |= GREETING_TAG in tags
                gold_open, gold_closed = OPEN_TAG in tags, CLOSED_TAG in tags
                if facts.questions > 0 and gold_open != gold_closed:
                    open_pairs.append((facts.open_questions > 0, gold_open))
            else:
                if facts.words and labelled.emotion:
                    valence = labelled.emotion.get("positive", 0.0) - labelled.emotion.get("negative", 0.0)
                    sent_engine.append(facts.sentiment)
                    sent_valence.append(valence)
                    valence_sum += valence * facts.words
                    valence_words += facts.words
                if facts.backchannel:
                    continue
                if in_turn:
                    tally.turn(turn_gold, turn_pred, turn_greeting)
                turn_gold = turn_pred = turn_greeting = in_turn = False
        if in_turn:
            tally.turn(turn_gold, turn_pred, turn_greeting)
        scored = score_recording(call.recording, config)
        sentiment = scored.metrics.window("call").customer_sentiment
        if sentiment is not None and valence_words:
            call_sent.append((sentiment, valence_sum / valence_words))
        if call.caller_rating is not None and scored.metrics.customer_focus_score is not None:
            rated.append((scored.metrics.customer_focus_score, call.caller_rating))
    return Evaluation(
        transcript=transcript,
        calls=len(ids),
        agent_turns=tally.turns,
        question_tp=tally.every[0],
        question_fp=tally.every[1],
        question_fn=tally.every[2],
        greeting_turns=tally.greetings,
        plain_tp=tally.plain[0],
        plain_fp=tally.plain[1],
        plain_fn=tally.plain[2],
        open_closed_segments=len(open_pairs),
        open_closed_agreement=sum(a == b for a, b in open_pairs) / len(open_pairs) if open_pairs else None,
        open_closed_kappa=_kappa(open_pairs),
        sentiment_segments=len(sent_engine),
        sentiment_spearman_segments=spearman(sent_engine, sent_valence),
        sentiment_spearman_calls=spearman([a for a, _ in call_sent], [b for _, b in call_sent]),
        rated_calls=len(rated),
        score_rating_spearman=spearman([a for a, _ in rated], [b for _, b in rated]),
    )


class _Tally:
    """True positives, false positives and false negatives over every agent turn, and
    over the turns without a greeting act."""

    def __init__(self) -> None:
        self.turns = self.greetings = 0
        self.every = [0, 0, 0]
        self.plain = [0, 0, 0]

    def turn(self, gold: bool, pred: bool, greeting: bool) -> None:
        self.turns += 1
        self.greetings += greeting
        outcome = (gold and pred, pred and not gold, gold and not pred)
        for counts in (self.every,) if greeting else (self.every, self.plain):
            for i, hit in enumerate(outcome):
                counts[i] += hit


def swapped_on_purpose(call_ids: list[str]) -> frozenset[str]:
    """The calls whose roles the evaluation exchanges: the half of them (rounded down) with
    the lowest SHA-256 of their id, so the same calls on every run and machine."""
    ranked = sorted(call_ids, key=lambda call_id: hashlib.sha256(call_id.encode()).digest())
    return frozenset(ranked[: len(ranked) // 2])


_EXCHANGED = {Speaker.AGENT: Speaker.CUSTOMER, Speaker.CUSTOMER: Speaker.AGENT, Speaker.OTHER: Speaker.OTHER}


def with_roles_exchanged(segment: TranscriptSegment) -> TranscriptSegment:
    return segment.replace(speaker=_EXCHANGED[segment.speaker])


@dataclass
class RoleCheckEvaluation:
    transcript: str
    calls: int
    swapped: int  # calls whose roles were exchanged on purpose
    true_positives: int  # swapped and flagged
    false_positives: int  # not swapped, flagged
    false_negatives: int  # swapped, not flagged
    # over the swapped calls: how far the whole-call agent talk ratio and agent questions
    # are from the call's with its roles as recorded, flagged only and with role_check swap
    talk_ratio_error_flag: float | None = None
    talk_ratio_error_swap: float | None = None
    questions_kept_flag: float | None = None
    questions_kept_swap: float | None = None

    @property
    def precision(self) -> float:
        return self.true_positives / max(1, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float:
        return self.true_positives / max(1, self.true_positives + self.false_negatives)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


def evaluate_role_check(
    directory: Path, transcript: str = "human", config: EngineConfig | None = None
) -> RoleCheckEvaluation:
    """Exchange AGENT and CUSTOMER in the calls :func:`swapped_on_purpose` picks, and count
    how many calls the role check flags, rightly and wrongly (role_check ``flag``)."""
    config = replace(config or EngineConfig(), role_check="flag")
    ids = call_ids(directory)
    exchanged = swapped_on_purpose(ids)
    swapped = tp = fp = fn = 0
    errors: dict[str, list[float]] = {"flag": [], "swap": []}
    questions = {"recorded": 0.0, "flag": 0.0, "swap": 0.0}
    for sid in ids:
        call = read_corpus_call(directory, sid, transcript)
        exchange = sid in exchanged
        flagged_call = _fed(call, config, exchange)
        flagged = flagged_call.roles_swapped_suspected
        swapped += exchange
        tp += exchange and flagged
        fp += flagged and not exchange
        fn += exchange and not flagged
        if exchange:
            recorded = _fed(call, config, False).window("call")
            swap_call = _fed(call, replace(config, role_check="swap"), True)
            questions["recorded"] += recorded.questions
            for mode, metrics in (("flag", flagged_call), ("swap", swap_call)):
                whole = metrics.window("call")
                questions[mode] += whole.questions
                if whole.agent_talk_ratio is not None and recorded.agent_talk_ratio is not None:
                    errors[mode].append(abs(whole.agent_talk_ratio - recorded.agent_talk_ratio))
    kept = questions["recorded"]
    return RoleCheckEvaluation(
        transcript,
        len(ids),
        swapped,
        tp,
        fp,
        fn,
        sum(errors["flag"]) / len(errors["flag"]) if errors["flag"] else None,
        sum(errors["swap"]) / len(errors["swap"]) if errors["swap"] else None,
        questions["flag"] / kept if kept else None,
        questions["swap"] / kept if kept else None,
    )


def _fed(call: CorpusCall, config: EngineConfig, exchange: bool) -> CallMetrics:
    """The metrics of ``call``'s segments, with AGENT and CUSTOMER exchanged if ``exchange``."""
    state = CallState(call.recording.call_id, config)
    if call.recording.started is not None:
        state.start(call.recording.started)
    for segment in call.recording.segments:
        with contextlib.suppress(InvalidEventError):
            state.apply(with_roles_exchanged(segment) if exchange else segment)
    return state.metrics()


def role_check_table(results: list[RoleCheckEvaluation]) -> str:
    rows = [
        ("calls", lambda e: str(e.calls)),
        ("roles swapped on purpose", lambda e: str(e.swapped)),
        ("flagged TP / FP / FN", lambda e: f"{e.true_positives} / {e.false_positives} / {e.false_negatives}"),
        ("role-swap precision", lambda e: _fmt(e.precision)),
        ("role-swap recall", lambda e: _fmt(e.recall)),
        ("swapped calls: talk ratio error, flag", lambda e: _fmt(e.talk_ratio_error_flag)),
        ("swapped calls: talk ratio error, swap", lambda e: _fmt(e.talk_ratio_error_swap)),
        ("swapped calls: questions kept, flag", lambda e: _fmt(e.questions_kept_flag)),
        ("swapped calls: questions kept, swap", lambda e: _fmt(e.questions_kept_swap)),
    ]
    return _table("role check", rows, results)


class _PerTranscript(Protocol):
    @property
    def transcript(self) -> str: ...


_E = TypeVar("_E", bound=_PerTranscript)


def _table(title: str, rows: Sequence[tuple[str, Callable[[_E], str]]], results: Sequence[_E]) -> str:
    """One column per transcript (human, asr), one line per row."""
    width = max(len(name) for name, _ in rows)
    header = f"{title:<{width}}  " + "  ".join(f"{e.transcript:>12}" for e in results)
    lines = [header, "-" * len(header)]
    lines += [f"{name:<{width}}  " + "  ".join(f"{get(e):>12}" for e in results) for name, get in rows]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def evaluation_table(results: list[Evaluation]) -> str:
    rows = [
        ("calls", lambda e: str(e.calls)),
        ("agent turns", lambda e: str(e.agent_turns)),
        ("question turns TP / FP / FN", lambda e: f"{e.question_tp} / {e.question_fp} / {e.question_fn}"),
        ("question precision", lambda e: _fmt(e.precision)),
        ("question recall", lambda e: _fmt(e.recall)),
        ("question F1 (turn level)", lambda e: _fmt(e.f1)),
        ("turns with a greeting act", lambda e: str(e.greeting_turns)),
        ("  without them: TP / FP / FN", lambda e: f"{e.plain_tp} / {e.plain_fp} / {e.plain_fn}"),
        ("  without them: question F1", lambda e: _fmt(e.f1_without_greetings)),
        ("open vs closed: segments", lambda e: str(e.open_closed_segments)),
        ("open vs closed: agreement", lambda e: _fmt(e.open_closed_agreement)),
        ("open vs closed: Cohen's kappa", lambda e: _fmt(e.open_closed_kappa)),
        ("sentiment vs valence: segments", lambda e: str(e.sentiment_segments)),
        ("sentiment vs valence: Spearman (segments)", lambda e: _fmt(e.sentiment_spearman_segments)),
        ("sentiment vs valence: Spearman (calls)", lambda e: _fmt(e.sentiment_spearman_calls)),
        ("calls with a caller rating", lambda e: str(e.rated_calls)),
        ("score vs caller rating: Spearman", lambda e: _fmt(e.score_rating_spearman)),
    ]
    return _table("metric", rows, results)


__all__ = [
    "QUESTION_TAGS",
    "CorpusCall",
    "Evaluation",
    "RoleCheckEvaluation",
    "evaluate_harper_valley",
    "evaluate_role_check",
    "evaluation_table",
    "role_check_table",
    "spearman",
]
