from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from streams.engine.definitions import engine_version
from streams.native import loaded_state
from streams.tools.scoring import (
    MAX_TEXT_WIDTH,
    fitted,
    score_recording,
    score_table,
    signals_table,
    text_width,
)
from streams.tools.sources import Recording, TimedEvent, read_recordings
from streams.wire.events import CallStarted

ROOT = Path(__file__).resolve().parents[2]


def test_score_ranks_the_sample_agents_by_customer_focus() -> None:
    scored = {r.call_id: score_recording(r) for r in read_recordings(ROOT / "samples" / "calls.jsonl")}
    focused = scored["demo-focused"].metrics
    pitcher = scored["demo-pitcher"].metrics
    monologue = scored["demo-monologue"].metrics
    assert focused.customer_focus_score is not None and pitcher.customer_focus_score is not None
    assert monologue.customer_focus_score is not None
    assert focused.customer_focus_score > pitcher.customer_focus_score + 30
    assert focused.customer_focus_score > monologue.customer_focus_score + 30
    assert pitcher.window("call").pitch_ratio == 1.0
    assert monologue.monologue_longest_seconds > 40


def test_score_command_json_matches_the_engine(harper_valley_dir: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.tools.cli",
            "score",
            str(harper_valley_dir),
            "--format",
            "harper-valley",
            "--limit",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    calls = json.loads(out.stdout)
    assert len(calls) == 3
    expected = score_recording(read_recordings(harper_valley_dir, "harper-valley", limit=1)[0])
    assert calls[0]["call_id"] == expected.recording.call_id
    assert calls[0]["customer_focus_score"] == expected.metrics.customer_focus_score
    assert calls[0]["windows"]["call"]["agent_talk_ratio"] == expected.metrics.window("call").agent_talk_ratio


def test_score_command_table(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "score", str(ROOT / "samples" / "calls.jsonl")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    scores, signals = out.split("\n\n")
    lines = scores.splitlines()
    assert lines[0].split()[:5] == ["call_id", "agent", "team", "min", "score"]
    assert {line.split()[0] for line in lines[2:]} == {"demo-focused", "demo-pitcher", "demo-monologue"}
    rows = signals.splitlines()
    assert rows[0].split()[:5] == ["call_id", "dead_air", "longest_s", "overtalk", "wpm"]
    assert rows[0].endswith("tracker hits")
    assert {row.split()[0] for row in rows[2:]} == {"demo-focused", "demo-pitcher", "demo-monologue"}


def callfocus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_a_limit_below_one_is_refused_in_one_line_not_read_as_all_but_the_last() -> None:
    for limit in ("-1", "0"):
        out = callfocus("score", str(ROOT / "samples" / "calls.jsonl"), "--limit", limit)
        assert out.returncode == 2
        assert out.stdout == ""
        assert len(out.stderr.splitlines()) == 1  # no usage block
        assert out.stderr.startswith(
            f"callfocus: Invalid value for '--limit': {limit} is not in the range x>=1."
        )
        assert "Traceback" not in out.stderr
    out = callfocus("score", str(ROOT / "samples" / "calls.jsonl"), "--limit", "2", "--json")
    assert out.returncode == 0
    assert [row["call_id"] for row in json.loads(out.stdout)] == ["demo-focused", "demo-pitcher"]


def test_version_names_the_package_version_and_the_engine_build() -> None:
    out = callfocus("--version")
    assert out.returncode == 0
    assert out.stdout.strip().startswith(f"callfocus {engine_version()} (engine: {loaded_state()}, Python 3.")


def test_input_that_is_not_what_the_format_reads_gets_one_line_not_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    first_event = (ROOT / "samples" / "calls.jsonl").read_text().splitlines()[0]
    broken.write_text(first_event + '\n{"type": "CallStarted", "call_id"\n')
    cases = [
        (["score", str(broken)], f"{broken}:2: "),  # the file and line of the bad event
        (["score", str(ROOT / "samples")], "is a folder; JSONL input is one file"),
        (["replay", str(ROOT / "samples"), "--max-speed"], "is a folder; JSONL input is one file"),
        (["score", str(tmp_path), "--format", "harper-valley"], "expected metadata/ and transcript/"),
        (["eval", "harper-valley", str(tmp_path)], "expected metadata/ and transcript/"),
    ]
    for args, expected in cases:
        out = callfocus(*args)
        assert out.returncode == 2, args
        assert out.stdout == "", args
        assert "Traceback" not in out.stderr, args
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("callfocus: "), args  # no usage block
        assert expected in out.stderr, (args, out.stderr)


def _renamed(recording: Recording, call_id: str, agent_id: str, team: str) -> Recording:
    """``recording`` as another call, of an agent and team with these names."""
    events = []
    for timed in recording.events:
        changes: dict[str, str] = {"call_id": call_id}
        if isinstance(timed.event, CallStarted):
            changes.update(agent_id=agent_id, team=team)
        events.append(TimedEvent(timed.at_ms, timed.event.replace(**changes)))
    return Recording(call_id, tuple(events))


def test_score_table_columns_fit_long_team_and_agent_names() -> None:
    sample = read_recordings(ROOT / "samples" / "calls.jsonl")
    long_team = "Enterprise Renewals EMEA North"  # 30 characters: printed whole
    too_long = "Customer Success - Strategic Accounts - Northern Europe"  # 55: cut at the cap
    scored = [
        score_recording(_renamed(sample[0], "call-2026-12-06-000001", "maria.fernandez-gonzalez", long_team)),
        score_recording(_renamed(sample[1], "c2", "bo", too_long)),
    ]
    lines = score_table(scored).splitlines()
    assert "maria.fernandez-gonzalez" in lines[2] and long_team in lines[2]
    assert too_long[: MAX_TEXT_WIDTH - 1] + "~" in lines[3] and too_long not in lines[3]
    # every row has its numbers where the header has their names
    minutes = lines[0].index("  min") + len("  min")
    assert all(line[minutes - 3 : minutes] in ("1.4", "0.9") for line in lines[2:])
    score_at = lines[0].index("score")
    assert [line[score_at - 1 : score_at + 5].strip() for line in lines[2:]] == ["93.0", "40.0"]
    signals = signals_table(scored).splitlines()
    assert signals[2].startswith("call-2026-12-06-000001 ") and signals[3].startswith("c2 ")
    dead_air_end = signals[0].index("dead_air") + len("dead_air")
    assert [line[dead_air_end - 1] for line in signals[2:]] == ["0", "0"]


def test_text_columns_are_as_wide_as_their_longest_value_up_to_the_cap() -> None:
    assert text_width("team", ["a", "bb"]) == 4  # the header
    assert text_width("team", ["sales", "retention"]) == 9
    assert text_width("team", ["x" * 100]) == MAX_TEXT_WIDTH
    assert fitted("abcdef", 4) == "abc~" and fitted("ab", 4) == "ab  "
