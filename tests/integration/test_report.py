"""``callfocus report`` on a real broker: summaries written as the worker writes them (Avro,
in transactions, keyed by call), one record that is not a summary's bytes, two definitions,
an aborted transaction; the report in CSV, JSON and HTML."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from streams.wire.codec import AvroCodec
from tests.integration.conftest import create_topics

OLD, NEW = "1.0+aaaa", "1.1+bbbb"
SINCE, UNTIL = datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def summary(
    call_id: str, agent: str, team: str, started: datetime, score: float | None, **values: Any
) -> dict:
    """A CallSummary as the worker's summary_record makes it (streams/worker/outputs.py)."""
    minutes = values.get("minutes", 5.0)
    return {
        "call_id": call_id,
        "agent_id": agent,
        "team": team,
        "queue": "inbound",
        "started_at": ms(started),
        "ended_at": ms(started + timedelta(minutes=minutes)),
        "end_reason": "hangup",
        "duration_seconds": minutes * 60,
        "segments": 40,
        "customer_focus_score": score,
        "agent_talk_ratio": values.get("talk", 0.5),
        "monologue_longest_seconds": values.get("monologue", 20.0),
        "questions_per_minute": values.get("qpm", 1.0),
        "open_question_ratio": values.get("open", 0.5),
        "nudges": values.get("nudges", []),
        "tracker_hits": values.get("hits", []),
        "definitions": values.get("definitions", OLD),
    }


def monday(week: int, hour: int = 9) -> datetime:
    return SINCE + timedelta(weeks=week, hours=hour)


CALLS = [
    summary("c1", "ana", "billing", monday(0), 80.0, nudges=["n1"], hits=[{"tracker": "refund", "hits": 2}]),
    summary("c2", "ana", "billing", monday(0, 10), 60.0, talk=0.7),
    summary("c3", "ana", "billing", monday(1), 90.0, qpm=2.0, monologue=61.2),
    summary("c4", "bo", "billing", monday(1, 11), None),
    # the backfill's new definitions: the same agent, never added to the cards above
    summary("c5", "bo", "billing", monday(1, 12), 40.0, definitions=NEW),
    summary("c6", "cy", "sales", monday(0), 55.0),
    # started 10 minutes before the window and ended in it: read, left out
    summary("c7", "ana", "billing", SINCE - timedelta(minutes=10), 10.0, minutes=20),
    # ended before the window: offsets_for_times(since) starts after it
    summary("c8", "ana", "billing", SINCE - timedelta(days=2), 15.0),
    # started at until: left out (until excluded)
    summary("c9", "ana", "billing", UNTIL, 20.0),
]
ABORTED = summary("c10", "ana", "billing", monday(0, 14), 0.0)


