"""``callfocus report`` without Kafka: its times, which summaries it keeps, its mistakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from streams.errors import InvalidReason
from streams.tools.cli import main
from streams.tools.report import Selection, Tally, report_cards, select
from streams.tools.times import parse_time, to_ms
from streams.wire.codec import AvroCodec

NOW = datetime(2026, 12, 6, 18, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def summary(agent: str, team: str, started: datetime | None, ended: datetime, **values: object) -> dict:
    return {
        "call_id": f"{agent}-{ended.isoformat()}",
        "agent_id": agent,
        "team": team,
        "queue": "q",
        "started_at": to_ms(started) if started is not None else None,
        "ended_at": to_ms(ended),
        "duration_seconds": (ended - (started or ended)).total_seconds(),
        "segments": 3,
        "customer_focus_score": 60.0,
        "definitions": "1.0+abc",
        **values,
    }


def test_the_selection_keeps_calls_started_in_the_window_of_the_teams_and_agents_asked() -> None:
    codec = AvroCodec()
    since, until = datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)
    inside = since + timedelta(hours=1)
    records = [
        codec.encode("CallSummary", summary("ana", "billing", inside, inside + timedelta(minutes=5))),
        # started before since, ended after: outside (a call counts where it started)
        codec.encode("CallSummary", summary("ana", "billing", since - timedelta(minutes=1), inside)),
        # started at until: outside (until is excluded)
        codec.encode("CallSummary", summary("ana", "billing", until, until + timedelta(minutes=5))),
        # no start: counted by its end
        codec.encode("CallSummary", summary("bo", "billing", None, inside)),
        codec.encode("CallSummary", summary("cy", "sales", inside, inside + timedelta(minutes=5))),
        b"\x00garbage",
        None,
        codec.encode(
            "Nudge",
            {
                "nudge_id": "n",
                "call_id": "c",
                "agent_id": "ana",
                "team": "billing",
                "type": "monologue",
                "severity": "info",
                "message": "m",
                "media_time_ms": 1000,
                "created_at": 0,
            },
        ),
    ]
    selection = Selection(to_ms(since), to_ms(until), teams=frozenset({"billing"}))
    tally = Tally()
    kept = list(select(records, selection, codec.decode, tally))
    counts = tally.counts()
    assert [s["agent_id"] for s in kept] == ["ana", "bo"]
    assert counts.records == 8 and counts.kept == 2
    assert counts.outside_window == 2 and counts.other_teams_or_agents == 1
    assert sum(counts.undecodable.values()) + counts.other_records == 3
    assert counts.undecodable[str(InvalidReason.EMPTY)] == 1
    assert counts.undecodable[str(InvalidReason.UNKNOWN_FORMAT)] == 1

    only_bo = Selection(to_ms(since), to_ms(until), agents=frozenset({"bo"}))
    tally = Tally()
    kept = list(select(records, only_bo, codec.decode, tally))
    assert [s["agent_id"] for s in kept] == ["bo"] and tally.counts().other_teams_or_agents == 2


def test_agents_asked_give_no_team_card_made_of_them_alone() -> None:
    day = datetime(2026, 11, 30, 9, tzinfo=UTC)
    calls = [summary("ana", "billing", day, day + timedelta(minutes=5))]
    assert {key.agent_id for key in report_cards(calls, "week", UTC)} == {"", "ana"}
    assert {key.agent_id for key in report_cards(calls, "week", UTC, frozenset({"ana"}))} == {"ana"}


def test_the_days_of_the_cards_are_in_the_zone_asked() -> None:
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 00:30 on 1 December in Berlin
    calls = [summary("ana", "billing", late, late + timedelta(minutes=5))]
    assert {key.day.isoformat() for key in report_cards(calls, "day", UTC)} == {"2026-11-30"}
    assert {key.day.isoformat() for key in report_cards(calls, "day", BERLIN)} == {"2026-12-01"}
    assert {key.day.isoformat() for key in report_cards(calls, "month", BERLIN)} == {"2026-12-01"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--since", "yesterday", "--format", "csv"],
            "callfocus: Invalid value for --since: 'yesterday' is not",
        ),
        (
            ["--since", "7d", "--until", "soon", "--format", "csv"],
            "callfocus: Invalid value for --until: 'soon'",
        ),
        (
            ["--since", "2026-12-01", "--until", "2026-11-01", "--format", "csv"],
            "callfocus: --until 2026-11-01T00:00:00+00:00 is not after --since 2026-12-01T00:00:00+00:00",
        ),
        (["--since", "7d", "--until", "7d", "--format", "csv"], "callfocus: --until "),
        (
            ["--since", "7d", "--format", "xml"],
            "callfocus: Invalid value for '--format': 'xml' is not one of",
        ),
        (["--since", "7d"], "callfocus: Missing option '--format'"),
        (["--format", "csv"], "callfocus: Missing option '--since'"),
        (["--since", "7d", "--format", "csv", "--period", "year"], "callfocus: Invalid value for '--period'"),
        (
            ["--since", "7d", "--format", "csv", "--timezone", "Mars/Base"],
            "callfocus: Invalid value for --timezone: 'Mars/Base' is not an IANA time zone",
        ),
        (
            ["--since", "7d", "--format", "html", "--output", "/no/such/folder/report.html"],
            "callfocus: Invalid value for --output: cannot write to /no/such/folder/report.html",
        ),
    ],
)
def test_a_mistake_is_one_line_and_exit_status_2(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(main, ["report", *args], prog_name="callfocus")
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(expected), result.stderr
    assert result.stdout == ""


def test_an_output_that_is_a_folder_is_a_mistake(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["report", "--since", "7d", "--format", "csv", "--output", str(tmp_path)], prog_name="callfocus"
    )
    assert (
        result.exit_code == 2 and "is a directory" in result.stderr and len(result.stderr.splitlines()) == 1
    )


def test_no_broker_is_exit_status_3_naming_the_bootstrap() -> None:
    # the unit tests' bootstrap is 127.0.0.1:9, where nothing listens (tests/conftest.py)
    result = CliRunner().invoke(
        main,
        ["report", "--since", "7d", "--format", "json"],
        env={"CALLFOCUS_KAFKA_CONNECT_TIMEOUT_SECONDS": "1"},
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("callfocus: nothing answered at 127.0.0.1:9 within 1 s")
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


def test_a_fixed_offset_zone_is_not_a_name() -> None:
    # --timezone takes IANA names; an offset belongs in the TIME itself
    assert parse_time("2026-11-30T08:00-05:00", NOW) == datetime(
        2026, 11, 30, 8, tzinfo=timezone(timedelta(hours=-5))
    )
