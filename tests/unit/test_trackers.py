"""User-defined trackers (streams/engine/trackers.py): matching, definitions, files and their errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engine.text import tokens
from streams.engine.trackers import (
    AGENT,
    CUSTOMER,
    EMPTY,
    MAX_PHRASE_WORDS,
    MAX_PHRASES,
    MAX_TRACKERS,
    OTHER,
    Tracker,
    TrackerFileError,
    TrackerNudge,
    TrackerProblem,
    TrackerSet,
    load_trackers,
    parse_trackers,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "trackers" / "examples.toml"
BENCH = REPO / "bench" / "trackers-20x10.toml"


def match(trackers: TrackerSet, text: str, speaker: int = CUSTOMER, start_ms: int = 0, **scope: str) -> tuple:
    return trackers.match(speaker, start_ms, tokens(text), scope.get("team"), scope.get("queue"))


# -- matching -----------------------------------------------------------------------------
def test_phrases_match_the_engine_words_whatever_the_case_and_punctuation() -> None:
    trackers = TrackerSet([Tracker("escalation", ["Speak to your MANAGER!", "supervisor"])])
    assert match(trackers, "can I speak to your manager? now.") == (1,)
    assert match(trackers, "SUPERVISOR, please") == (1,)
    assert match(trackers, "speak to your boss") is None


def test_each_occurrence_counts_once() -> None:
    trackers = TrackerSet([Tracker("manager", ["manager"]), Tracker("cancel", ["cancel", "cancel it"])])
    assert match(trackers, "manager manager and the manager") == (3, 0)
    # one tracker's phrases never overlap: the longest counts, the shorter inside it does not
    assert match(trackers, "cancel it cancel") == (0, 2)


def test_overlapping_phrases_of_one_tracker_count_once_and_of_two_trackers_each() -> None:
    trackers = TrackerSet(
        [
            Tracker("disclosure", ["this call may be recorded", "recorded for quality"]),
            Tracker("quality", ["recorded for quality"]),
        ]
    )
    assert match(trackers, "this call may be recorded for quality") == (1, 1)


def test_speaker_part_of_call_and_scope_decide_where_a_tracker_counts() -> None:
    trackers = TrackerSet(
        [
            Tracker("disclosure", ["recorded"], speaker="agent", within_first_seconds=120),
            Tracker("late", ["recorded"], speaker="customer", after_seconds=60),
            Tracker("sales", ["recorded"], teams=["sales"], queues=["renewals", "new"]),
            Tracker("anyone", ["recorded"]),
        ]
    )
    assert match(trackers, "recorded", AGENT, 0) == (1, 0, 0, 1)
    assert match(trackers, "recorded", AGENT, 119_999) == (1, 0, 0, 1)
    assert match(trackers, "recorded", AGENT, 120_000) == (0, 0, 0, 1)
    assert match(trackers, "recorded", CUSTOMER, 59_999) == (0, 0, 0, 1)
    assert match(trackers, "recorded", CUSTOMER, 60_000) == (0, 1, 0, 1)
    assert match(trackers, "recorded", OTHER, 0, team="sales", queue="new") == (0, 0, 1, 1)
    assert match(trackers, "recorded", OTHER, 0, team="sales") == (0, 0, 0, 1)
    assert match(trackers, "recorded", OTHER, 0, team="support", queue="new") == (0, 0, 0, 1)


def test_hits_name_the_trackers_that_hit() -> None:
    nudge = TrackerNudge("warning", "Offer a next step.")
    trackers = TrackerSet([Tracker("refund", ["refund"]), Tracker("manager", ["manager"], nudge=nudge)])
    counts = match(trackers, "a manager and a manager")
    assert [(tracker.name, hits, tracker.nudge) for tracker, hits in trackers.hits(counts)] == [
        ("manager", 2, nudge)
    ]


def test_nothing_to_count_is_none() -> None:
    trackers = TrackerSet([Tracker("agent_only", ["refund"], speaker="agent")])
    assert match(trackers, "refund", CUSTOMER) is None  # a phrase said, but not by the speaker tracked
    assert match(trackers, "") is None
    assert EMPTY.match(AGENT, 0, tokens("anything at all"), None, None) is None
    assert len(EMPTY) == 0


def reference_counts(trackers: TrackerSet, words: list[str]) -> tuple[int, ...]:
    """Each tracker on its own: at each word its longest phrase there counts, then the
    search goes on after it."""
    counts = []
    for tracker in trackers.trackers:
        count = i = 0
        while i < len(words):
            ends = [i + len(p) for p in tracker.words if tuple(words[i : i + len(p)]) == p]
            if ends:
                count += 1
                i = max(ends)
            else:
                i += 1
        counts.append(count)
    return tuple(counts)


WORDS = st.sampled_from(["a", "b", "c", "d"])


@settings(max_examples=300, deadline=None)
@given(
    phrases=st.lists(
        st.lists(st.lists(WORDS, min_size=1, max_size=3), min_size=1, max_size=4), min_size=1, max_size=4
    ),
    words=st.lists(WORDS, max_size=30),
)
def test_counts_equal_each_tracker_counted_alone(phrases: list[list[list[str]]], words: list[str]) -> None:
    trackers = TrackerSet([Tracker(f"t{n}", [" ".join(p) for p in ps]) for n, ps in enumerate(phrases)])
    expected = reference_counts(trackers, words)
    found = trackers.match(AGENT, 0, words, None, None)
    assert (found or (0,) * len(trackers)) == expected
    assert (found is None) == (not any(expected))


# -- definitions ----------------------------------------------------------------------------
def test_digest_names_what_trackers_do_not_how_they_are_written() -> None:
    one = TrackerSet([Tracker("a", ["Speak to your manager", "supervisor"], nudge=TrackerNudge("info", "m"))])
    same = TrackerSet(
        [Tracker("a", ["supervisor!", "speak to your manager"], nudge=TrackerNudge("info", "m"))]
    )
    other = TrackerSet([Tracker("a", ["supervisor"], nudge=TrackerNudge("info", "m"))])
    louder = TrackerSet(
        [Tracker("a", ["Speak to your manager", "supervisor"], nudge=TrackerNudge("warning", "m"))]
    )
    assert one.digest == same.digest
    assert len({one.digest, other.digest, louder.digest, EMPTY.digest}) == 4
    assert len(one.digest) == 12 and int(one.digest, 16) >= 0


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda: Tracker("Escalation", ["x"]), "name 'Escalation' is not"),
        (lambda: Tracker("a" * 41, ["x"]), "is not a lower-case letter"),
        (lambda: Tracker("team-a", ["x"]), "is not a lower-case letter"),
        (lambda: Tracker("a", []), "phrases is empty"),
        (lambda: Tracker("a", ["..."]), "phrase '...' has no words"),
        (lambda: Tracker("a", [" ".join(["w"] * (MAX_PHRASE_WORDS + 1))]), "words, more than 8"),
        (lambda: Tracker("a", ["w"] * (MAX_PHRASES + 1)), "101 phrases, more than 100"),
        (lambda: Tracker("a", ["x"], speaker="boss"), "speaker 'boss'"),
        (lambda: Tracker("a", ["x"], within_first_seconds=0), "within_first_seconds is 0"),
        (lambda: Tracker("a", ["x"], after_seconds=60, within_first_seconds=60), "could never match"),
        (lambda: Tracker("a", ["x"], teams=[]), "teams is empty"),
        (lambda: Tracker("a", ["x"], queues=[""]), "queues value '' is empty"),
        (lambda: TrackerNudge("urgent", "m"), "severity 'urgent'"),
        (lambda: TrackerNudge("info", " "), "nudge message is empty"),
        (lambda: TrackerNudge("info", "m" * 201), "201 characters, more than 200"),
        (lambda: TrackerSet([Tracker("a", ["x"]), Tracker("a", ["y"])]), "already the name of tracker 1"),
        (lambda: TrackerSet([Tracker(f"t{n}", ["x"]) for n in range(MAX_TRACKERS + 1)]), "more than 200"),
    ],
)
def test_invalid_definitions_are_refused(build: object, problem: str) -> None:
    with pytest.raises(TrackerProblem, match=problem.replace("(", r"\(")):
        build()  # type: ignore[operator]


# -- files ----------------------------------------------------------------------------------
def test_the_shipped_examples_load() -> None:
    trackers = load_trackers(EXAMPLES)
    assert trackers.names == (
        "escalation_request",
        "cancellation_intent",
        "competitor_mention",
        "next_steps_agreed",
        "required_disclosure_said",
    )
    escalation = trackers.trackers[trackers.index("escalation_request")]
    assert escalation.speaker == "customer" and escalation.nudge is not None
    assert escalation.nudge.severity == "warning"
    disclosure = trackers.trackers[trackers.index("required_disclosure_said")]
    assert disclosure.speaker == "agent" and disclosure.within_first_seconds == 120
    counts = match(trackers, "can i speak to a manager i want to cancel my subscription")
    assert counts == (1, 1, 0, 0, 0)
    assert match(trackers, "this call may be recorded", AGENT, 5_000) == (0, 0, 0, 0, 1)
    assert match(trackers, "this call may be recorded", AGENT, 130_000) is None


def test_the_bench_file_has_20_trackers_of_10_phrases() -> None:
    trackers = load_trackers(BENCH)
    assert len(trackers) == 20
    assert all(len(t.words) == 10 for t in trackers.trackers)


YAML_EXAMPLE = """\
trackers:
  - name: escalation
    description: The customer asks for a manager.
    speaker: customer
    phrases: [speak to your manager, supervisor]
    within_first_seconds: 600
    teams: [support]
    nudge: {severity: warning, message: Offer a next step.}
