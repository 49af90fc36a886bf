"""Finding and redacting personal data in transcript text (pure: no Kafka, no Faust).

:class:`Redactor` finds payment card numbers, social security numbers, bank routing and
account numbers, phone numbers, e-mail addresses and dates of birth, written in digits or
spoken as words ("four one one one ...", "john dot smith at gmail dot com") as ASR output
has them: lower case, often without punctuation. Each found item is replaced by a token
naming its kind (``[card]``), or in hash mode by the kind and a keyed hash of its
normalised value (``[card:fkbmaeohjcpd]``), so the same number links across calls without
being recoverable. What is found and what is not: docs/privacy.md.

Most segments hold nothing of the kind: a pre-filter (:func:`may_hold_pii`) passes a text
without a digit, an ``@``, two digit words in a row or a word that only e-mails and birth
dates bring, unchanged, at well under a microsecond.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

RedactionMode = Literal["off", "mask", "hash"]
MODES: Final = ("off", "mask", "hash")

# every kind the redactor finds: the bounded values of the metric's label
KINDS: Final = ("card", "ssn", "routing", "account", "phone", "email", "dob")

_DIGIT_WORDS: Final = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}

# -- Pre-filter ---------------------------------------------------------------------------
_DIGITS_AND_AT: Final = b"0123456789@"
_WORD_TRIE: Final = r"z(?:ero)|o(?:h|ne)|t(?:wo|hree)|f(?:our|ive)|s(?:ix|even)|eight|nine"
# after a space: two digit words in a row, or a word that spoken e-mails and birth dates
# bring. The literal space first lets the regex engine skip from space to space.
_SPOKEN_CUE: Final = re.compile(rf" (?:(?:{_WORD_TRIE}) (?:{_WORD_TRIE})\b|dot\b|b(?:orn|irth)|dob)".encode())


def may_hold_pii(text: str) -> bool:
    """Whether a text may hold something to redact: a digit, an ``@``, two digit words in a
    row, or a word that spoken e-mails ("dot") and birth dates ("born") bring. False means
    certainly nothing; true, only maybe.

    On bytes: deleting digits and ``@`` (``bytes.translate``) tells whether there are any
    faster than a regular expression looking for them; 0.7 µs for a segment of ten words
    here, of which the spoken cues' expression takes 0.45."""
    lowered = text.lower().encode()
    if len(lowered.translate(None, _DIGITS_AND_AT)) != len(lowered):
        return True
    return _SPOKEN_CUE.search(b" " + lowered) is not None


