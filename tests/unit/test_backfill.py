"""``callfocus backfill``'s pure part: times, the window, calls from records, the skip set."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from streams.engine.nudges import load_rules
from streams.settings import Settings
from streams.tools.backfill import (
    Backfill,
    SummariesPresent,
    Window,
    current_definitions,
    report_lines,
)
from streams.tools.cli import main
from streams.tools.scoring import score_recording
from streams.tools.simulate import SimulationConfig, simulate
from streams.tools.sources import Recording
from streams.tools.times import to_ms
from streams.wire.codec import AvroCodec
from streams.wire.events import CallEnded, CallStarted, Event, TranscriptSegment, event_to_record

NOW = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
DAY_MS = 86_400_000
BASE_MS = to_ms(datetime(2026, 12, 1, tzinfo=UTC))


def test_the_window_holds_its_start_not_its_end_and_must_not_be_empty() -> None:
    window = Window(1000, 2000)
    assert window.contains(1000) and window.contains(1999)
    assert not window.contains(999) and not window.contains(2000)
    with pytest.raises(ValueError):
        Window(2000, 2000)
    with pytest.raises(ValueError):
        Window(2000, 1000)


def stamped(recording: Recording, started_at: int, ended: bool = True) -> list[Event]:
    """The call's events as a live system writes them: wall-clock start and end."""
    events = []
    for timed in recording.events:
        event = timed.event
        if isinstance(event, CallStarted):
            event = event.replace(started_at=started_at)
        elif isinstance(event, CallEnded):
            if not ended:
                continue
            event = event.replace(ended_at=started_at + timed.at_ms)
        events.append(event)
    return events


def records(events: list[Event], codec: AvroCodec) -> list[tuple[bytes, bytes]]:
    out = []
    for event in events:
        name, record = event_to_record(event)
        out.append((event.call_id.encode(), codec.encode(name, record)))
    return out


@pytest.fixture(scope="module")
def calls() -> list[Recording]:
    return [r for _, r in simulate(SimulationConfig(calls=5, concurrency=5, minutes=2, seed=7))]


def interleaved(per_call: list[list[tuple[bytes, bytes]]]) -> list[tuple[bytes, bytes]]:
    """Round-robin, as calls of one partition interleave on the topic."""
    out = []
    for i in range(max(len(c) for c in per_call)):
        out += [c[i] for c in per_call if i < len(c)]
    return out


def run(
    feed: list[tuple[bytes, bytes]], window: Window, present: SummariesPresent | None = None, **settings: Any
) -> Backfill:
    codec = AvroCodec()
    backfill = Backfill(
        current_definitions(Settings(**settings)), window, present or SummariesPresent(codec), codec
    )
    for key, value in feed:
        backfill.feed(key, value, 0)
    return backfill


def test_records_are_grouped_into_calls_and_each_call_of_the_window_is_summarised_as_the_engine_scores_it(
    calls: list[Recording],
) -> None:
    codec = AvroCodec()
    in_window, before, unended, headless = calls[0], calls[1], calls[2], calls[3]
    per_call = [
        records(stamped(in_window, BASE_MS + 1000), codec),
        records(stamped(before, BASE_MS - 1000), codec),  # started before --since
        records(stamped(unended, BASE_MS + 2000, ended=False), codec),
        records(stamped(headless, BASE_MS + 3000)[1:], codec),  # its CallStarted out of retention
        records(stamped(calls[4], BASE_MS + 4000), codec),
    ]
    feed = interleaved(per_call)
    feed.insert(3, (b"garbage", b"\x00\x01 not an event"))
    backfill = run(feed, Window(BASE_MS, BASE_MS + DAY_MS))
    result = backfill.result()
    assert len(result.calls) == 5
    assert result.scored == 2 and len(result.summaries) == 2
    assert result.outside_window == 1 and result.not_ended == 1 and result.no_start == 1
    assert sum(result.refused.values()) == 1
    decoded = {key.decode(): codec.decode(value) for key, value in result.summaries}
    assert set(decoded) == {in_window.call_id, calls[4].call_id}
    definitions = current_definitions(Settings())
    for recording in (in_window, calls[4]):
        name, summary = decoded[recording.call_id]
        assert name == "CallSummary"
        assert summary["definitions"] == result.definitions == definitions.version
        offline = score_recording(recording, definitions.config, definitions.rules)
        assert summary["customer_focus_score"] == offline.metrics.customer_focus_score
        assert summary["segments"] > 0 and summary["started_at"] >= BASE_MS
        assert summary["nudges"] == [n.nudge_id for n in offline.nudges][: len(summary["nudges"])]
    lines = report_lines(result, "x.call-summaries")
    assert any(line.split() == ["calls", "seen", "5"] for line in lines)
    assert any(line.split() == ["written", "0"] for line in lines)
    assert any(line.split()[:3] == ["records", "skipped:", "invalid"] and "1" in line for line in lines)


def test_the_until_bound_leaves_later_calls_out(calls: list[Recording]) -> None:
    codec = AvroCodec()
    feed = records(stamped(calls[0], BASE_MS + 10), codec) + records(stamped(calls[1], BASE_MS + 5000), codec)
    result = run(feed, Window(BASE_MS, BASE_MS + 5000)).result()
    assert result.scored == 1 and result.outside_window == 1