"""
TOML_EXAMPLE = """\
[[trackers]]
name = "escalation"
description = "The customer asks for a manager."
speaker = "customer"
phrases = ["speak to your manager", "supervisor"]
within_first_seconds = 600
teams = ["support"]

[trackers.nudge]
severity = "warning"
message = "Offer a next step."
"""


def test_yaml_and_toml_define_the_same_trackers(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(YAML_EXAMPLE)
    (tmp_path / "t.yml").write_text(YAML_EXAMPLE)
    (tmp_path / "t.toml").write_text(TOML_EXAMPLE)
    digests = {load_trackers(tmp_path / name).digest for name in ("t.yaml", "t.yml", "t.toml")}
    assert len(digests) == 1
    assert load_trackers(tmp_path / "t.toml").trackers[0].teams == frozenset({"support"})


def test_an_empty_file_is_no_trackers(tmp_path: Path) -> None:
    for name in ("empty.toml", "empty.yaml"):
        (tmp_path / name).write_text("# nothing tracked yet\n")
        assert load_trackers(tmp_path / name).digest == EMPTY.digest


BAD_FILES = [
    # (suffix, text, the error after "<file>:")
    ("toml", '[[trackers]]\nname = "a"\nphrases = ["x"\n', "3: Unclosed array"),
    ("toml", '[[trackers]]\nname = "a"\nphrases = ["x"]\nspeaker = agent\n', "4: Invalid value (column 11)"),
    (
        "toml",
        '[[trackers]]\nname = "ok"\nphrases = ["x"]\n\n'
        '[[trackers]]\nname = "b"\nspeaker = "boss"\nphrases = ["y"]\n',
        "7: tracker 2 (b): speaker 'boss' is not one of agent, customer, any",
    ),
    (
        "toml",
        '[[trackers]]\nname = "a"\nphrases = [\n  "one",\n  "?!",\n]\n',
        "5: tracker 1 (a): phrase '?!' has no words",
    ),
    (
        "toml",
        '[[trackers]]\nname = "a"\nphrases = ["x"]\ncolour = "red"\n',
        "4: tracker 1 (a): unknown key 'colour'",
    ),
    (
        "toml",
        '[[trackers]]\nname = "a"\nphrases = ["x"]\n[trackers.nudge]\nseverity = "info"\nmesage = "m"\n',
        "6: tracker 1 (a): unknown nudge key 'mesage'",
    ),
    (
        "toml",
        '[[trackers]]\nname = "a"\nphrases = ["x"]\n[[trackers]]\nname = "a"\nphrases = ["y"]\n',
        "5: tracker 2 (a): name 'a' is already the name of tracker 1",
    ),
    ("toml", "tracker = []\n", "1: unknown key 'tracker'"),
    ("toml", '[[trackers]]\nname = "a"\n', "1: tracker 1 (a): no 'phrases'"),
    ("toml", '[[trackers]]\nname = "a"\nphrases = "x"\n', "3: tracker 1 (a): phrases is not a list"),
    (
        "toml",
        '[[trackers]]\nname = "a"\nphrases = ["x"]\nwithin_first_seconds = "2m"\n',
        "4: tracker 1 (a): within_first_seconds is not a number",
    ),
    ("yaml", "trackers:\n  - name: a\n    phrases: [x\n", "4: while parsing a flow sequence"),
    (
        "yaml",
        "trackers:\n  - name: a\n    phrases:\n      - one\n      - '...'\n",
        "5: tracker 1 (a): phrase '...' has no words",
    ),
    (
        "yaml",
        "trackers:\n  - name: a\n    phrases: [x]\n    nudge:\n      severity: loud\n      message: m\n",
        "5: tracker 1 (a): nudge severity 'loud'",
    ),
    ("yaml", "trackers:\n  - name: Bad Name\n    phrases: [x]\n", "2: tracker 1: name 'Bad Name'"),
    ("yaml", "- name: a\n", "0: expected a mapping with a 'trackers' list"),
    (
        "yaml",
        "trackers:\n  - name: a\n    phrases: [x]\n    name: b\n",
        "4: tracker 1: key 'name' is there twice",
    ),
    (
        "yaml",
        "trackers:\n  - name: a\n    phrases: [x, yes]\n",
        "3: tracker 1 (a): phrases item 2 (True) is not",
    ),
]


@pytest.mark.parametrize(("suffix", "text", "error"), BAD_FILES)
def test_a_bad_file_is_one_line_naming_the_line(tmp_path: Path, suffix: str, text: str, error: str) -> None:
    path = tmp_path / f"trackers.{suffix}"
    path.write_text(text)
    with pytest.raises(TrackerFileError) as raised:
        load_trackers(path)
    message = str(raised.value)
    assert "\n" not in message
    if error.startswith("0: "):  # no line to name: the file alone
        assert message == f"{path}: {error[3:]}"
    else:
        assert message.startswith(f"{path}:{error}"), message


def test_the_file_itself_is_checked(tmp_path: Path) -> None:
    with pytest.raises(TrackerFileError, match="cannot read"):
        load_trackers(tmp_path / "missing.toml")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(TrackerFileError, match=r"ends in \.toml, \.yaml or \.yml"):
        load_trackers(tmp_path / "t.json")
    (tmp_path / "latin.toml").write_bytes(b"# ok\n# caf\xe9\n")
    with pytest.raises(TrackerFileError, match=r"latin\.toml:2: not UTF-8"):
        load_trackers(tmp_path / "latin.toml")
    (tmp_path / "big.toml").write_text("#" * (600 * 1024))
    with pytest.raises(TrackerFileError, match="more than 524288"):
        load_trackers(tmp_path / "big.toml")


def test_too_many_trackers_names_the_first_one_too_many() -> None:
    text = "".join(f'[[trackers]]\nname = "t{n}"\nphrases = ["x"]\n' for n in range(MAX_TRACKERS + 5))
    with pytest.raises(TrackerFileError, match=r"^f\.toml:601: tracker 201 \(t200\): 201 trackers"):
        parse_trackers(text, "f.toml", "toml")


def test_the_examples_in_the_docs_load(tmp_path: Path) -> None:
    text = (REPO / "docs" / "trackers.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(toml|yaml)\n(.*?)```", text, flags=re.DOTALL)
    assert [syntax for syntax, _ in blocks] == ["toml", "yaml"]
    loaded = {syntax: parse_trackers(body, f"docs.{syntax}", syntax) for syntax, body in blocks}
    assert loaded["toml"].names == ("escalation_request", "required_disclosure_said")
    assert loaded["yaml"].trackers[0].canonical() == loaded["toml"].trackers[0].canonical()