# -- Tokens and digit runs ----------------------------------------------------------------
_TOKEN: Final = re.compile(r"\d+|[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
# what may stand between two pieces of one number: spaces, dashes, dots, slashes, brackets
_NUMBER_GAP: Final = re.compile(r"[\s\-./,()]{1,3}")


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    text: str  # lower case
    digits: str  # its digits if a digit group or a digit word, else ""


@dataclass
class _Run:
    """Consecutive digit groups and digit words: one number, as written or spoken."""

    first: int  # index of its first token
    last: int  # index of its last token
    digits: str
    groups: list[str] = field(default_factory=list)


def _tokens(text: str) -> list[_Token]:
    found = []
    for match in _TOKEN.finditer(text):
        word = match.group().lower()
        digits = word if word.isdigit() else _DIGIT_WORDS.get(word, "")
        if word.isdigit() and not word.isascii():
            digits = ""  # other scripts' digits: not numbers this redactor reads
        if match.start() > 0 and text[match.start() - 1] == "[":
            word = ""  # a token a redaction wrote ("[account]"): no context for what follows
        found.append(_Token(match.start(), match.end(), word, digits))
    return found


def _runs(text: str, tokens: list[_Token]) -> Iterator[_Run]:
    run: _Run | None = None
    for index, token in enumerate(tokens):
        if not token.digits:
            if run is not None:
                yield run
            run = None
            continue
        if run is not None and _NUMBER_GAP.fullmatch(text, tokens[index - 1].end, token.start):
            run.last = index
            run.digits += token.digits
            run.groups.append(token.digits)
            continue
        if run is not None:
            yield run
        run = _Run(index, index, token.digits, [token.digits])
    if run is not None:
        yield run


# -- Checks -------------------------------------------------------------------------------
def luhn_valid(digits: str) -> bool:
    """The Luhn check of payment card numbers (ISO/IEC 7812-1)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def aba_valid(digits: str) -> bool:
    """The checksum of a US bank routing (ABA) number: 3-7-1 weights, a multiple of 10, and a
    first two digits the Federal Reserve assigns (00-12, 21-32, 61-72, 80)."""
    if len(digits) != 9:
        return False
    prefix = int(digits[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 10 == 0


def ssn_valid(digits: str) -> bool:
    """A number the SSA could have issued: area not 000, 666 or 9xx, group not 00, serial not 0000."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def nanp_valid(digits: str) -> bool:
    """A North American number: 10 digits, the area code starting with 2-9 (a leading 1
    allowed). The exchange is not checked: "555 123 4567", the made-up kind, is found too."""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and digits[0] >= "2"


# -- Context ------------------------------------------------------------------------------
_SSN_WORDS: Final = frozenset({"social", "ssn", "ss", "security"})
_ROUTING_WORDS: Final = frozenset({"routing", "aba", "transit", "bank", "wire"})
_ACCOUNT_WORDS: Final = frozenset({"account", "acct", "checking", "savings", "iban", "member"})
_DOB_WORDS: Final = frozenset({"born", "birth", "birthday", "birthdate", "dob", "bday"})
_PHONE_WORDS: Final = frozenset({"phone", "cell", "mobile", "number", "call", "reach", "text", "fax"})
_CONTEXT_BEFORE: Final = 8  # words looked at before a number
_CONTEXT_AFTER: Final = 2


def _context(tokens: list[_Token], first: int, last: int) -> set[str]:
    before = [t.text for t in tokens[max(0, first - _CONTEXT_BEFORE) : first] if not t.digits]
    after = [t.text for t in tokens[last + 1 : last + 1 + _CONTEXT_AFTER] if not t.digits]
    return set(before) | set(after)


# -- Dates --------------------------------------------------------------------------------
_MONTHS: Final = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_UNITS: Final = r"one|two|three|four|five|six|seven|eight|nine"
_ORDINAL_UNITS: Final = r"first|second|third|fourth|fifth|sixth|seventh|eighth|ninth"
_TEENS: Final = r"ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_ORDINAL_TEENS: Final = (
    r"tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth"
)
_TENS: Final = r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_DAY: Final = (
    rf"\d{{1,2}}(?:st|nd|rd|th)?|(?:twenty|thirty)[\s-](?:{_ORDINAL_UNITS}|{_UNITS})|twentieth|thirtieth"
    rf"|{_ORDINAL_TEENS}|{_ORDINAL_UNITS}|{_TEENS}|{_UNITS}"
)
_YEAR_TAIL: Final = rf"(?:(?:{_TENS})(?:[\s-](?:{_UNITS}))?|{_TEENS}|oh[\s-](?:{_UNITS})|hundred)"
_YEAR: Final = (
    rf"\d{{4}}|'?\d{{2}}|(?:nineteen|eighteen)[\s-]{_YEAR_TAIL}"
    rf"|two[\s-]thousand(?:[\s-](?:and[\s-])?(?:{_UNITS}|{_TEENS}|{_TENS}(?:[\s-](?:{_UNITS}))?))?"
    rf"|twenty[\s-](?:{_TEENS}|{_TENS}|oh[\s-](?:{_UNITS}))"
)
_WORD_DATE: Final = re.compile(
    rf"\b(?:(?:the\s+)?(?:{_DAY})\s+(?:of\s+)?(?:{_MONTHS})|(?:{_MONTHS})\.?\s+(?:the\s+)?(?:{_DAY}))"
    rf"(?:,?\s+(?:of\s+)?(?:{_YEAR}))?\b"
    rf"|\b(?:{_MONTHS})\.?,?\s+(?:of\s+)?(?:{_YEAR})\b",
    re.IGNORECASE,
)
# not a token a redaction wrote ("[dob]"), so that redacting twice changes nothing
_DOB_CONTEXT: Final = re.compile(r"(?<!\[)\b(?:born|birth\w*|dob|d\s?o\s?b|bday)\b", re.IGNORECASE)
_DOB_REACH_CHARS: Final = 80  # how far after "born", "birth" ... a date is looked for


