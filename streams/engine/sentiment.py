"""Lexicon sentiment of a segment, on VADER's lexicon (shipped in the vaderSentiment package)
adjusted to contact-center speech.

Transcripts from ASR have no capitals, punctuation or emoji, so of VADER's rules only
those that work on bare words are kept: the word valences, negation in the three
preceding words (valence x -0.74) and intensity boosters (+-0.293), and VADER's
normalisation ``s / sqrt(s^2 + 15)`` to -1..1 (constants from Hutto & Gilbert, 2014,
as in the vaderSentiment package).

The lexicon's lists adjust VADER to calls (docs/metrics.md, "Sentiment"):

* neutral words lose their VADER valence: their call sense carries none ("credit card",
  "interest rate", "pay my bill");
* complaint terms, single words or phrases, weigh ``COMPLAINT_VALENCE`` ("charged
  twice", "still waiting", "overdraft"), at least as negative as VADER has them;
* resolution terms weigh ``RESOLUTION_VALENCE`` ("that's all", "all set", "bye");
* a next-word negation ("no") negates only the single word after it: "no problem" is
  positive, but "no that's it thank you" is a content customer.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

NEGATION_SCALAR = -0.74
BOOSTER_INCREMENT = 0.293
NORMALISATION_ALPHA = 15.0
# About VADER's "wrong" (-2.1) or "unacceptable" (-2.0): a complaint is clearly negative.
COMPLAINT_VALENCE = -2.0
# About VADER's "okay" (0.9) or "alright" (1.0): a call wrapping up is mildly positive.
RESOLUTION_VALENCE = 1.0
# Negation looks this many words back.
NEGATION_WINDOW = 3


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


class LexiconWord:
    """What the rules know of one word: its valence (None: it carries none) and the
    phrases that start with it (the words after it, the phrase's valence), longest first."""

    __slots__ = ("phrases", "valence")

    def __init__(self, valence: float | None, phrases: tuple[tuple[tuple[str, ...], float], ...]) -> None:
        self.valence = valence
        self.phrases = phrases


class SentimentRules:
    """Word valences, phrase valences and modifiers of one lexicon, built once."""

    def __init__(
        self,
        negations: frozenset[str],
        boosters: frozenset[str],
        dampeners: frozenset[str],
        next_word_negations: frozenset[str] = frozenset(),
        neutral: frozenset[str] = frozenset(),
        complaints: frozenset[tuple[str, ...]] = frozenset(),
        resolutions: frozenset[tuple[str, ...]] = frozenset(),
        valences: dict[str, float] | None = None,
    ) -> None:
        words = dict(vader_lexicon() if valences is None else valences)
        for word in neutral:
            words.pop(word, None)
        phrases: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        for terms, valence in ((complaints, COMPLAINT_VALENCE), (resolutions, RESOLUTION_VALENCE)):
            for term in terms:
                if len(term) == 1:
                    # a complaint word VADER rates more negative keeps VADER's valence
                    old = words.get(term[0], 0.0)
                    words[term[0]] = valence if old * valence <= 0 or abs(valence) >= abs(old) else old
                elif term:
                    phrases.setdefault(term[0], []).append((term[1:], valence))
        # one entry per word that carries a valence or starts a phrase: a segment's word is
        # looked up once; longest phrase first, so "hung up on me" wins over "hung up"
        self.words = {
            word: LexiconWord(
                words.get(word),
                tuple(sorted(phrases.get(word, ()), key=lambda e: len(e[0]), reverse=True)),
            )
            for word in words.keys() | phrases.keys()
        }
        self.negations = negations
        self.next_word_negations = next_word_negations
        self.boosters = boosters
        self.dampeners = dampeners


def sentiment(tokens: list[str], rules: SentimentRules) -> float:
    """Compound sentiment of lower-case tokens in -1..1 (0 when no word carries any)."""
    lexicon_words = rules.words
    negations, boosters, dampeners = rules.negations, rules.boosters, rules.dampeners
    total = 0.0
    i, n = 0, len(tokens)
    # a negation inside a phrase ("never received") is spent on it: later words start
    # their negation window after the phrase
    window_floor = 0
    while i < n:
        entry = lexicon_words.get(tokens[i])
        if entry is None:
            i += 1
            continue
        size = 1
        valence = entry.valence
        if entry.phrases:
            for rest, phrase_valence in entry.phrases:
                end = i + 1 + len(rest)
                if end <= n and tuple(tokens[i + 1 : end]) == rest:
                    valence, size = phrase_valence, 1 + len(rest)
                    break
        if valence is None:
            i += 1
            continue
        if i > window_floor:
            before = tokens[i - 1]
            if before in boosters:
                valence += BOOSTER_INCREMENT if valence > 0 else -BOOSTER_INCREMENT
            elif before in dampeners:
                valence -= BOOSTER_INCREMENT if valence > 0 else -BOOSTER_INCREMENT
            # a phrase after a bare "no" starts a new clause: "no that's it", "no hidden fee"
            # is rarer than the answer
            if (size == 1 and before in rules.next_word_negations) or any(
                t in negations for t in tokens[max(window_floor, i - NEGATION_WINDOW) : i]
            ):
                valence *= NEGATION_SCALAR
        total += valence
        i += size
        if size > 1:
            window_floor = i
    if total == 0.0:
        return 0.0
    return total / math.sqrt(total * total + NORMALISATION_ALPHA)