@pytest.fixture
def report_env(make_env: Callable[..., dict[str, str]]) -> dict[str, str]:
    # summaries of November must outlive the test broker's 24 h retention
    env = create_topics(make_env(topic_retention_ms='{"call-summaries": -1}'))
    codec = AvroCodec()
    topic = f"{env['CALLFOCUS_TOPIC_PREFIX']}.call-summaries"
    producer = KafkaProducer(
        bootstrap_servers=env["CALLFOCUS_KAFKA_BOOTSTRAP"], transactional_id=f"{topic}-writer", acks="all"
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for call in sorted(CALLS, key=lambda c: c["ended_at"]):
            producer.send(
                topic,
                codec.encode("CallSummary", call),
                key=call["call_id"].encode(),
                timestamp_ms=call["ended_at"],
            )
        # not a summary's bytes (a tool that wrote text to the topic): skipped and counted
        producer.send(topic, b"agent ana was great", key=b"c1", timestamp_ms=ms(monday(0, 15)))
        producer.commit_transaction()
        producer.begin_transaction()
        producer.send(
            topic, codec.encode("CallSummary", ABORTED), key=b"c10", timestamp_ms=ABORTED["ended_at"]
        )
        producer.flush()
        producer.abort_transaction()
    finally:
        producer.close()
    return env


def run_report(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    window = ["--since", SINCE.date().isoformat(), "--until", UNTIL.date().isoformat()]
    return subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "report", *window, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_in_three_formats(report_env: dict[str, str], tmp_path: Path) -> None:
    done = run_report(report_env, "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    by_key = {(r["definitions"], r["team"], r["agent_id"], r["period_start"]): r for r in rows}
    assert set(by_key) == {
        (OLD, "billing", "", "2026-11-02"),
        (OLD, "billing", "", "2026-11-09"),
        (OLD, "billing", "ana", "2026-11-02"),
        (OLD, "billing", "ana", "2026-11-09"),
        (OLD, "billing", "bo", "2026-11-09"),
        (OLD, "sales", "", "2026-11-02"),
        (OLD, "sales", "cy", "2026-11-02"),
        (NEW, "billing", "", "2026-11-09"),
        (NEW, "billing", "bo", "2026-11-09"),
    }
    ana = by_key[(OLD, "billing", "ana", "2026-11-02")]  # c1 and c2; not c7 (before), not c10 (aborted)
    assert ana["calls"] == "2" and ana["talk_seconds"] == "600.0"
    assert ana["mean_score"] == "70.0" and ana["p10_score"] == "60.0"
    assert ana["agent_talk_ratio"] == "0.6" and ana["questions_per_call"] == "5.0"
    assert ana["nudges_per_call"] == "0.5" and ana["tracker_hits_per_call"] == "1.0"
    team_week2 = by_key[(OLD, "billing", "", "2026-11-09")]  # c3 and c4: c5 is under NEW
    assert team_week2["calls"] == "2" and team_week2["mean_score"] == "90.0"
    assert team_week2["monologue_p90_seconds"] == "62.0"
    assert by_key[(NEW, "billing", "bo", "2026-11-09")]["mean_score"] == "40.0"
    assert "under 2 definitions (kept apart)" in done.stderr and "1 undecodable skipped" in done.stderr

    done = run_report(report_env, "--format", "json", "--team", "billing", "--period", "month")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["period"] == "month" and document["filters"] == {"teams": ["billing"], "agents": []}
    assert document["definitions"] == [OLD, NEW] and document["definitions_kept_apart"] is True
    # read: c1-c7 and c9 and the text; c8 is before offsets_for_times(since), c10 aborted
    assert document["counts"] == {
        "records": 9,
        "kept": 5,
        "skipped": {"undecodable": 1, "undecodable_by_reason": {"unknown_format": 1}, "other_records": 0},
        "left_out": {"outside_window": 2, "other_teams_or_agents": 1},
    }
    cards = {(c["key"]["definitions"], c["key"]["agent_id"]): c for c in document["cards"]}
    assert set(cards) == {(OLD, ""), (OLD, "ana"), (OLD, "bo"), (NEW, ""), (NEW, "bo")}
    assert cards[(OLD, "ana")]["key"]["period_start"] == "2026-11-01"
    assert cards[(OLD, "ana")]["figures"]["calls"] == 3
    assert cards[(OLD, "ana")]["figures"]["mean_score"] == pytest.approx(76.666667)
    assert cards[(OLD, "")]["figures"]["calls"] == 4 and cards[(OLD, "")]["figures"]["p10_score"] == 60.0

    output = tmp_path / "report.html"
    done = run_report(report_env, "--format", "html", "--agent", "bo", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and f"written to {output}" in done.stderr
    page = output.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "These calls were scored under 2 definitions" in page
    assert page.count('<tr data-agent="bo">') == 2 and 'data-agent="ana"' not in page


def test_report_of_a_window_without_summaries(report_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "report", "--since", "2h", "--format", "csv"],
        env=report_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [done.stdout.splitlines()[0]]  # the header alone
    assert "0 cards of 0 calls" in done.stderr


def test_report_names_a_missing_topic(make_env: Callable[..., dict[str, str]]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "report", "--since", "7d", "--format", "csv"],
        env=make_env(),  # no `callfocus topics` run for this prefix
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.startswith("callfocus: topic ")
    assert "does not exist (CALLFOCUS_TOPIC_PREFIX" in done.stderr
    assert len(done.stderr.splitlines()) == 1
