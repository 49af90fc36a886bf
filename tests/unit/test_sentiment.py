"""Customer sentiment: VADER's valences adjusted to contact-center speech (docs/metrics.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from streams.engine.lexicon import load_lexicon
from streams.engine.sentiment import COMPLAINT_VALENCE, RESOLUTION_VALENCE, SentimentRules, sentiment
from streams.engine.text import TextAnalyzer, tokens

EN = load_lexicon("en")
# VADER's word valences with its negation and boosters only: the engine before the call lists
VADER_ONLY = SentimentRules(EN.negations | {"no"}, EN.boosters, EN.dampeners)


def engine(text: str) -> float:
    return TextAnalyzer(EN).sentiment(tokens(text))


def vader(text: str) -> float:
    return sentiment(tokens(text), VADER_ONLY)


def compound(total: float) -> float:
    return total / math.sqrt(total * total + 15)


@pytest.mark.parametrize(
    "text",
    [
        "i'm still waiting for the new card",
        "my account is overdrawn",
        "the card got declined at the store",
        "you put me on hold for an hour",
        "the app is not working since monday",
        "i never received the statement",
    ],
)
def test_complaints_vader_misses_are_negative(text: str) -> None:
    assert vader(text) >= 0
    assert engine(text) < -0.4


def test_a_complaint_phrase_counts_once_with_its_own_negation() -> None:
    # "haven't" inside the phrase does not negate it, nor does the phrase add a second word
    assert engine("i still haven't received it") == pytest.approx(compound(COMPLAINT_VALENCE))
    # nor does it negate the words after the phrase
    assert engine("i never received it thank you") == pytest.approx(compound(COMPLAINT_VALENCE + 1.5))
    # a complaint word VADER rates more negative keeps VADER's valence
    assert engine("useless") == pytest.approx(compound(COMPLAINT_VALENCE))
    assert engine("fraud") == pytest.approx(vader("fraud"))


def test_intensity_and_negation_apply_to_complaints() -> None:
    assert engine("i am really frustrated") < engine("i am frustrated") < 0
    assert engine("i am seriously fed up") < engine("i am fed up") < 0
    assert engine("i am not frustrated") > 0


def test_service_words_carry_no_feeling() -> None:
    assert vader("i need to pay my credit card bill") > 0
    assert engine("i need to pay my credit card bill") == 0.0
    assert engine("what is the interest rate") == 0.0


def test_a_bare_no_answers_and_negates_only_the_next_word() -> None:
    closing = "no that's it thank you"
    assert vader(closing) < 0  # VADER read "no" three words ahead: "no ... thank" negated
    assert engine(closing) > 0.3
    assert engine("no problem") > 0
    assert engine("no help at all") < 0
    assert engine("i am not happy") < 0  # "not" still reaches three words ahead


def test_resolution_terms_are_mildly_positive() -> None:
    assert engine("okay that'll be all bye") == pytest.approx(compound(0.9 + 2 * RESOLUTION_VALENCE))
    assert 0 < engine("you too") < engine("great thank you so much")


def test_the_lists_are_lexicon_lists_an_override_replaces(tmp_path: Path) -> None:
    override = tmp_path / "lex.toml"
    override.write_text('complaint_terms = ["widget broke"]\nsentiment_neutral = []\n')
    lexicon = load_lexicon("en", override)
    analyzer = TextAnalyzer(lexicon)
    assert analyzer.sentiment(tokens("the widget broke again")) == pytest.approx(compound(COMPLAINT_VALENCE))
    assert analyzer.sentiment(tokens("i'm still waiting")) == 0.0
    assert analyzer.sentiment(tokens("my credit card")) > 0
