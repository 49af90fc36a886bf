"""Lexicons of the metric engine: data files per language, loaded once.

``streams/lexicons/<language>.toml`` ships with the package (English: ``en``). A
TOML override file of the same shape replaces whole lists (so an operator can
add their product names to ``pitch_terms`` without forking the code).
"""

from __future__ import annotations

import importlib.resources
import tomllib
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

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
}


def available_languages() -> list[str]:
    return sorted(p.stem for p in LEXICON_DIR.glob("*.toml"))


@lru_cache(maxsize=16)
def load_lexicon(language: str = "en", override_file: Path | None = None) -> Lexicon:
    """The lexicon of ``language``, with whole lists replaced from ``override_file``."""
    base = LEXICON_DIR / f"{language}.toml"
    if not base.is_file():
        raise ValueError(f"no lexicon for language {language!r} (have: {', '.join(available_languages())})")
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
        words = [str(w).lower() for w in data.get(field.name, [])]
        values[field.name] = _phrases(words) if field.name in _PHRASE_LISTS else frozenset(words)
    return Lexicon(**values)  # type: ignore[arg-type]
