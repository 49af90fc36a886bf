"""``callfocus redact``: the events as the worker keeps them, counts on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from streams.privacy.recordings import redact_recording
from streams.privacy.redaction import Redactor
from streams.tools.scoring import score_recording
from streams.tools.sources import read_recordings

ROOT = Path(__file__).resolve().parents[2]
EVENTS = [
    {"type": "CallStarted", "call_id": "c1", "started_at": 1, "attributes": {"ani": "+1 555 123 4567"}},
    {
        "type": "TranscriptSegment",
        "call_id": "c1",
        "segment_id": "s1",
        "speaker": "AGENT",
        "start_ms": 0,
        "end_ms": 20000,
        "text": "my card is four one one one one one one one one one one one one one one one "
        "and email john dot smith at gmail dot com thanks that is great",
    },
    {"type": "CallEnded", "call_id": "c1", "ended_at": 25000, "reason": "hangup"},
]


def callfocus(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    redaction = ("CALLFOCUS_REDACTION_MODE", "CALLFOCUS_REDACTION_HASH_KEY")
    environ = {k: v for k, v in os.environ.items() if k not in redaction}
    return subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environ, **env},
    )


def calls_file(tmp_path: Path) -> Path:
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in EVENTS))
    return path


def test_redact_prints_the_kept_events_and_counts(tmp_path: Path) -> None:
    out = callfocus("redact", str(calls_file(tmp_path)))
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["type"] for e in events] == ["CallStarted", "TranscriptSegment", "CallEnded"]
    assert events[0]["attributes"] == {"ani": "[phone]"}
    assert events[1]["text"] == "my card is [card] and email [email] thanks that is great"
    assert out.stderr.strip() == (
        "callfocus: mask: 3 events of 1 calls; "
        "redacted card 1, ssn 0, routing 0, account 0, phone 1, email 1, dob 0"
    )
    # the output is the JSONL input format: it reads back as the same calls
    kept = tmp_path / "kept.jsonl"
    kept.write_text(out.stdout)
    (recording,) = read_recordings(kept, "jsonl")
    assert recording.segments[0].text == "my card is [card] and email [email] thanks that is great"


def test_redact_in_hash_mode_needs_a_key(tmp_path: Path) -> None:
    out = callfocus("redact", str(calls_file(tmp_path)), CALLFOCUS_REDACTION_MODE="hash")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("callfocus: invalid settings: ") and "redaction_hash_key" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    keyed = callfocus(
        "redact", str(calls_file(tmp_path)), CALLFOCUS_REDACTION_MODE="hash", CALLFOCUS_REDACTION_HASH_KEY="k"
    )
    assert keyed.returncode == 0
    text = json.loads(keyed.stdout.splitlines()[1])["text"]
    assert text.startswith("my card is [card:") and "4111" not in text


def test_redact_reads_harper_valley_with_a_limit(harper_valley_dir: Path) -> None:
    out = callfocus("redact", "--format", "harper-valley", "--limit", "3", str(harper_valley_dir))
    assert out.returncode == 0, out.stderr
    call_ids = {json.loads(line)["call_id"] for line in out.stdout.splitlines()}
    assert len(call_ids) == 3
    assert "events of 3 calls" in out.stderr


def test_score_redacts_as_the_worker(tmp_path: Path) -> None:
    """The figures of ``callfocus score`` are those of the events the worker keeps: the
    16 words of a spoken card number are one token once redacted (the agent reads it back:
    words per minute)."""
    (recording,) = read_recordings(calls_file(tmp_path), "jsonl")
    windows = {}
    for mode in ("off", "mask"):
        out = callfocus("score", "--json", str(calls_file(tmp_path)), CALLFOCUS_REDACTION_MODE=mode)
        assert out.returncode == 0, out.stderr
        kept, _ = redact_recording(Redactor(mode), recording)
        expected = json.loads(json.dumps(score_recording(kept).as_dict()))
        windows[mode] = json.loads(out.stdout)[0]["windows"]
        assert windows[mode] == expected["windows"]
    assert windows["off"] != windows["mask"]
