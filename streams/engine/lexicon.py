"""Lexicons of the metric engine: data files per language, loaded once.

``streams/lexicons/<language>.toml`` ships with the package (English: ``en``); a
configured folder (``CALLFOCUS_LEXICON_DIR``) can add languages or replace shipped
ones. A lexicon is found by name: the folders are listed, and a language tag
(``streams/wire/languages.py``) is matched against the names of the ``*.toml`` files in
them, case-insensitively; no path is ever built from the tag, and a file (or symbolic
link) that resolves outside its folder is not a lexicon. A TOML override file of the
same shape replaces whole lists (so an operator can add their product names to
``pitch_terms`` without forking the code).
"""

from __future__ import annotations

import importlib.resources
import tomllib
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

from streams.wire.languages import is_language_tag, language_problem

# by package, not by __file__: compiled (streams/native.py), this module's file is the
# shared library of all compiled modules
LEXICON_DIR = Path(str(importlib.resources.files("streams") / "lexicons"))


def _phrases(values: list[str]) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(v.lower().split()) for v in values if v.strip())


@dataclass(frozen=True)
class Lexicon:
    language: str
    backchannel: frozenset[tuple[str, ...]]
    clause_fillers: frozenset[str]
    clause_adverbs: frozenset[str]
    open_question_openers: frozenset[tuple[str, ...]]
    service_openers: frozenset[tuple[str, ...]]
    greeting_markers: frozenset[tuple[str, ...]]
    data_question_nouns: frozenset[str]
    closed_question_openers: frozenset[str]
    question_subjects: frozenset[str]
    statement_subjects: frozenset[str]
    customer_references: frozenset[str]
    self_references: frozenset[str]
    pitch_terms: frozenset[tuple[str, ...]]
    discovery_terms: frozenset[tuple[str, ...]]
    stopwords: frozenset[str]
    negations: frozenset[str]
    boosters: frozenset[str]
    dampeners: frozenset[str]
    next_word_negations: frozenset[str]
    sentiment_neutral: frozenset[str]
    complaint_terms: frozenset[tuple[str, ...]]
    resolution_terms: frozenset[tuple[str, ...]]
    # customer objections (price, timing, competitor, not interested); optional in a lexicon
    objection_terms: frozenset[tuple[str, ...]] = frozenset()
    # wh-words opening an open question ("how", "why") and asking for one item (closed:
    # "when", "where"); optional, English's built in (streams/engine/text.py)
    open_question_words: frozenset[str] = frozenset()
    closed_question_words: frozenset[str] = frozenset()
    # the speaker-role check: lines only an agent says, lines only a customer says; optional
    agent_lines: frozenset[tuple[str, ...]] = frozenset()
    customer_lines: frozenset[tuple[str, ...]] = frozenset()
    # word valences (-4..4, as VADER's) replacing VADER's English lexicon; optional: a
    # lexicon without them is scored with VADER's (English)
    valences: tuple[tuple[str, float], ...] = ()

    @property
    def backchannel_tokens(self) -> frozenset[str]:
        return frozenset(p[0] for p in self.backchannel if len(p) == 1)


_PHRASE_LISTS = {
    "backchannel",
    "open_question_openers",
    "service_openers",
    "greeting_markers",
    "pitch_terms",
    "discovery_terms",
    "complaint_terms",
    "resolution_terms",
    "objection_terms",
    "agent_lines",
    "customer_lines",
}


@lru_cache(maxsize=8)
def lexicons_in(folder: Path) -> dict[str, Path]:
    """The lexicon files of one folder, by lower-case language tag (listed once).

    Only regular files named ``<language tag>.toml`` whose real path is inside the
    folder's real path count: a symbolic link out of the folder does not.
    """
    root = folder.resolve()
    found: dict[str, Path] = {}
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return found
    for entry in entries:
        if entry.suffix != ".toml" or not is_language_tag(entry.stem):
            continue
        real = entry.resolve()
        if real.is_relative_to(root) and real.is_file():
            found[entry.stem.lower()] = real
    return found


def lexicon_path(language: str, lexicon_dir: Path | None = None) -> Path | None:
    """The file of ``language``'s lexicon: in ``lexicon_dir`` if it has one, else the
    shipped one; None if neither folder has it. ValueError if ``language`` is not a
    language tag."""
    problem = language_problem(language)
    if problem is not None:
        raise ValueError(problem)
    for folder in (lexicon_dir, LEXICON_DIR):
        if folder is not None:
            found = lexicons_in(Path(folder)).get(language.lower())
            if found is not None:
                return found
    return None


def lexicon_language(language: str, lexicon_dir: Path | None = None) -> str | None:
    """The lexicon a call in ``language`` is scored with: the language tag itself, or the tag
    cut back one subtag at a time (``es-MX`` -> ``es``, ``zh-Hant-TW`` -> ``zh-Hant`` ->
    ``zh``; the lookup of RFC 4647 § 3.4), lower case; None if no folder has any of them or
    ``language`` is not a language tag (the call is then unsupported: docs/languages.md)."""
    if language_problem(language) is not None:
        return None
    subtags = language.lower().split("-")
    while subtags:
        candidate = "-".join(subtags)
        if lexicon_path(candidate, lexicon_dir) is not None:
            return candidate
        subtags.pop()
        if subtags and len(subtags[-1]) == 1:  # a singleton (x-, u-) never ends a lookup tag
            subtags.pop()
    return None


def available_languages(lexicon_dir: Path | None = None) -> list[str]:
    """The languages with a lexicon, shipped or in ``lexicon_dir``."""
    names = set(lexicons_in(LEXICON_DIR))
    if lexicon_dir is not None:
        names |= set(lexicons_in(Path(lexicon_dir)))
    return sorted(names)


@lru_cache(maxsize=16)
def load_lexicon(
    language: str = "en", override_file: Path | None = None, lexicon_dir: Path | None = None
) -> Lexicon:
    """The lexicon of ``language`` (shipped, or from ``lexicon_dir``), with whole lists
    replaced from ``override_file``. ValueError if there is none or ``language`` is not a
    language tag."""
    base = lexicon_path(language, lexicon_dir)
    if base is None:
        have = ", ".join(available_languages(lexicon_dir))
        raise ValueError(f"no lexicon for language {language!r} (have: {have})")
    data = tomllib.loads(base.read_text(encoding="utf-8"))
    if override_file is not None:
        override = tomllib.loads(Path(override_file).read_text(encoding="utf-8"))
        unknown = set(override) - {f.name for f in fields(Lexicon)}
        if unknown:
            raise ValueError(f"{override_file}: unknown lexicon lists {sorted(unknown)}")
        data.update(override)
    values: dict[str, object] = {"language": language}
    for field in fields(Lexicon):
        if field.name == "language":
            continue
        if field.name == "valences":
            table = data.get("valences", {})
            if not isinstance(table, dict):
                raise ValueError(f"{base}: valences must be a table of word = number")
            values["valences"] = tuple(sorted((str(w).lower(), float(v)) for w, v in table.items()))
            continue
        words = [str(w).lower() for w in data.get(field.name, [])]
        values[field.name] = _phrases(words) if field.name in _PHRASE_LISTS else frozenset(words)
    return Lexicon(**values)  # type: ignore[arg-type]
