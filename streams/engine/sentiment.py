"""Lexicon sentiment of a segment, on VADER's lexicon (shipped in the vaderSentiment package).

Transcripts from ASR have no capitals, punctuation or emoji, so of VADER's rules only
those that work on bare words are kept: the word valences, negation in the three
preceding words (valence x -0.74) and intensity boosters (+-0.293), and VADER's
normalisation ``s / sqrt(s^2 + 15)`` to -1..1 (constants from Hutto & Gilbert, 2014,
as in the vaderSentiment package). This is ~10x faster than ``polarity_scores`` on
the same text; tests check that the two rank corpus segments alike.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

NEGATION_SCALAR = -0.74
BOOSTER_INCREMENT = 0.293
NORMALISATION_ALPHA = 15.0


@lru_cache(maxsize=1)
def vader_lexicon() -> dict[str, float]:
    import vaderSentiment

    path = Path(vaderSentiment.__file__).with_name("vader_lexicon.txt")
    lexicon: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            lexicon[parts[0]] = float(parts[1])
    return lexicon


def sentiment(
    tokens: list[str],
    negations: frozenset[str],
    boosters: frozenset[str],
    dampeners: frozenset[str],
    valences: dict[str, float] | None = None,
) -> float:
    """Compound sentiment of lower-case tokens in -1..1 (0 when no word carries any)."""
    valences = valences if valences is not None else vader_lexicon()
    total = 0.0
    for i, token in enumerate(tokens):
        valence = valences.get(token)
        if valence is None:
            continue
        if i:
            before = tokens[i - 1]
            if before in boosters:
                valence += BOOSTER_INCREMENT if valence > 0 else -BOOSTER_INCREMENT
            elif before in dampeners:
                valence -= BOOSTER_INCREMENT if valence > 0 else -BOOSTER_INCREMENT
            if any(t in negations for t in tokens[max(0, i - 3) : i]):
                valence *= NEGATION_SCALAR
        total += valence
    if total == 0.0:
        return 0.0
    return total / math.sqrt(total * total + NORMALISATION_ALPHA)
