"""What a segment's words say: questions, references, pitch vs discovery, sentiment.

Works on ASR output without punctuation or capitals: questions are found from their
openers at a clause start (a wh-word, an inverted auxiliary, "tell me" ...), so a
trailing "?" is a bonus, not a requirement.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import Final

from streams.engine.config import (
    MAX_ANALYSED_WORDS,
    MAX_CONTENT_CHARS,
    MAX_CONTENT_WORD_CHARS,
    MAX_ORG_NAME_WORDS,
)
from streams.engine.lexicon import Lexicon
from streams.engine.sentiment import SentimentRules, sentiment

# letters and digits of any script ("qué", "señor", "¿cómo" -> "cómo"): [^\W_] is \w without "_"
_TOKEN = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
# the same tokens for ASCII text, a third faster (a 20,000-character segment: 930 -> 700 µs)
_ASCII_TOKEN = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
_CLAUSE_END = re.compile(r"[.?!;]+")
_WH_OPEN = frozenset({"what", "what's", "whats", "how", "how's", "why", "why's"})
_WH_CLOSED = frozenset({"which", "when", "where", "who", "whose", "whom"})
_IMPERATIVE_DATA = frozenset({"repeat", "confirm", "spell"})
# Subjects that make a wh-word start a statement ("what i'll do is ...").
_WH_STATEMENT = frozenset({"i", "we", "they", "he", "she", "i'll", "we'll", "i'm", "we're"})
# Strong subjects for an inverted auxiliary in the middle of a segment.
_MID_SUBJECTS = frozenset({"you", "we", "there"})


# Longer texts are tokenised in one pass of _TOKEN (tokens()): a few hundred words.
_LONG_TEXT_CHARS: Final = 2_000

# Words whose content stem is remembered (TextAnalyzer.content_words), per analyzer.
CONTENT_WORDS_KEPT = 100_000


# the kinds of a reference word (TextAnalyzer.references), as bits
_CUSTOMER_REF: Final = 1
_SELF_REF: Final = 2
# a word's roles in a clause (TextAnalyzer._questions_in), as bits
_FILLER: Final = 1
_ADVERB: Final = 2
_QUESTION_WORD: Final = 4


def tokens(text: str) -> list[str]:
    """The words of ``text``: runs of lower-case letters and digits, joined by inner
    apostrophes and hyphens (``_TOKEN``). A token never spans white space, so the text is
    split there first and only the pieces with other characters go through the pattern:
    half the cost of the pattern over the whole text for ASR output. A long text goes
    through the pattern in one pass: piece by piece, a text of many short pieces with
    punctuation (``"ok? yes. no!"``) costs twice as much, and a 20,000-character segment
    (``MAX_TEXT_CHARS``) must stay cheap whatever it holds."""
    if len(text) > _LONG_TEXT_CHARS:
        return _findall(text.lower())
    words = []
    for piece in text.lower().split():
        if piece.isascii():
            if piece.isalnum():
                words.append(piece)
            else:
                words.extend(_ASCII_TOKEN.findall(piece))
        else:
            words.extend(_TOKEN.findall(piece))
    return words


def _findall(lowered: str) -> list[str]:
    """The tokens of lower-cased text."""
    return (_ASCII_TOKEN if lowered.isascii() else _TOKEN).findall(lowered)


def analysed_part(text: str, words: list[str]) -> tuple[str, list[str]]:
    """The part of a segment of more than :data:`MAX_ANALYSED_WORDS` words that is
    analysed: its text (lower-cased) up to the end of that many words, and those words;
    ``words`` are ``tokens(text)``.

    Between two tokens there is no letter or digit (the pattern would have matched
    there), so each word is found at its own place by a plain search from the end of
    the one before: a pass over the part, not over the whole text.
    """
    lowered = text.lower()
    head = words[:MAX_ANALYSED_WORDS]
    end = 0
    for word in head:
        end = lowered.find(word, end) + len(word)
    return lowered[:end], head


class PhraseTagger:
    """Counts several phrase lists in one pass over the words (first-word index)."""

    __slots__ = ("_by_first", "_size")

    def __init__(self, *lists: frozenset[tuple[str, ...]]) -> None:
        by_first: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for tag, phrases in enumerate(lists):
            for phrase in phrases:
                by_first.setdefault(phrase[0], []).append((phrase[1:], tag))
        self._by_first = {
            k: tuple(sorted(v, key=lambda e: len(e[0]), reverse=True)) for k, v in by_first.items()
        }
        self._size = len(lists)

    def count(self, words: list[str]) -> list[int]:
        """Occurrences per list; within one list matches do not overlap (longest first)."""
        counts = [0] * self._size
        next_free = [0] * self._size
        by_first = self._by_first
        for i, word in enumerate(words):
            entries = by_first.get(word)
            if entries is None:
                continue
            for rest, tag in entries:
                if i >= next_free[tag] and (not rest or tuple(words[i + 1 : i + 1 + len(rest)]) == rest):
                    counts[tag] += 1
                    next_free[tag] = i + 1 + len(rest)
        return counts


class _PhraseNode:
    """A node of a :class:`PhraseCounter`'s word trie: a phrase ends here when ``end``."""

    __slots__ = ("end", "next")

    def __init__(self) -> None:
        self.end = False
        self.next: dict[str, _PhraseNode] = {}