def _date_digits(groups: list[str], digits: str) -> bool:
    """Whether a number could be a date: 6-8 digits or day, month and year groups."""
    if len(groups) == 3 and all(1 <= len(g) <= 4 for g in groups):
        return True
    return 6 <= len(digits) <= 8


# -- E-mail addresses ---------------------------------------------------------------------
# repetitions bounded (a local part has at most 64 characters): unbounded, a 20,000-character
# segment of "1-1-1-..." took a second to search
_EMAIL: Final = re.compile(r"[\w.%+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[a-z]{2,24}\b", re.IGNORECASE)
_SPOKEN_EMAIL: Final = re.compile(
    r"\b(?P<local>[a-z0-9]{1,64}(?:(?:\s+(?:dot|underscore|dash|hyphen)\s+|[._-])[a-z0-9]{1,64}){0,8})"
    r"\s+(?:at|at\s+sign)\s+"
    r"(?P<domain>[a-z0-9-]{1,63}(?:(?:\s+dot\s+|\.)[a-z0-9-]{1,63}){0,8})(?:\s+dot\s+|\.)"
    r"(?P<tld>com|net|org|edu|gov|mil|io|co|us|uk|ca|info|biz|me)\b",
    re.IGNORECASE,
)
_SPOKEN_SEPARATORS: Final = {"dot": ".", "underscore": "_", "dash": "-", "hyphen": "-"}


def _spoken_email_value(match: re.Match[str]) -> str:
    def written(part: str) -> str:
        words = re.split(r"\s+", part.lower())
        return "".join(_SPOKEN_SEPARATORS.get(word, word) for word in words)

    return f"{written(match['local'])}@{written(match['domain'])}.{match['tld'].lower()}"


# -- The redactor -------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    """One item found: where it is in the text, its kind and its normalised value."""

    start: int
    end: int
    kind: str
    value: str


def find_pii(text: str) -> list[Found]:
    """Every item to redact in ``text``, in order, none overlapping."""
    candidates: list[Found] = []
    if "@" in text:
        for match in _EMAIL.finditer(text):
            candidates.append(Found(match.start(), match.end(), "email", match.group().lower()))
    if re.search(r"\sat\s", text, re.IGNORECASE):
        for match in _SPOKEN_EMAIL.finditer(text):
            candidates.append(Found(match.start(), match.end(), "email", _spoken_email_value(match)))
    for context in _DOB_CONTEXT.finditer(text):
        reach = text[context.end() : context.end() + _DOB_REACH_CHARS]
        date = _WORD_DATE.search(reach)
        if date is not None:
            start = context.end() + date.start()
            candidates.append(Found(start, context.end() + date.end(), "dob", date.group().lower()))
    tokens = _tokens(text)
    for run in _runs(text, tokens):
        candidates.extend(_classify(text, tokens, run))
    return _without_overlaps(candidates)


def _classify(text: str, tokens: list[_Token], run: _Run) -> list[Found]:
    context = _context(tokens, run.first, run.last)
    found = _whole(text, tokens, run.first, run.last, run.groups, context)
    if found is not None or len(run.digits) < 12 or run.first == run.last:
        return [] if found is None else [found]
    # numbers said in one breath ("4111 ... 1111 0526", a card then a social security
    # number): from the left, the longest stretch on token boundaries that is one item,
    # each read with the context of the whole run
    found_parts: list[Found] = []
    groups = run.groups
    first = 0
    while first < len(groups):
        for last in range(min(len(groups), first + _LONGEST_ITEM_TOKENS) - 1, first - 1, -1):
            item = _whole(
                text, tokens, run.first + first, run.first + last, groups[first : last + 1], context
            )
            if item is not None:
                found_parts.append(item)
                first = last + 1
                break
        else:
            first += 1
    return found_parts


# the most tokens one item spans (a card number of 19 digit words, with room): bounds the
# search in a long run of numbers, which a 20,000-character segment could otherwise make cubic
_LONGEST_ITEM_TOKENS: Final = 24


