"""The engine against the Harper Valley labels (docs/metrics.md explains the thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from streams.tools.evaluation import (
    Evaluation,
    evaluate_harper_valley,
    evaluate_role_check,
    spearman,
    swapped_on_purpose,
)

# Over every agent turn: measured 0.874 (human) / 0.870 (ASR); the tagger labels the
# identical scripted greeting "... how can i help you today" a question in 16 calls and
# not in 21. Without the turns it marks a greeting: 0.939 / 0.938, every remaining error
# a label the tagger got wrong (docs/metrics.md, "Evaluation on Harper Valley").
MIN_F1_HUMAN = 0.87
MIN_F1_ASR = 0.87
MIN_F1_WITHOUT_GREETINGS = 0.93
# Spearman of customer sentiment with the emotion valence per segment: measured 0.466
# (human) / 0.477 (ASR).
MIN_SENTIMENT_SPEARMAN = 0.40


@pytest.fixture(scope="module")
def human(harper_valley_dir: Path) -> Evaluation:
    return evaluate_harper_valley(harper_valley_dir, "human")


def test_question_detection_f1_on_human_transcripts(human: Evaluation) -> None:
    assert human.calls == 40 and human.agent_turns > 150
    assert human.f1 >= MIN_F1_HUMAN, human.as_dict()
    assert human.f1_without_greetings >= MIN_F1_WITHOUT_GREETINGS, human.as_dict()
    assert 30 <= human.greeting_turns <= 45
    assert human.precision >= 0.85 and human.recall >= 0.80


def test_question_detection_on_asr_transcripts(harper_valley_dir: Path) -> None:
    asr = evaluate_harper_valley(harper_valley_dir, "asr")
    assert asr.f1 >= MIN_F1_ASR, asr.as_dict()
    assert asr.f1_without_greetings >= MIN_F1_WITHOUT_GREETINGS, asr.as_dict()
    assert asr.sentiment_spearman_segments is not None
    assert asr.sentiment_spearman_segments >= MIN_SENTIMENT_SPEARMAN, asr.as_dict()


def test_open_closed_and_sentiment_agree_with_the_labels(human: Evaluation) -> None:
    assert human.open_closed_segments >= 80
    assert human.open_closed_agreement is not None and human.open_closed_agreement >= 0.9
    assert human.sentiment_spearman_segments is not None
    assert human.sentiment_spearman_segments >= MIN_SENTIMENT_SPEARMAN, human.as_dict()


def test_spearman_handles_ties_and_degenerate_input() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 3], [1, 1, 2, 3]) == pytest.approx(1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def eval_harper_valley(directory: Path, *options: str) -> str:
    """What ``callfocus eval harper-valley DIR OPTIONS`` prints (it must succeed)."""
    command = [sys.executable, "-m", "streams.tools.cli", "eval", "harper-valley", str(directory), *options]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_eval_command_prints_the_table_and_json(harper_valley_dir: Path) -> None:
    results = json.loads(eval_harper_valley(harper_valley_dir, "--json"))
    assert [r["transcript"] for r in results] == ["human", "asr"]
    assert all(0 < r["f1"] <= 1 for r in results)
    table = eval_harper_valley(harper_valley_dir, "--transcript", "human")
    assert "question F1 (turn level)" in table and "human" in table


# The speaker-role check with AGENT and CUSTOMER exchanged on purpose in 16 of the 40 calls:
# measured precision 1.000 and recall 1.000 on both transcripts (the swapped calls' evidence
# is +2 to +5 lines, the others' -3 to -5, against a threshold of 2). Forty scripted bank
# calls are a small, easy sample: the minimums leave room for one miss and one false flag.
MIN_ROLE_PRECISION = 0.9
MIN_ROLE_RECALL = 0.9


@pytest.mark.parametrize("transcript", ["human", "asr"])
def test_the_role_check_tells_swapped_calls_apart(harper_valley_dir: Path, transcript: str) -> None:
    result = evaluate_role_check(harper_valley_dir, transcript)
    assert result.calls == 40 and 12 <= result.swapped <= 28  # about half, by the hash
    assert result.precision >= MIN_ROLE_PRECISION, result.as_dict()
    assert result.recall >= MIN_ROLE_RECALL, result.as_dict()
    # role_check swap puts the swapped calls nearly back: measured talk ratio error 0.23 ->
    # 0.000 and agent questions kept 10 % -> 90 % (human), 8 % -> 88 % (ASR)
    assert result.talk_ratio_error_flag is not None and result.talk_ratio_error_swap is not None
    assert result.talk_ratio_error_swap < 0.01 < result.talk_ratio_error_flag, result.as_dict()
    assert result.questions_kept_swap is not None and result.questions_kept_swap >= 0.85, result.as_dict()


def test_the_calls_swapped_on_purpose_are_half_and_the_same_on_every_run() -> None:
    ids = [f"call-{n}" for n in range(9)]
    # pinned: a change of the choice would change the published figures
    assert sorted(swapped_on_purpose(ids)) == ["call-0", "call-2", "call-4", "call-7"]
    assert swapped_on_purpose(list(reversed(ids))) == swapped_on_purpose(ids)
    assert len(swapped_on_purpose([f"call-{n}" for n in range(100)])) == 50


def test_eval_swap_roles_prints_precision_and_recall(harper_valley_dir: Path) -> None:
    out = eval_harper_valley(harper_valley_dir, "--swap-roles")
    assert "role-swap precision" in out and "role-swap recall" in out