class PhraseCounter:
    """Counts occurrences of phrases, in a trie of their words: at each word, one dict probe
    per word of the longest phrase it could start, however many phrases share a beginning
    (organisation names come from the events: a list of names that all begin alike must
    not make a segment cost more)."""

    __slots__ = ("_first",)

    def __init__(self, phrases: frozenset[tuple[str, ...]]) -> None:
        root = _PhraseNode()
        for phrase in phrases:
            node = root
            for word in phrase:
                child = node.next.get(word)
                if child is None:
                    child = node.next[word] = _PhraseNode()
                node = child
            node.end = True
        self._first = root.next

    def count(self, words: list[str]) -> int:
        """Non-overlapping occurrences, longest phrase first."""
        count = i = 0
        first = self._first
        n = len(words)
        while i < n:
            node: _PhraseNode | None = first.get(words[i])
            i += 1
            if node is None:
                continue
            matched = i if node.end else 0  # where the longest phrase found so far ends
            j, after = i, node.next
            while after and j < n:
                node = after.get(words[j])
                if node is None:
                    break
                j += 1
                if node.end:
                    matched = j
                after = node.next
            if matched:
                count += 1
                i = matched
        return count


def _max_len(phrases: frozenset[tuple[str, ...]]) -> int:
    return max((len(p) for p in phrases), default=1)


class Questions:
    """Questions of one segment (a plain class: its __init__ compiles, a dataclass's does not)."""

    def __init__(self, total: int, open: int, service_openers: int = 0) -> None:
        self.total: Final = total
        self.open: Final = open
        # of which scripted "how can I help you" openers (all open)
        self.service_openers: Final = service_openers


