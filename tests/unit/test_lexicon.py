from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engine import CallState, EngineConfig
from streams.engine.lexicon import available_languages, load_lexicon
from streams.engine.text import TextAnalyzer, tokens
from streams.wire.events import Speaker, TranscriptSegment


def test_english_ships_and_is_loaded_once() -> None:
    assert "en" in available_languages()
    assert load_lexicon("en") is load_lexicon("en")
    assert ("i", "see") in load_lexicon("en").backchannel


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no lexicon for language 'xx'"):
        load_lexicon("xx")


def test_override_file_replaces_lists(tmp_path: Path) -> None:
    override = tmp_path / "lex.toml"
    override.write_text('pitch_terms = ["widgetmax", "turbo plan"]\n')
    lexicon = load_lexicon("en", override)
    assert lexicon.pitch_terms == frozenset({("widgetmax",), ("turbo", "plan")})
    analyzer = TextAnalyzer(lexicon)
    assert analyzer.stance(tokens("the turbo plan is great")) == 1
    assert analyzer.stance(tokens("our premium plan")) == 0  # "plan" alone is no longer a pitch term
    state = CallState("c", EngineConfig(lexicon_file=override))
    state.apply(TranscriptSegment("c", "1", Speaker.AGENT, 0, 1000, "widgetmax widgetmax"))
    assert state.metrics().window("call").pitch_ratio == 1.0
    bad = tmp_path / "bad.toml"
    bad.write_text('pitch_words = ["x"]\n')
    with pytest.raises(ValueError, match="unknown lexicon lists"):
        load_lexicon("en", bad)


@pytest.mark.parametrize(
    ("text", "total", "open_"),
    [
        ("what is your account number", 1, 0),
        ("how does that affect your team", 1, 1),
        ("can you walk me through the process", 1, 1),
        ("do you have a minute", 1, 0),
        ("which card would you like to replace", 1, 0),
        ("when you get the card call us", 0, 0),
        ("i can help you with that", 0, 0),
        ("what i will do is reset it", 0, 0),
        ("what they do is reset it", 0, 0),
        ("what they would you like for your appointment", 1, 1),  # ASR for "what day would you"
        ("the transfer is done is there anything else i can help you with", 1, 1),
        ("Is it OK? Tell me more.", 2, 1),
        ("so you want it by friday?", 1, 0),
    ],
)
def test_question_detection_without_punctuation(text: str, total: int, open_: int) -> None:
    asked = TextAnalyzer(load_lexicon("en")).questions(text)
    assert (asked.total, asked.open) == (total, open_)


@pytest.mark.parametrize(
    "text",
    [
        "the premium tier also has our priority routing",
        "the package now has your name on it",
        "the tool then does our routing",
        "we also have your address on file",
        "you also have the option to pay online",
    ],
)
def test_an_auxiliary_after_a_mid_clause_adverb_is_a_statement(text: str) -> None:
    assert TextAnalyzer(load_lexicon("en")).questions(text).total == 0


@pytest.mark.parametrize(
    ("text", "total"),
    [
        ("does our routing cover weekends", 1),
        ("now, do you have your card?", 1),
        ("now do you have your card", 1),
        ("also, is your address the same?", 1),
        ("also is your address the same", 1),
        ("okay so then can i get your name", 1),
        ("i see the account now do you have your card", 1),
        ("can you also confirm your address", 1),  # one question, not a second at "also"
    ],
)
def test_questions_after_a_clause_adverb_still_count(text: str, total: int) -> None:
    asked = TextAnalyzer(load_lexicon("en")).questions(text)
    assert (asked.total, asked.open) == (total, 0)


@pytest.mark.parametrize(
    ("text", "backchannel"),
    [
        ("uh-huh", True),
        ("i see", True),
        ("yeah okay right", True),
        ("got it", True),
        ("yes that works", False),
        ("okay okay okay okay", False),
        ("", False),
    ],
)
def test_backchannels(text: str, backchannel: bool) -> None:
    assert TextAnalyzer(load_lexicon("en")).is_backchannel(tokens(text), 3) is backchannel


def test_content_words_are_the_same_from_the_remembered_words_and_it_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import streams.engine.text as text

    monkeypatch.setattr(text, "CONTENT_WORDS_KEPT", 5)
    analyzer = TextAnalyzer(load_lexicon("en"))
    line = tokens("our invoices doubled so the invoices and the 2024 bills worry us")
    first = analyzer.content_words(line)
    assert first == ("invoice", "doubled", "bill", "worry")  # distinct stems, in order; no digits
    for other in ("the warehouse sync failed", "finance flagged duplicates", "cards declined twice"):
        analyzer.content_words(tokens(other))
        assert len(analyzer._content_of) <= 5
    assert analyzer.content_words(line) == first


@settings(max_examples=500)
@given(
    st.text(
        st.sampled_from([*"abzAZ09'- -\t\n.,?!", "é", "İ", "\u00a0", "\u2019", "²", "ß", "\u0130"]),
        max_size=40,
    )
)
def test_tokens_are_the_token_pattern_over_the_lowered_text(text: str) -> None:
    assert tokens(text) == re.findall(r"[^\W_]+(?:['\-][^\W_]+)*", text.lower())