def _whole(
    text: str, tokens: list[_Token], first: int, last: int, groups: list[str], context: set[str]
) -> Found | None:
    """The tokens ``first`` to ``last`` (digit groups ``groups``) as one item, if they are one."""
    digits = "".join(groups)
    if not 6 <= len(digits) <= 19:
        return None  # no kind here has fewer or more digits
    start, end = tokens[first].start, tokens[last].end
    if start > 0 and text[start - 1] in "$£€":
        return None  # an amount of money
    kind = _kind(digits, groups, context)
    if kind is None:
        return None
    # a leading "+" or "(" belongs to the number (a phone number's)
    while start > 0 and text[start - 1] in "+(":
        start -= 1
    return Found(start, end, kind, digits)


def _kind(digits: str, groups: list[str], context: set[str]) -> str | None:
    length = len(digits)
    if length == 9 and [len(g) for g in groups] == [3, 2, 4] and ssn_valid(digits):
        return "ssn"
    if 13 <= length <= 19 and luhn_valid(digits):
        return "card"
    if context & _DOB_WORDS and _date_digits(groups, digits):
        return "dob"
    if length == 9 and context & _SSN_WORDS and ssn_valid(digits):
        return "ssn"
    if length == 9 and context & _ROUTING_WORDS and aba_valid(digits):
        return "routing"
    if 6 <= length <= 17 and context & _ACCOUNT_WORDS:
        return "account"
    if length in (10, 11) and nanp_valid(digits):
        return "phone"
    if length == 7 and context & _PHONE_WORDS and digits[0] >= "2":
        return "phone"
    return None


def _without_overlaps(candidates: list[Found]) -> list[Found]:
    kept: list[Found] = []
    for found in sorted(candidates, key=lambda f: (f.start, f.start - f.end)):
        if kept and found.start < kept[-1].end:
            continue
        kept.append(found)
    return kept


# hash tokens are written with the letters a-p for the 16 nibble values: no digit in them,
# so a redacted text holds no number and redacting it again changes nothing
_NIBBLE_LETTERS: Final = "abcdefghijklmnop"
HASH_BYTES: Final = 6


# passes of find-and-replace over one text (see Redactor.redact)
MAX_PASSES: Final = 4


class Redactor:
    """Redacts personal data in text in one mode; counts what it redacts per kind."""

    def __init__(self, mode: RedactionMode = "mask", hash_key: bytes | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"redaction mode {mode!r} is not one of {', '.join(MODES)}")
        if mode == "hash" and not hash_key:
            raise ValueError(
                "redaction_mode hash needs redaction_hash_key: unkeyed hashes of card and social "
                "security numbers are reversed by trying every number"
            )
        self.mode: Final = mode
        self._key = hash_key or b""
        self.enabled: Final = mode != "off"

    def token(self, found: Found) -> str:
        """What replaces a found item."""
        if self.mode != "hash":
            return f"[{found.kind}]"
        digest = hmac.new(self._key, f"{found.kind}:{found.value}".encode(), hashlib.sha256).digest()
        letters = "".join(
            _NIBBLE_LETTERS[byte >> 4] + _NIBBLE_LETTERS[byte & 15] for byte in digest[:HASH_BYTES]
        )
        return f"[{found.kind}:{letters}]"

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """The text with every item found replaced, and how many of each kind (none: ``{}``).

        Found again until nothing more is: a number run into its neighbour ("... card
        number then an SSN") can lose digits to the neighbour's match, and what is left of
        it only shows once the neighbour is a token. Each pass removes digits, so the passes
        end; :data:`MAX_PASSES` bounds the work on a hostile segment."""
        if not self.enabled or not may_hold_pii(text):
            return text, {}
        counts: dict[str, int] = {}
        for _ in range(MAX_PASSES):
            found = find_pii(text)
            if not found:
                break
            pieces = []
            position = 0
            for item in found:
                pieces.append(text[position : item.start])
                pieces.append(self.token(item))
                position = item.end
                counts[item.kind] = counts.get(item.kind, 0) + 1
            pieces.append(text[position:])
            text = "".join(pieces)
        return text, counts


OFF: Final = Redactor("off")
