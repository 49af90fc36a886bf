"""User-defined trackers: named phrase lists counted in every segment that they apply to.

A tracker counts the occurrences of its phrases (variants of one thing said: "speak to
your manager", "get me a supervisor") in the segments of one speaker, optionally only in
a part of the call (by the segment's start in media time) and only for some teams or
queues. Phrases are split into words by the engine's own :func:`tokens`, so a phrase
matches exactly what the text analysis sees, whatever the capitals and punctuation.

:class:`TrackerSet` matches all trackers in one pass over a segment's words, through a
trie of every phrase: one dict probe per word when nothing starts there, which is
nearly always. The definitions come from a TOML or YAML file (:func:`load_trackers`);
a mistake in it is a :class:`TrackerFileError` naming the file and line.
docs/trackers.md is the user's description of all of this.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from streams.engine.text import tokens

# A segment's speaker, as the engine codes it (streams/engine/call.py uses the same ints).
AGENT: Final = 0
CUSTOMER: Final = 1
OTHER: Final = 2
ANY_SPEAKER: Final = -1
SPEAKERS: Final = {"agent": AGENT, "customer": CUSTOMER, "any": ANY_SPEAKER}
SEVERITIES: Final = ("info", "warning", "critical")

# Limits: a tracker name becomes a Prometheus label value, so names are short and plain;
# the others keep a file (and the trie built from it) small whatever is written in it.
NAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_TRACKERS: Final = 200
MAX_PHRASES: Final = 100
MAX_PHRASE_WORDS: Final = 8
MAX_DESCRIPTION_CHARS: Final = 300
MAX_MESSAGE_CHARS: Final = 200
MAX_SCOPE_VALUES: Final = 100
MAX_SCOPE_VALUE_CHARS: Final = 100
MAX_SECONDS: Final = 24 * 3600
MAX_FILE_BYTES: Final = 512 * 1024
DIGEST_CHARS: Final = 12

TRACKER_KEYS: Final = (
    "name",
    "description",
    "phrases",
    "speaker",
    "within_first_seconds",
    "after_seconds",
    "teams",
    "queues",
    "nudge",
)
NUDGE_KEYS: Final = ("severity", "message")
FILE_KEY: Final = "trackers"


class TrackerProblem(ValueError):
    """An invalid tracker definition: the message, and which tracker, key and list item
    it is about (so a file's loader can name the line)."""

    def __init__(self, message: str, key: str = "", item: int = -1, sub: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.tracker = -1  # set by TrackerSet: the index of the tracker in the list
        self.key = key
        self.item = item
        self.sub = sub


class TrackerNudge:
    """The nudge a tracker raises on each hit: its severity and the supervisor's message."""

    def __init__(self, severity: str, message: str) -> None:
        if severity not in SEVERITIES:
            raise TrackerProblem(
                f"nudge severity {severity!r} is not one of {', '.join(SEVERITIES)}", "nudge", sub="severity"
            )
        if not message.strip():
            raise TrackerProblem("nudge message is empty", "nudge", sub="message")
        if len(message) > MAX_MESSAGE_CHARS:
            raise TrackerProblem(
                f"nudge message has {len(message)} characters, more than {MAX_MESSAGE_CHARS}",
                "nudge",
                sub="message",
            )
        self.severity: Final = severity
        self.message: Final = message


class Tracker:
    """One tracker's definition (immutable). ``phrases`` are as written; ``words`` the
    phrases as the engine's words, without duplicates, in the order written."""

    def __init__(
        self,
        name: str,
        phrases: Sequence[str],
        description: str = "",
        speaker: str = "any",
        within_first_seconds: float | None = None,
        after_seconds: float | None = None,
        teams: Sequence[str] | None = None,
        queues: Sequence[str] | None = None,
        nudge: TrackerNudge | None = None,
    ) -> None:
        if NAME_PATTERN.fullmatch(name) is None:
            raise TrackerProblem(
                f"name {name!r} is not a lower-case letter then at most 39 of a-z, 0-9 and _", "name"
            )
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise TrackerProblem(
                f"description has {len(description)} characters, more than {MAX_DESCRIPTION_CHARS}",
                "description",
            )
        if not phrases:
            raise TrackerProblem("phrases is empty: a tracker needs at least one phrase", "phrases")
        if len(phrases) > MAX_PHRASES:
            raise TrackerProblem(f"{len(phrases)} phrases, more than {MAX_PHRASES}", "phrases")
        words: list[tuple[str, ...]] = []
        for item, phrase in enumerate(phrases):
            said = tuple(tokens(phrase))
            if not said:
                raise TrackerProblem(f"phrase {phrase!r} has no words", "phrases", item)
            if len(said) > MAX_PHRASE_WORDS:
                raise TrackerProblem(
                    f"phrase {phrase!r} has {len(said)} words, more than {MAX_PHRASE_WORDS}", "phrases", item
                )
            if said not in words:
                words.append(said)
        if speaker not in SPEAKERS:
            raise TrackerProblem(f"speaker {speaker!r} is not one of agent, customer, any", "speaker")
        for key, seconds in (
            ("within_first_seconds", within_first_seconds),
            ("after_seconds", after_seconds),
        ):
            if seconds is not None and not 0 < seconds <= MAX_SECONDS:
                raise TrackerProblem(f"{key} is {seconds:g}: more than 0 and at most {MAX_SECONDS}", key)
        if (
            within_first_seconds is not None
            and after_seconds is not None
            and after_seconds >= within_first_seconds
        ):
            raise TrackerProblem(
                f"after_seconds {after_seconds:g} is not before within_first_seconds "
                f"{within_first_seconds:g}: the tracker could never match",
                "after_seconds",
            )
        self.name: Final = name
        self.description: Final = description
        self.phrases: Final = tuple(phrases)
        self.words: Final = tuple(words)
        self.speaker: Final = speaker
        self.speaker_code: Final = SPEAKERS[speaker]
        self.within_first_seconds: Final = within_first_seconds
        self.after_seconds: Final = after_seconds
        self.teams: Final = _scope("teams", teams)
        self.queues: Final = _scope("queues", queues)
        self.nudge: Final = nudge

    def canonical(self) -> dict[str, Any]:
        """What the tracker matches and says, in a form independent of how it was written
        (phrase order and spelling, list order): the digest's input."""
        return {
            "name": self.name,
            "description": self.description,
            "phrases": sorted(" ".join(w) for w in self.words),
            "speaker": self.speaker,
            "within_first_seconds": self.within_first_seconds,
            "after_seconds": self.after_seconds,
            "teams": None if self.teams is None else sorted(self.teams),
            "queues": None if self.queues is None else sorted(self.queues),
            "nudge": None if self.nudge is None else [self.nudge.severity, self.nudge.message],
        }


def _scope(key: str, values: Sequence[str] | None) -> frozenset[str] | None:
    if values is None:
        return None
    if not values:
        raise TrackerProblem(f"{key} is empty: leave it out to track every one of them", key)
    if len(values) > MAX_SCOPE_VALUES:
        raise TrackerProblem(f"{key} lists {len(values)} values, more than {MAX_SCOPE_VALUES}", key)
    for item, value in enumerate(values):
        if not value or len(value) > MAX_SCOPE_VALUE_CHARS:
            raise TrackerProblem(f"{key} value {value!r} is empty or too long", key, item)
    return frozenset(values)


class _TrackerNode:
    """A node of the phrase trie: ``ends`` are the trackers with a phrase ending here."""

    __slots__ = ("ends", "next")

    def __init__(self) -> None:
        self.ends: tuple[int, ...] = ()
        self.next: dict[str, _TrackerNode] = {}


_FOREVER_MS: Final = 1 << 62


def _trie(trackers: Sequence[Tracker], speaker: int) -> dict[str, _TrackerNode]:
    """The first words of the phrases of the trackers that count ``speaker``'s words, each
    leading to the rest of its phrases; ``ends`` holds indexes into ``trackers``."""
    root = _TrackerNode()
    for index, tracker in enumerate(trackers):
        if tracker.speaker_code != ANY_SPEAKER and tracker.speaker_code != speaker:
            continue
        for phrase in tracker.words:
            node = root
            for word in phrase:
                child = node.next.get(word)
                if child is None:
                    child = node.next[word] = _TrackerNode()
                node = child
            if index not in node.ends:
                node.ends = (*node.ends, index)
    return root.next


class TrackerSet:
    """Trackers in force (immutable): built once per definitions file, shared by every call."""

    def __init__(self, trackers: Sequence[Tracker] = ()) -> None:
        if len(trackers) > MAX_TRACKERS:
            problem = TrackerProblem(f"{len(trackers)} trackers, more than {MAX_TRACKERS}")
            problem.tracker = MAX_TRACKERS
            raise problem
        seen: dict[str, int] = {}
        for index, tracker in enumerate(trackers):
            if tracker.name in seen:
                problem = TrackerProblem(
                    f"name {tracker.name!r} is already the name of tracker {seen[tracker.name] + 1}", "name"
                )
                problem.tracker = index
                raise problem
            seen[tracker.name] = index
        self.trackers: Final = tuple(trackers)
        self.names: Final = tuple(t.name for t in trackers)
        canonical = json.dumps([t.canonical() for t in trackers], sort_keys=True, separators=(",", ":"))
        self.digest: Final = hashlib.sha256(canonical.encode()).hexdigest()[:DIGEST_CHARS]
        # what decides whether a tracker applies to a segment, as lists: read only on a hit
        self._speaker: Final = [t.speaker_code for t in trackers]
        self._from_ms: Final = [
            0 if t.after_seconds is None else int(t.after_seconds * 1000) for t in trackers
        ]
        self._until_ms: Final = [
            _FOREVER_MS if t.within_first_seconds is None else int(t.within_first_seconds * 1000)
            for t in trackers
        ]
        self._teams: Final = [t.teams for t in trackers]
        self._queues: Final = [t.queues for t in trackers]
        # one phrase trie per speaker, of the trackers that listen to that speaker: a
        # segment walks only the phrases that can count in it
        self._first_by_speaker: Final = tuple(_trie(trackers, code) for code in (AGENT, CUSTOMER, OTHER))

    def __len__(self) -> int:
        return len(self.trackers)

    def index(self, name: str) -> int:
        """The index of the tracker called ``name`` in :meth:`match`'s counts (ValueError if none)."""
        return self.names.index(name)

    def applies(self, index: int, speaker: int, start_ms: int, team: str | None, queue: str | None) -> bool:
        """Whether tracker ``index`` counts in a segment of ``speaker`` starting at ``start_ms``
        (media time) of a call of ``team`` and ``queue``."""
        wanted = self._speaker[index]
        if wanted != ANY_SPEAKER and wanted != speaker:
            return False
        if not self._from_ms[index] <= start_ms < self._until_ms[index]:
            return False
        teams = self._teams[index]
        if teams is not None and (team is None or team not in teams):
            return False
        queues = self._queues[index]
        return queues is None or (queue is not None and queue in queues)

    def match(
        self, speaker: int, start_ms: int, words: list[str], team: str | None, queue: str | None
    ) -> tuple[int, ...] | None:
        """Hits per tracker (by index) in one segment's words (``tokens()`` of its text), or
        None when no tracker hits. Each occurrence of a phrase is one hit; a tracker's hits
        do not overlap (at each word its longest phrase counts, and the next hit of that
        tracker starts after it), different trackers' hits may."""
        first = self._first_by_speaker[speaker]
        counts: list[int] | None = None
        next_free: list[int] | None = None
        n = len(words)
        for i in range(n):
            node = first.get(words[i])
            if node is None:
                continue
            # the trackers with a phrase starting here, and where each one's longest ends
            # (a list only once a phrase ends: most words that start a phrase start none here)
            found: list[tuple[int, int]] | None = None
            j = i + 1
            while True:
                if node.ends:
                    if found is None:
                        found = []
                    for index in node.ends:
                        found.append((index, j))
                if j >= n or not node.next:
                    break
                child = node.next.get(words[j])
                if child is None:
                    break
                node = child
                j += 1
            if found is None:
                continue
            done: list[int] = []
            for k in range(len(found) - 1, -1, -1):  # longest first
                index, end = found[k]
                if index in done:
                    continue
                done.append(index)
                if not self.applies(index, speaker, start_ms, team, queue):
                    continue
                if counts is None or next_free is None:
                    counts = [0] * len(self.trackers)
                    next_free = [0] * len(self.trackers)
                if i >= next_free[index]:
                    counts[index] += 1
                    next_free[index] = end
        return None if counts is None else tuple(counts)

    def hits(self, counts: tuple[int, ...]) -> list[tuple[Tracker, int]]:
        """The trackers with hits in :meth:`match`'s ``counts``, with their hits: what a call
        keeps by tracker name (the indexes change when the file does) and the nudges to raise."""
        return [(self.trackers[index], count) for index, count in enumerate(counts) if count]


EMPTY: Final = TrackerSet()


# -- Definitions files --------------------------------------------------------------------
class TrackerFileError(ValueError):
    """A trackers file that cannot be read or is not valid; the message names file and line."""


def load_trackers(path: Path) -> TrackerSet:
    """The trackers of a TOML (``.toml``) or YAML (``.yaml``, ``.yml``) file."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise TrackerFileError(f"{path}: cannot read: {error.strerror or error}") from None
    return trackers_of_file(path, raw)


def trackers_of_file(path: Path, raw: bytes) -> TrackerSet:
    """The trackers of ``raw``, the content of ``path`` (whose suffix says TOML or YAML)."""
    if len(raw) > MAX_FILE_BYTES:
        raise TrackerFileError(f"{path}: {len(raw)} bytes, more than {MAX_FILE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise TrackerFileError(f"{path}:{line}: not UTF-8 text") from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return parse_trackers(text, str(path), "toml")
    if suffix in (".yaml", ".yml"):
        return parse_trackers(text, str(path), "yaml")
    raise TrackerFileError(f"{path}: a trackers file ends in .toml, .yaml or .yml")


def parse_trackers(text: str, source: str, syntax: str) -> TrackerSet:
    """The trackers of ``text``, TOML or YAML (``syntax``); ``source`` names it in errors."""
    data: Any  # YAML may hold anything: _tracker_set checks it
    if syntax == "toml":
        data = _read_toml(text, source)
        lines = _toml_lines(text)
    else:
        data, lines = _read_yaml(text, source)
    try:
        return _tracker_set(data)
    except TrackerProblem as problem:
        line = lines.line(problem.tracker, problem.key, problem.sub, problem.item)
        where = f"tracker {problem.tracker + 1}" if problem.tracker >= 0 else ""
        name = _name_of(data, problem.tracker)
        if name:
            where += f" ({name})"
        at = f"{source}:{line}" if line else source
        raise TrackerFileError(f"{at}: {where + ': ' if where else ''}{problem.message}") from None


def _name_of(data: Any, index: int) -> str:
    entries = data.get(FILE_KEY) if isinstance(data, dict) else None
    if index < 0 or not isinstance(entries, list) or index >= len(entries):
        return ""
    entry = entries[index]
    name = entry.get("name") if isinstance(entry, dict) else None
    return name if isinstance(name, str) and NAME_PATTERN.fullmatch(name) else ""


def _read_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        at = re.search(r" \(at line (\d+), column (\d+)\)$", message)
        if at is not None:
            raise TrackerFileError(
                f"{source}:{at.group(1)}: {message[: at.start()]} (column {at.group(2)})"
            ) from None
        last = max(1, len(text.splitlines()))
        raise TrackerFileError(f"{source}:{last}: {message.replace(' (at end of document)', '')}") from None


class _Lines:
    """Where a tracker, its keys and their list items are in a file (1-based lines; 0: unknown)."""

    def __init__(self) -> None:
        self.top: dict[str, int] = {}
        self.trackers: list[int] = []
        self.keys: dict[tuple[int, str], int] = {}
        self.subkeys: dict[tuple[int, str, str], int] = {}
        self.items: dict[tuple[int, str, int], int] = {}

    def line(self, tracker: int, key: str, sub: str, item: int) -> int:
        if tracker < 0:
            return self.top.get(key or FILE_KEY, 0)
        if tracker >= len(self.trackers):
            return self.trackers[-1] if self.trackers else self.top.get(FILE_KEY, 0)
        for found in (
            self.items.get((tracker, key, item), 0) if item >= 0 else 0,
            self.subkeys.get((tracker, key, sub), 0) if sub else 0,
            self.keys.get((tracker, key), 0) if key else 0,
        ):
            if found:
                return found
        return self.trackers[tracker]


_TOML_TRACKER = re.compile(rf"\s*\[\[\s*{FILE_KEY}\s*\]\]")
_TOML_SUBTABLE = re.compile(rf"\s*\[\s*{FILE_KEY}\s*\.\s*([A-Za-z0-9_-]+)\s*\]")
_TOML_TABLE = re.compile(r"\s*\[")
_TOML_KEY = re.compile(r"\s*([A-Za-z0-9_-]+)(?:\s*\.\s*[A-Za-z0-9_-]+)*\s*=")
_TOML_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'")
_LISTS = ("phrases", "teams", "queues")


def _toml_lines(text: str) -> _Lines:
    """Where things are in a TOML file that tomllib read: by its table headers and key
    lines (tomllib keeps no positions), and the strings of a tracker's lists by their order.
    Inline tables and arrays of tables fall back to the line of the key that holds them."""
    lines = _Lines()
    tracker, sub, key, items = -1, "", "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if _TOML_TRACKER.match(line):
            lines.trackers.append(number)
            tracker, sub, key = len(lines.trackers) - 1, "", ""
            continue
        table = _TOML_SUBTABLE.match(line)
        if table is not None and tracker >= 0:
            sub, key = table.group(1), ""
            lines.keys.setdefault((tracker, sub), number)
            continue
        if _TOML_TABLE.match(line):
            tracker, sub, key = -2, "", ""  # another table: its keys are not a tracker's
            continue
        found = _TOML_KEY.match(line)
        body = line
        if found is not None:
            name = found.group(1)
            body = line[found.end() :]
            if tracker == -1:
                lines.top.setdefault(name, number)
            elif tracker >= 0 and sub:
                lines.subkeys.setdefault((tracker, sub, name), number)
            elif tracker >= 0:
                lines.keys.setdefault((tracker, name), number)
                key, items = name, 0
        if tracker >= 0 and not sub and key in _LISTS:
            for _ in _TOML_STRING.finditer(body):
                lines.items[(tracker, key, items)] = number
                items += 1
    return lines


# libyaml's safe loader when PyYAML has it: a 500 KB file in 0.2 s, not 2 s
_YAML_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(text: str, source: str) -> tuple[Any, _Lines]:
    try:
        node = yaml.compose(text, Loader=_YAML_LOADER)
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(p for p in (error.context, error.problem) if p)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise TrackerFileError(f"{source}{line}: {problem}") from None
    except yaml.YAMLError as error:
        raise TrackerFileError(f"{source}: {' '.join(str(error).split())}") from None
    lines = _Lines()
    if isinstance(node, yaml.MappingNode):
        _no_twice(node, source, "")
        for key, value in node.value:
            lines.top.setdefault(str(key.value), key.start_mark.line + 1)
            if key.value == FILE_KEY and isinstance(value, yaml.SequenceNode):
                for tracker, entry in enumerate(value.value):
                    lines.trackers.append(entry.start_mark.line + 1)
                    if isinstance(entry, yaml.MappingNode):
                        _yaml_keys(lines, tracker, entry, source)
    return ({} if data is None else data), lines


def _no_twice(mapping: yaml.MappingNode, source: str, where: str) -> None:
    """YAML keeps the last of two equal keys without a word; TOML refuses them, and so do we."""
    seen: set[str] = set()
    for key, _ in mapping.value:
        name = str(key.value)
        if name in seen:
            raise TrackerFileError(f"{source}:{key.start_mark.line + 1}: {where}key {name!r} is there twice")
        seen.add(name)


def _yaml_keys(lines: _Lines, tracker: int, entry: yaml.MappingNode, source: str) -> None:
    _no_twice(entry, source, f"tracker {tracker + 1}: ")
    for key, value in entry.value:
        name = str(key.value)
        lines.keys.setdefault((tracker, name), key.start_mark.line + 1)
        if isinstance(value, yaml.SequenceNode):
            for item, element in enumerate(value.value):
                lines.items[(tracker, name, item)] = element.start_mark.line + 1
        elif isinstance(value, yaml.MappingNode):
            _no_twice(value, source, f"tracker {tracker + 1}: {name}: ")
            for sub_key, _ in value.value:
                lines.subkeys.setdefault((tracker, name, str(sub_key.value)), sub_key.start_mark.line + 1)


def _tracker_set(data: Any) -> TrackerSet:
    if not isinstance(data, dict):
        raise TrackerProblem(f"expected a mapping with a {FILE_KEY!r} list")
    for key in data:
        if key != FILE_KEY:
            raise TrackerProblem(f"unknown key {key!r}: a trackers file holds only {FILE_KEY!r}", str(key))
    entries = data.get(FILE_KEY, [])
    if not isinstance(entries, list):
        raise TrackerProblem(f"{FILE_KEY!r} is not a list of trackers", FILE_KEY)
    trackers = []
    for index, entry in enumerate(entries):
        try:
            trackers.append(_tracker(entry))
        except TrackerProblem as problem:
            problem.tracker = index
            raise
        if len(trackers) > MAX_TRACKERS:
            break
    return TrackerSet(trackers)


def _tracker(entry: Any) -> Tracker:
    if not isinstance(entry, dict):
        raise TrackerProblem("a tracker is a table (mapping) of keys")
    for key in entry:
        if key not in TRACKER_KEYS:
            raise TrackerProblem(f"unknown key {key!r}; known: {', '.join(TRACKER_KEYS)}", str(key))
    for key in ("name", "phrases"):
        if key not in entry:
            raise TrackerProblem(f"no {key!r}: every tracker has a name and phrases")
    nudge = entry.get("nudge")
    return Tracker(
        name=_text(entry, "name"),
        phrases=_texts(entry, "phrases"),
        description=_text(entry, "description") if "description" in entry else "",
        speaker=_text(entry, "speaker") if "speaker" in entry else "any",
        within_first_seconds=_seconds(entry, "within_first_seconds"),
        after_seconds=_seconds(entry, "after_seconds"),
        teams=_texts(entry, "teams") if "teams" in entry else None,
        queues=_texts(entry, "queues") if "queues" in entry else None,
        nudge=None if nudge is None else _nudge(nudge),
    )


def _text(entry: dict[str, Any], key: str) -> str:
    value = entry[key]
    if not isinstance(value, str):
        raise TrackerProblem(f"{key} is not a string", key)
    return value


def _texts(entry: dict[str, Any], key: str) -> list[str]:
    values = entry[key]
    if not isinstance(values, list):
        raise TrackerProblem(f"{key} is not a list of strings", key)
    for item, value in enumerate(values):
        if not isinstance(value, str):
            # YAML reads yes, no, on, off, 1.0 ... as other types: quoted, they are text
            raise TrackerProblem(f"{key} item {item + 1} ({value!r}) is not a string: quote it", key, item)
    return values


def _seconds(entry: dict[str, Any], key: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TrackerProblem(f"{key} is not a number of seconds", key)
    return float(value)


def _nudge(value: Any) -> TrackerNudge:
    if not isinstance(value, dict):
        raise TrackerProblem("nudge is not a table of severity and message", "nudge")
    for key in value:
        if key not in NUDGE_KEYS:
            raise TrackerProblem(
                f"unknown nudge key {key!r}; known: severity, message", "nudge", sub=str(key)
            )
    for key in NUDGE_KEYS:
        if not isinstance(value.get(key), str):
            raise TrackerProblem(f"nudge {key} is missing or not a string", "nudge", sub=key)
    return TrackerNudge(value["severity"], value["message"])
