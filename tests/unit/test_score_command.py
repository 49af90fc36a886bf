from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from streams.engine.definitions import engine_version
from streams.native import loaded_state
from streams.tools.scoring import score_recording
from streams.tools.sources import read_recordings

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
        assert f"Invalid value for '--limit': {limit} is not in the range x>=1." in out.stderr
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
        assert out.stderr.strip().splitlines()[-1].startswith("Error: "), args
        assert expected in out.stderr, (args, out.stderr)