class TextAnalyzer:
    """Per-segment text features with one lexicon (and optional org names)."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._open_len = _max_len(lexicon.open_question_openers)
        self._open_first = frozenset(p[0] for p in lexicon.open_question_openers if len(p) > 1)
        self._bc_len = _max_len(lexicon.backchannel)
        self._agent_phrases = PhraseTagger(
            lexicon.pitch_terms, lexicon.discovery_terms, lexicon.service_openers, lexicon.greeting_markers
        )
        self._service = PhraseCounter(lexicon.service_openers)
        self._role_lines = PhraseTagger(lexicon.agent_lines, lexicon.customer_lines)
        self._objections = PhraseCounter(lexicon.objection_terms)
        self._sentiment = SentimentRules(
            lexicon.negations,
            lexicon.boosters,
            lexicon.dampeners,
            lexicon.next_word_negations,
            lexicon.sentiment_neutral,
            lexicon.complaint_terms,
            lexicon.resolution_terms,
            dict(lexicon.valences) if lexicon.valences else None,
        )
        # the wh-words: English's built in, another language's from its lexicon
        self._wh_open = _WH_OPEN | lexicon.open_question_words
        self._wh_closed = _WH_CLOSED | lexicon.closed_question_words
        self._auxiliaries = lexicon.closed_question_openers - self._wh_closed - _IMPERATIVE_DATA
        # every word at which _question_at can find a question: the others are skipped
        self._question_words = (
            self._open_first | self._wh_open | self._wh_closed | self._auxiliaries | _IMPERATIVE_DATA
        )
        # each word's roles in _questions_in (bits): one probe a word, none of them for most
        self._clause_role = {
            word: _FILLER * (word in lexicon.clause_fillers)
            + _ADVERB * (word in lexicon.clause_adverbs)
            + _QUESTION_WORD * (word in self._question_words)
            for word in lexicon.clause_fillers | lexicon.clause_adverbs | self._question_words
        }
        self._content_of: dict[str, str] = {}
        # each reference word's kind (_CUSTOMER_REF, _SELF_REF or both): one probe a word
        self._reference_kind = {
            word: _CUSTOMER_REF * (word in lexicon.customer_references)
            + _SELF_REF * (word in lexicon.self_references)
            for word in lexicon.customer_references | lexicon.self_references
        }

    # -- backchannels -------------------------------------------------------------------
    def is_backchannel(self, words: list[str], max_words: int) -> bool:
        """At most ``max_words`` words, every one part of a listening token or phrase."""
        if not words or len(words) > max_words:
            return False
        i = 0
        while i < len(words):
            for size in range(min(self._bc_len, len(words) - i), 0, -1):
                if tuple(words[i : i + size]) in self.lexicon.backchannel:
                    i += size
                    break
            else:
                return False
        return True

    # -- questions ----------------------------------------------------------------------
    def questions(self, text: str, words: list[str] | None = None, openers: int | None = None) -> Questions:
        """Questions in ``text``; pass its ``tokens`` and service-opener count to save work."""
        total = open_ = 0
        words = tokens(text) if words is None else words
        openers = self._service.count(words) if openers is None else openers
        if "?" in text or "." in text or "!" in text or ";" in text:
            chunks = [_findall(chunk) for chunk in _CLAUSE_END.split(text.lower())]
            marks = _CLAUSE_END.findall(text)
        else:
            chunks, marks = [words], []
        for index, chunk_words in enumerate(chunks):
            found = self._questions_in(chunk_words)
            ends_with_mark = index < len(marks) and "?" in marks[index]
            if not found and ends_with_mark and chunk_words:
                found = [False]  # a "?" with no opener: a closed (declarative) question
            total += len(found)
            open_ += sum(found)
        openers = min(openers, open_)
        return Questions(total, open_, openers)

    def _questions_in(self, words: list[str]) -> list[bool]:
        """One entry per question found in a clause run: True when open.

        Without punctuation a clause ends at a filler ("and", "okay", "so" ...); until
        then the words after a detected opener belong to the same question. A clause
        adverb ("also", "now", "then" ...) is skipped at a clause start but does not start
        one: "the tier also has our routing" is a statement, and an inverted auxiliary
        after it is judged by the mid-segment rule ("... now do you have your card").
        """
        roles = self._clause_role
        found: list[bool] = []
        clause_start, in_question = True, False
        for i in range(len(words)):
            role = roles.get(words[i], 0)
            # only a question word can open a question (_question_at)
            asks = role & _QUESTION_WORD != 0
            if role & _FILLER and not (asks and self._opener_at(words, i)):
                clause_start, in_question = True, False
                continue
            if clause_start and role & _ADVERB and not (asks and self._opener_at(words, i)):
                continue
            if asks and not in_question:
                kind = self._question_at(words, i, clause_start)
                if kind is not None:
                    found.append(kind)
                    in_question = True
            clause_start = False
        return found

    def _opener_at(self, words: list[str], i: int) -> bool:
        return self._question_at(words, i, True) is not None

    def _question_at(self, words: list[str], i: int, clause_start: bool) -> bool | None:
        word = words[i]
        if word not in self._question_words:
            return None
        lex = self.lexicon
        nxt = words[i + 1] if i + 1 < len(words) else ""
        # Multi-word open openers ("tell me", "walk me through", "is there anything") anywhere.
        for size in range(min(self._open_len, len(words) - i) if word in self._open_first else 0, 1, -1):
            if tuple(words[i : i + size]) in lex.open_question_openers and (
                clause_start or size >= 3 or words[i - 1] not in lex.statement_subjects
            ):
                return True
        if not clause_start:
            prev = words[i - 1]
            after = words[i + 2] if i + 2 < len(words) else ""
            # A wh-word then an inverted auxiliary: "... my name is mary how can i help you".
            if word in self._wh_open and nxt in self._auxiliaries and after in lex.question_subjects:
                return not self._asks_for_data(words, i)
            if word in self._wh_closed and nxt in self._auxiliaries and after in lex.question_subjects:
                return False
            # An inverted auxiliary mid-segment: "... account is there", "... code did you".
            if word in self._auxiliaries and nxt in _MID_SUBJECTS and prev not in lex.statement_subjects:
                return False
            return None
        if word in self._wh_open:
            if not nxt or (nxt in _WH_STATEMENT and not self._inverted_at(words, i + 2)):
                return None
            return not self._asks_for_data(words, i)
        if word in self._wh_closed:
            if word in ("when", "where") and nxt not in self._auxiliaries:
                return None  # "when you get the card ..." is a condition, not a question
            return False if nxt else None
        if word in self._auxiliaries and nxt in lex.question_subjects:
            return False
        if word in _IMPERATIVE_DATA and nxt in (
            "that",
            "it",
            "the",
            "your",
            "back",
            "again",
            "please",
            "for",
        ):
            return False
        return None

    def _inverted_at(self, words: list[str], i: int) -> bool:
        """An inverted auxiliary and a strong subject at ``i``: after "what they" it shows
        "they" was no subject but a misheard noun ("what they would you like" for "what
        day would you like"); "what they do is ..." stays a statement."""
        return i + 1 < len(words) and words[i] in self._auxiliaries and words[i + 1] in _MID_SUBJECTS

    def _asks_for_data(self, words: list[str], i: int) -> bool:
        """ "what is your account number", "what day works": a data (closed) question."""
        window = words[i + 1 : i + 5]
        return any(w in self.lexicon.data_question_nouns for w in window)

    # -- references and stance ----------------------------------------------------------
    def references(
        self, words: list[str], customer_orgs: PhraseCounter | None, seller_orgs: PhraseCounter | None
    ) -> tuple[int, int]:
        """Customer and self references: pronouns plus the call's organisation names."""
        kinds = self._reference_kind
        customer = own = 0
        for word in words:
            kind = kinds.get(word, 0)
            if kind:
                customer += kind & _CUSTOMER_REF
                own += (kind & _SELF_REF) >> 1
        if customer_orgs is not None:
            customer += customer_orgs.count(words)
        if seller_orgs is not None:
            own += seller_orgs.count(words)
        return customer, own

    def stance(self, words: list[str]) -> int:
        """+1 when the utterance is about the offer, -1 about the customer's situation, else 0."""
        return self.agent_phrases(words)[0]

    def agent_phrases(self, words: list[str]) -> tuple[int, int, bool]:
        """Stance, scripted service openers and whether a greeting is said, in one pass."""
        pitch, discovery, service, greeting = self._agent_phrases.count(words)
        return (pitch > discovery) - (discovery > pitch), service, greeting > 0

    def role_lines(self, words: list[str]) -> int:
        """Agent lines minus customer lines in an utterance (``agent_lines``,
        ``customer_lines``): above 0 it sounds like an agent, below like a customer."""
        agent, customer = self._role_lines.count(words)
        return agent - customer

    def objections(self, words: list[str]) -> int:
        """Objection phrases (``objection_terms``) in a customer utterance."""
        return self._objections.count(words)

    def content_words(self, words: list[str]) -> tuple[str, ...]:
        """Distinct content words, interned (a tuple: a third of a set's memory), in the
        order said, while they fit in :data:`MAX_CONTENT_CHARS` characters in all."""
        # A speaker's vocabulary is small: each word's stem (or "" for a word without
        # content) is worked out once, not at each of its occurrences (a fifth of a
        # segment's analysis). Bounded, since names and numbers keep adding words.
        content_of = self._content_of
        if len(content_of) + len(words) > CONTENT_WORDS_KEPT:
            content_of.clear()
        stems: list[str] = []
        room = MAX_CONTENT_CHARS
        for word in words:
            stem = content_of.get(word)
            if stem is None:
                if len(word) > MAX_CONTENT_WORD_CHARS:
                    continue  # not a word: not remembered either
                stem = content_of[word] = self._content_stem(word)
            # a segment has a few content words: a list beats a set, and keeps their order
            if stem and stem not in stems:
                room -= len(stem)
                if room < 0:
                    break
                stems.append(stem)
        return tuple(stems)

    def _content_stem(self, word: str) -> str:
        if len(word) > 2 and word not in self.lexicon.stopwords and not word.isdigit():
            return sys.intern(_stem(word))
        return ""

    def sentiment(self, words: list[str]) -> float:
        return sentiment(words, self._sentiment)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@lru_cache(maxsize=1024)
def org_names(names: str | None) -> PhraseCounter | None:
    """A counter of ';'-separated organisation names, or None when there are none; a name
    of more than :data:`MAX_ORG_NAME_WORDS` words is not counted. Shared by the calls with
    the same names (most calls name the same seller): a counter never changes."""
    phrases = frozenset(
        t for t in (tuple(tokens(n)) for n in (names or "").split(";")) if 0 < len(t) <= MAX_ORG_NAME_WORDS
    )
    return PhraseCounter(phrases) if phrases else None
