"""Language tags are checked, and lexicons are found by name in their folders only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from streams.engine import CallState, EngineConfig
from streams.engine.call import analyzer_for
from streams.engine.lexicon import (
    LEXICON_DIR,
    available_languages,
    lexicon_language,
    lexicon_path,
    load_lexicon,
)
from streams.errors import InvalidEventError
from streams.settings import Settings
from streams.wire.events import CallStarted, Speaker, TranscriptSegment, event_from_record
from streams.wire.languages import MAX_LANGUAGE_TAG_CHARS, is_language_tag
from streams.worker.exporter import INVALID_REASONS

VALID = ["en", "EN", "en-US", "es-419", "zh-Hant-TW", "sr-Latn-RS", "de-CH-1996", "x" * 2 + "-a" * 16]
HOSTILE = [
    "../x",
    "..",
    "../../../../tmp/x/evil",
    "/etc/passwd",
    "/tmp/evil",
    "en/../../etc",
    "en\\..\\evil",
    "C:evil",
    "en\x00",
    "en\x00../../evil",
    "en\n",
    "en ",
    " en",
    "",
    "e",
    "en-",
    "-en",
    "en--US",
    "en_US",
    "en.toml",
    "en-" + "a" * 9,  # a subtag of 9
    "en" + "-abc" * 9,  # 38 characters
    "a" * 10_000,
    "\u0435n",  # Cyrillic small ie, looks like "en"
    "e\u0578",  # Armenian vo, looks like "n"
    "en-\uff35\uff33",  # fullwidth "US"
    "en-\u0661\u0669",  # Arabic-Indic digits
    "\u212aa",  # Kelvin sign, folds to "k" under lower()
]


def start_record(language: Any) -> dict[str, Any]:
    return {"call_id": "c", "started_at": 0, "team": "t", "language": language}


@pytest.mark.parametrize("tag", VALID)
def test_language_tags_are_accepted(tag: str) -> None:
    assert is_language_tag(tag)
    event = event_from_record("CallStarted", start_record(tag))
    assert isinstance(event, CallStarted) and event.language == tag


@pytest.mark.parametrize("value", [*HOSTILE, None, 7, ["en"]])
def test_a_call_started_with_anything_else_is_an_invalid_language(value: Any) -> None:
    assert not is_language_tag(value)
    with pytest.raises(InvalidEventError) as caught:
        event_from_record("CallStarted", start_record(value))
    assert caught.value.reason == "invalid_language"
    assert "not a language tag" in caught.value.detail
    assert len(caught.value.detail) < 300  # a 10,000 character value is not copied whole


def test_the_reason_is_exported_and_a_start_without_language_is_english() -> None:
    assert "invalid_language" in INVALID_REASONS
    record = start_record("en")
    del record["language"]
    event = event_from_record("CallStarted", record)
    assert isinstance(event, CallStarted) and event.language == "en"
    assert len("zh-Hant-TW-" + "a" * 24) == MAX_LANGUAGE_TAG_CHARS
    assert is_language_tag("zh-Hant-TW-" + "a" * 8 + "-" + "b" * 8 + "-" + "cccccc")


@pytest.mark.parametrize("value", HOSTILE[:20])
def test_the_lexicon_loader_and_the_setting_refuse_them_too(value: str) -> None:
    with pytest.raises(ValueError, match="not a language tag"):
        load_lexicon(value)
    with pytest.raises(ValidationError, match="not a language tag"):
        Settings(language=value)


def test_a_regional_tag_is_scored_with_its_language_lexicon() -> None:
    assert lexicon_path("en-US") is None
    with pytest.raises(ValueError, match="no lexicon for language 'en-US'"):
        load_lexicon("en-US")
    state = CallState("c", EngineConfig())
    default = state.analyzer
    state.start(CallStarted("c", 0, language="en-US"))
    assert state.analyzer is default and state.lexicon_language == "en"
    assert lexicon_language("es-419") == "es" and lexicon_language("ES-mx") == "es"
    assert lexicon_language("zh-Hant-TW") is None and lexicon_language("../en") is None
    assert lexicon_language("en-x-private") == "en"  # a singleton never ends the lookup tag
    assert lexicon_path("EN") == LEXICON_DIR.resolve() / "en.toml"  # tags are case-insensitive


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A lexicon-shaped file outside every lexicon folder, whose term marks its use."""
    evil = tmp_path / "x" / "evil.toml"
    evil.parent.mkdir()
    evil.write_text('pitch_terms = ["zzzevil"]\n')
    return evil


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the lexicon loader reads."""
    paths: list[Path] = []
    read_text = Path.read_text

    def recording(self: Path, *args: Any, **kwargs: Any) -> str:
        paths.append(self.resolve())
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", recording)
    return paths


def pitch_of(state: CallState, text: str) -> float | None:
    state.apply(TranscriptSegment(state.call_id, "s1", Speaker.AGENT, 0, 1000, text))
    return state.metrics().window("call").pitch_ratio


def test_a_traversal_to_a_file_outside_the_folders_is_refused(
    tmp_path: Path, outside: Path, opened: list[Path]
) -> None:
    folder = tmp_path / "lexicons"
    folder.mkdir()
    (folder / "evil.toml").symlink_to(outside)  # a link out of the folder is no lexicon
    attempts = [
        os.path.relpath(outside.with_suffix(""), LEXICON_DIR),
        os.path.relpath(outside.with_suffix(""), folder),
        str(outside.with_suffix("")),
        "evil",
    ]
    for attempt in attempts:
        with pytest.raises(ValueError, match=r"no lexicon|not a language tag"):
            load_lexicon(attempt, None, folder)
        state = CallState("c", EngineConfig(lexicon_dir=folder))
        state.start(CallStarted("c", 0, language=attempt))  # as a state from the table would
        assert state.analyzer is analyzer_for("en", None, str(folder))
        assert state.lexicon_language is None  # unsupported: never the file's lexicon
        assert pitch_of(state, "zzzevil zzzevil") is None  # 1.0 with the file's terms
    assert "evil" not in available_languages(folder)
    assert outside.resolve() not in opened
    assert all(p.parent in (LEXICON_DIR.resolve(), folder.resolve()) for p in opened)


def test_a_configured_folder_adds_and_replaces_lexicons(tmp_path: Path, opened: list[Path]) -> None:
    folder = tmp_path / "lexicons"
    folder.mkdir()
    shipped = (LEXICON_DIR / "en.toml").read_text()
    (folder / "de.toml").write_text(shipped.replace("pitch_terms = [", 'pitch_terms = ["angebot", ', 1))
    (folder / "notes.txt").write_text("not a lexicon")
    assert available_languages(folder) == ["de", "en", "es"]
    assert lexicon_path("DE", folder) == (folder / "de.toml").resolve()
    state = CallState("c", EngineConfig(lexicon_dir=folder))
    state.start(CallStarted("c", 0, language="de"))
    assert state.analyzer.lexicon.language == "de"
    assert pitch_of(state, "angebot angebot") == 1.0
    assert analyzer_for("de", None, str(folder)) is state.analyzer
    with pytest.raises(ValueError, match="no lexicon for language 'de'"):
        load_lexicon("de")  # not in the shipped folder
    settings = Settings(language="de", lexicon_dir=folder)
    assert settings.engine_config().lexicon_dir == folder
    with pytest.raises(ValidationError, match="no lexicon for language 'de'"):
        Settings(language="de")
    with pytest.raises(ValidationError, match="is not a folder"):
        Settings(lexicon_dir=tmp_path / "missing")