def test_a_call_already_summarised_under_the_same_definitions_is_skipped_and_under_others_it_is_not(
    calls: list[Recording], tmp_path: Path
) -> None:
    codec = AvroCodec()
    window = Window(BASE_MS, BASE_MS + DAY_MS)
    feed = records(stamped(calls[0], BASE_MS + 10), codec) + records(stamped(calls[1], BASE_MS + 20), codec)
    first = run(feed, window).result()
    assert len(first.summaries) == 2
    present = SummariesPresent(codec)
    for _, value in first.summaries[:1]:
        present.add_record(value)
    present.add_record(b"\x00 not a summary")
    present.add_record(codec.encode(*event_to_record(CallEnded("x", 1))))  # not a CallSummary
    assert present.undecodable == 2
    again = run(feed, window, present).result()
    assert again.scored == 2 and again.already_present == 1 and len(again.summaries) == 1
    assert again.summaries[0] == first.summaries[1]  # same events, same definitions: same bytes
    # another nudge rule: another definitions string, so nothing is "present" under it
    rules = tmp_path / "rules.toml"
    rules.write_text("[monologue]\nthreshold = 45\n")
    assert load_rules(rules) != load_rules(None)
    changed = run(feed, window, present, nudge_rules_file=rules).result()
    assert changed.definitions != first.definitions
    assert changed.already_present == 0 and len(changed.summaries) == 2


def test_events_are_redacted_as_the_worker_redacts_them(calls: list[Recording]) -> None:
    codec = AvroCodec()
    events = stamped(calls[0], BASE_MS + 10)
    segment_at = next(i for i, e in enumerate(events) if isinstance(e, TranscriptSegment))
    segment = events[segment_at]
    assert isinstance(segment, TranscriptSegment)
    events[segment_at] = segment.replace(text="my card is 4111 1111 1111 1111 thanks")
    window = Window(BASE_MS, BASE_MS + DAY_MS)
    backfill = run(records(events, codec), window)
    assert backfill.result().scored == 1
    registry = backfill.processor.metrics.registry
    assert registry.get_sample_value("callfocus_redactions_total", {"kind": "card"}) == 1.0
    off = run(records(events, codec), window, redaction_mode="off")
    assert (
        off.processor.metrics.registry.get_sample_value("callfocus_redactions_total", {"kind": "card"}) == 0
    )


def test_a_call_refused_before_its_start_then_started_is_scored_as_the_worker_scores_it(
    calls: list[Recording],
) -> None:
    codec = AvroCodec()
    events = stamped(calls[0], BASE_MS + 10)
    # its first segment arrives before its CallStarted: the worker refuses that one segment
    feed = records([events[1], events[0], *events[2:]], codec)
    result = run(feed, Window(BASE_MS, BASE_MS + DAY_MS)).result()
    assert result.scored == 1 and result.no_start == 0
    assert result.calls[calls[0].call_id].refused_unstarted == 1


def test_events_after_the_end_are_refused_as_the_worker_refuses_them(calls: list[Recording]) -> None:
    codec = AvroCodec()
    events = stamped(calls[0], BASE_MS + 10)
    late = next(e for e in events if isinstance(e, TranscriptSegment))
    result = run(records([*events, late], codec), Window(BASE_MS, BASE_MS + DAY_MS)).result()
    assert result.scored == 1 and dict(result.refused) == {"call_ended": 1}


def test_the_command_refuses_bad_times_in_one_line_with_exit_status_2() -> None:
    for args, where in (
        (["--since", "yesterday"], "--since"),
        (["--since", "1d", "--until", "nope"], "--until"),
        (["--since", "1d", "--until", "2d"], "--until"),
        (["--since", "2999-01-01"], "--until"),
    ):
        result = CliRunner().invoke(main, ["backfill", *args])
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("callfocus: ") and where in lines[0], lines


def test_the_command_without_a_broker_says_so_in_one_line_with_exit_status_3() -> None:
    # tests/conftest.py points CALLFOCUS_KAFKA_BOOTSTRAP at a port where nothing listens
    env = {"CALLFOCUS_KAFKA_CONNECT_TIMEOUT_SECONDS": "1"}
    result = CliRunner().invoke(main, ["backfill", "--since", "1d"], env=env)
    assert result.exit_code == 3, result.output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("callfocus: ")


def test_the_report_says_what_a_dry_run_would_write_and_where_retention_cut_the_window() -> None:
    from collections import Counter

    from streams.tools.backfill import BackfillResult, CallSeen

    result = BackfillResult(
        definitions="callfocus-1+abc.trackers-def",
        window=Window(BASE_MS, BASE_MS + DAY_MS),
        calls={
            "a": CallSeen(started=True, ended=True),
            "b": CallSeen(started=True, ended=True, present=True),
        },
        summaries=[(b"a", b"...")],
        refused=Counter({"undecodable": 2, "call_ended": 1}),
        dry_run=True,
        retained_from_ms=BASE_MS + 3_600_000,
        partitions_at_worker_progress=2,
    )
    lines = report_lines(result, "p.call-summaries")
    assert lines[0].endswith("(dry run: nothing written)")
    assert lines[0].startswith("backfill of calls started 2026-12-01T00:00:00Z to 2026-12-02T00:00:00Z")
    assert ["would", "write", "1"] in [line.split() for line in lines]
    assert ["already", "present", "1"] in [line.split() for line in lines]
    assert "records skipped: invalid        3 (call_ended 1, undecodable 2)" in lines
    assert any("keeps events from 2026-12-01T01:00:00Z only" in line for line in lines)
    assert any("committed offsets on 2 partitions" in line for line in lines)
    data = result.as_dict()
    assert data["to_write"] == 1 and data["written"] == 0 and data["already_present"] == 1
    assert data["retained_from"] == "2026-12-01T01:00:00Z"
