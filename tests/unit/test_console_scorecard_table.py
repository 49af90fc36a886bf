"""The console's scorecard table: the cells it holds (latest value wins, tombstones, unreadable
records, the cap), their merge over partitions, the reader's part, and
``/api/scorecards?source=table`` and ``/api/report?source=table`` through the real routes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from streams.coaching.cells import DayCell, TotalsCell, cell_value, changelog_topic, with_team_cards
from streams.coaching.scorecards import Scorecard, ScorecardKey, build_scorecards
from streams.console.scorecard_table import (
    NO_KEY,
    UNREADABLE_KEY,
    UNREADABLE_VALUE,
    ScorecardTable,
    merge_cells,
    select_table_cards,
    window_days,
)
from streams.console.scorecards import ScorecardQuery
from streams.console.state import SkippedRecords
from streams.console.views import Console
from tests.oidc_provider import IdentityProvider
from tests.unit.test_console_agents import summary
from tests.unit.test_console_scorecard_views import (
    OTHER_AGENT,
    OTHER_TEAM,
    STATIC,
    ask_all,
    bearer,
)
from tests.unit.test_console_scorecard_views import (
    held_app as summaries_app,
)

DAY_MS = 86_400_000
DAY = date(2026, 12, 4)
KEY = ScorecardKey(DAY, "sales", "agent-a", "d1")


def card_of(*scores: float | None) -> Scorecard:
    card = Scorecard()
    for score in scores:
        card.add(summary("c", score, 1_000_000))
    return card


def key_bytes(partition: int, key: ScorecardKey = KEY) -> bytes:
    return DayCell(partition, key).text().encode()


def value_bytes(partition: int, card: Scorecard, last_day: date = DAY) -> bytes:
    return orjson.dumps(cell_value(partition, card, last_day))


def put(table: ScorecardTable, summaries_by_partition: Mapping[int, Iterable[dict[str, Any]]]) -> None:
    """Write the cells the worker would write for these summaries, each in its partition
    (the agents' day cards: the team's are made from them)."""
    for partition, summaries in summaries_by_partition.items():
        for key, card in build_scorecards(summaries).items():
            if not key.is_team:
                table.apply(key_bytes(partition, key), value_bytes(partition, card, key.day))


# -- the holder ---------------------------------------------------------------------------
def test_the_latest_value_of_a_cell_wins_and_a_tombstone_deletes_it() -> None:
    table = ScorecardTable()
    assert table.apply(key_bytes(0), value_bytes(0, card_of(50.0))) is None
    assert table.apply(key_bytes(0), value_bytes(0, card_of(50.0, 70.0))) is None
    assert table.apply(key_bytes(1), value_bytes(1, card_of(90.0))) is None
    assert len(table) == 2
    assert dict(table.cells())[DayCell(0, KEY)] == card_of(50.0, 70.0)
    assert table.apply(key_bytes(0), None) is None
    assert [cell for cell, _ in table.cells()] == [DayCell(1, KEY)]
    assert table.apply(key_bytes(5), None) is None  # a tombstone of a cell never held
    assert table.records == 5 and not table.unreadable


def test_totals_cells_and_the_tables_other_keys_are_not_held() -> None:
    table = ScorecardTable()
    totals = TotalsCell(0, "sales", "agent-a").text().encode()
    assert table.apply(totals, value_bytes(0, card_of(50.0))) is None
    assert table.apply(totals, None) is None
    assert table.apply(b"call-1", b"whatever a call's state is") is None
    assert len(table) == 0 and not table.unreadable and table.records == 3


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (None, b"{}", NO_KEY),
        (b"\x1eday\x1f1\x1fnot-a-day\x1fsales\x1fa\x1fd1", b"{}", UNREADABLE_KEY),
        (b"\x1eday\x1fx\x1f2026-12-04\x1fsales\x1fa\x1fd1", b"{}", UNREADABLE_KEY),
        (b"\x1e", b"{}", UNREADABLE_KEY),
        (b"\x1e\xff\xfe", b"{}", UNREADABLE_KEY),
        (key_bytes(0), b"{", UNREADABLE_VALUE),
        (key_bytes(0), b"[]", UNREADABLE_VALUE),
        (key_bytes(0), b'{"card": {"calls": 1, "bogus": 2}, "last_day": "2026-12-04"}', UNREADABLE_VALUE),
        (key_bytes(0), b'{"card": {"score_bins": [1]}, "last_day": "2026-12-04"}', UNREADABLE_VALUE),
        (key_bytes(0), b'{"card": {"calls": "many"}, "last_day": "2026-12-04"}', UNREADABLE_VALUE),
    ],
)
def test_a_record_it_cannot_read_is_counted_and_skipped(key: bytes | None, value: bytes, reason: str) -> None:
    table = ScorecardTable()
    table.apply(key_bytes(0), value_bytes(0, card_of(50.0)))
    table.apply(key_bytes(1), value_bytes(1, card_of(60.0)))
    assert table.apply(key, value) == reason
    assert table.unreadable == {reason: 1}
    held = {cell.partition for cell, _ in table.cells()}
    # an unreadable value of a held cell drops it: what was held is no longer the latest
    assert held == ({1} if key == key_bytes(0) else {0, 1})
    assert table.status()["unreadable"] == {reason: 1}
    table.cards()  # what is held still merges


def test_the_cap_drops_the_least_recently_written_cells() -> None:
    table = ScorecardTable(max_cells=2)
    keys = [ScorecardKey(DAY + timedelta(days=n), "sales", "agent-a", "d1") for n in range(3)]
    table.apply(key_bytes(0, keys[0]), value_bytes(0, card_of(10.0)))
    table.apply(key_bytes(0, keys[1]), value_bytes(0, card_of(20.0)))
    table.apply(key_bytes(0, keys[0]), value_bytes(0, card_of(10.0, 11.0)))  # written again: newest
    table.apply(key_bytes(0, keys[2]), value_bytes(0, card_of(30.0)))
    assert [cell.key for cell, _ in table.cells()] == [keys[0], keys[2]]
    assert table.evicted == 1
    assert table.status() == {"reading": False, "cells": 2, "max_cells": 2, "evicted": 1, "unreadable": {}}
    table.clear()
    assert len(table) == 0 and table.evicted == 0 and table.records == 0


def test_the_changelog_topic_is_fausts_name_for_the_table() -> None:
    assert changelog_topic("callfocus") == "callfocus-scorecards-changelog"


# -- merged over partitions ---------------------------------------------------------------
def test_a_card_is_the_merge_of_its_cells_over_the_partitions() -> None:
    now = 1_764_900_000_000  # 2025-12-05T02:00Z
    calls = [
        summary("a1", 60.0, now, nudges=("n1",), hits=2),
        summary("a2", 80.0, now),
        summary("a3", None, now),
        summary("b1", 40.0, now, agent_id="agent-b"),
        summary("a-old", 90.0, now - 3 * DAY_MS),
        summary("d2", 70.0, now, definitions="d2"),
    ]
    table = ScorecardTable()
    put(table, {0: calls[0::3], 1: calls[1::3], 2: calls[2::3]})
    merged = table.cards()
    assert merged == build_scorecards(calls)  # the cards of every call, whatever their partition
    assert merge_cells(with_team_cards(table.cells())) == merged
    assert all(not cell.key.is_team for cell, _ in table.cells())  # teams' cards are made, not held
    for cell, card in table.cells():  # merging made new cards: the held ones are as written
        assert card == build_scorecards(calls[cell.partition :: 3])[cell.key]


# -- what a query keeps --------------------------------------------------------------------
def query(since: datetime, until: datetime, **asked: Any) -> ScorecardQuery:
    return ScorecardQuery(
        since=since, until=until, period=asked.pop("period", "day"), timezone="UTC", **asked
    )


def test_a_day_the_window_touches_counts_whole() -> None:
    noon = datetime(2026, 12, 4, 12, tzinfo=UTC)
    assert window_days(query(noon, noon + timedelta(hours=1))) == (DAY, DAY)
    midnight = datetime(2026, 12, 6, tzinfo=UTC)
    assert window_days(query(noon, midnight)) == (DAY, date(2026, 12, 5))  # until is excluded
    berlin = ScorecardQuery(since=noon, until=midnight, period="day", timezone="Europe/Berlin")
    assert window_days(berlin) == (DAY, date(2026, 12, 6))  # 01:00 on the 6th in Berlin


def test_select_keeps_the_days_team_and_agent_asked_of_teams_seen_and_counts_calls() -> None:
    start = datetime(2026, 12, 4, 9, tzinfo=UTC)
    at = int(start.timestamp() * 1000)
    calls = [
        summary("a1", 60.0, at),
        summary("a2", 80.0, at),
        summary("b1", 40.0, at, agent_id="agent-b"),
        summary("a-old", 90.0, at - 3 * DAY_MS),
        summary("s1", 55.0, at, agent_id="agent-s", team="support"),
        summary("z1", 10.0, at, agent_id=OTHER_AGENT, team=OTHER_TEAM),
    ]
    table = ScorecardTable()
    put(table, {0: calls[0::2], 1: calls[1::2]})
    cells = table.cells()
    since, until = start - timedelta(days=1), start + timedelta(hours=1)

    def sees(team: str) -> bool:
        return team != OTHER_TEAM

    cards, counts = select_table_cards(cells, query(since, until), sees)
    assert sorted((k.team, k.agent_id) for k in cards) == [
        ("sales", ""),
        ("sales", "agent-a"),
        ("sales", "agent-b"),
        ("support", ""),
        ("support", "agent-s"),
    ]
    assert cards[ScorecardKey(DAY, "sales", "", "d1")].figures().calls == 3
    assert (counts.records, counts.kept, counts.outside_window, counts.other_teams_or_agents) == (5, 4, 1, 0)

    cards, counts = select_table_cards(cells, query(since, until, team="sales"), sees)
    assert {k.team for k in cards} == {"sales"}
    assert (counts.records, counts.kept, counts.outside_window, counts.other_teams_or_agents) == (5, 3, 1, 1)

    cards, counts = select_table_cards(cells, query(since, until, agent="agent-a"), sees)
    assert list(cards) == [ScorecardKey(DAY, "sales", "agent-a", "d1")]  # no team card of one agent
    assert cards[ScorecardKey(DAY, "sales", "agent-a", "d1")].figures().mean_score == 70.0
    assert (counts.records, counts.kept, counts.outside_window, counts.other_teams_or_agents) == (5, 2, 1, 2)

    weekly, _ = select_table_cards(cells, query(since - timedelta(days=7), until, period="week"), sees)
    monday = date(2026, 11, 30)
    assert weekly[ScorecardKey(monday, "sales", "agent-a", "d1")].figures().calls == 3
    assert all(k.team != OTHER_TEAM for k in weekly)


# -- the reader's part ------------------------------------------------------------------------
@dataclass
class Message:
    key: bytes | None
    value: bytes | None


def test_the_reader_applies_cells_and_logs_what_it_skips(caplog: pytest.LogCaptureFixture) -> None:
    from streams.console.views import ConsoleFeed

    table = ScorecardTable()
    feed = ConsoleFeed.__new__(ConsoleFeed)  # the method alone: no service, no Kafka
    feed.calls = type("State", (), {"scorecard_table": table})()  # type: ignore[assignment]
    feed.skipped = SkippedRecords()
    feed.table_topic = changelog_topic("callfocus")
    with caplog.at_level("WARNING"):
        feed._apply_cells([Message(key_bytes(0), value_bytes(0, card_of(50.0))), Message(key_bytes(1), b"{")])
    assert len(table) == 1 and table.unreadable == {UNREADABLE_VALUE: 1}
    assert feed.skipped.total == 1
    assert f"1 on callfocus-scorecards-changelog ({UNREADABLE_VALUE})" in caplog.text


class FakeCluster:
    def __init__(self, topics: dict[str, set[int]]) -> None:
        self.topics = topics

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.topics.get(topic)


class FakeConsumer:
    """What _add_table asks of aiokafka's consumer."""

    def __init__(self, positions: dict[Any, int], topics: dict[str, set[int]]) -> None:
        self.positions = dict(positions)
        self.topics = topics
        self.assigned: list[Any] = list(positions)
        self.sought: dict[Any, int] = {}
        client = type("Client", (), {})()

        async def fetch_all_metadata() -> FakeCluster:
            return FakeCluster(self.topics)

        client.fetch_all_metadata = fetch_all_metadata
        self._client = client

    def assignment(self) -> set[Any]:
        return set(self.assigned)

    async def position(self, tp: Any) -> int:
        return self.positions[tp]

    async def beginning_offsets(self, partitions: list[Any]) -> dict[Any, int]:
        return {tp: 7 for tp in partitions}

    def assign(self, partitions: list[Any]) -> None:
        self.assigned, self.sought = list(partitions), {}  # aiokafka forgets every position

    def seek(self, tp: Any, offset: int) -> None:
        self.sought[tp] = offset


def test_a_table_made_after_the_reader_started_is_read_from_its_start() -> None:
    from aiokafka import TopicPartition

    from streams.console.views import ConsoleFeed

    table = ScorecardTable()
    table.apply(key_bytes(0), value_bytes(0, card_of(50.0)))
    feed = ConsoleFeed.__new__(ConsoleFeed)
    feed.calls = type("State", (), {"scorecard_table": table})()  # type: ignore[assignment]
    feed.table_topic = changelog_topic("callfocus")
    metrics = TopicPartition("callfocus.call-metrics", 0)
    feed.consumer = FakeConsumer({metrics: 42}, {"callfocus.call-metrics": {0}})

    asyncio.run(feed._add_table())
    assert not table.reading and feed.consumer.sought == {}  # no table yet: nothing changes
    feed.consumer.topics[feed.table_topic] = {0, 1}
    asyncio.run(feed._add_table())
    first, second = TopicPartition(feed.table_topic, 0), TopicPartition(feed.table_topic, 1)
    assert feed.consumer.assignment() == {metrics, first, second}
    assert feed.consumer.sought == {metrics: 42, first: 7, second: 7}  # the others go on where they were
    assert table.reading and len(table) == 0


# -- the routes -----------------------------------------------------------------------------
def table_app(provider: IdentityProvider) -> tuple[Any, Console, int]:
    """The summaries console of test_console_scorecard_views, whose table holds the same
    calls spread over two partitions, and one more call of sales that only the table has."""
    app, console, recent = summaries_app(provider)
    calls = list(console.state.agents.by_call.values())
    calls.append(summary("table-only", 100.0, recent, agent_id="agent-b"))
    put(console.state.scorecard_table, {0: calls[0::2], 1: calls[1::2]})
    console.state.scorecard_table.reading = True
    return app, console, recent


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def test_who_may_ask_the_table_and_what_a_query_may_hold(provider: IdentityProvider) -> None:
    app, _, _ = table_app(provider)
    sales = bearer(provider.token(["sales"], subject="alice"))
    static = bearer(STATIC)
    answers = ask_all(
        app,
        {
            "no token": ("/api/scorecards?source=table", {}),
            "supervisor, other team": (f"/api/scorecards?source=table&team={OTHER_TEAM}", sales),
            "supervisor, other team: report": (f"/api/report?source=table&team={OTHER_TEAM}", sales),
            "unknown source": ("/api/scorecards?source=topic", static),
            "unknown source: report": ("/api/report?source=cache&format=csv", static),
            "other zone": ("/api/scorecards?source=table&timezone=Europe/Berlin", static),
            "other zone: report": ("/api/report?source=table&timezone=Mars/Olympus&format=json", static),
            "table's zone": ("/api/scorecards?source=table&timezone=UTC", static),
            "bad period": ("/api/scorecards?source=table&period=quarter", static),
            "bad since": ("/api/scorecards?source=table&since=last-tuesday", static),
            "summaries, other zone": ("/api/scorecards?source=summaries&timezone=Europe/Berlin", static),
        },
    )
    assert answers["no token"][0] == 401
    for name in ("supervisor, other team", "supervisor, other team: report"):
        assert answers[name][0] == 403, name
        assert answers[name][2] == {"error": "forbidden", "detail": f"not a team of yours: {OTHER_TEAM}"}
    assert answers["unknown source"][0] == answers["unknown source: report"][0] == 400
    assert answers["unknown source"][2]["detail"] == "source: 'topic' is not one of summaries, table"
    zone_detail = "timezone: the scorecard table's days are in UTC; give UTC or none"
    for name in ("other zone", "other zone: report"):
        assert answers[name][0] == 400, name
        assert answers[name][2] == {"error": "bad request", "detail": zone_detail}, name
    assert answers["bad period"][0] == answers["bad since"][0] == 400
    assert answers["bad period"][2]["detail"] == "period: 'quarter' is not one of day, week, month"
    assert answers["table's zone"][0] == answers["summaries, other zone"][0] == 200
    assert answers["table's zone"][2]["timezone"] == "UTC"


def test_the_tables_cards_are_the_summaries_cards_merged_over_partitions(provider: IdentityProvider) -> None:
    app, _, recent = table_app(provider)
    sales = bearer(provider.token(["sales"], subject="alice"))
    static = bearer(STATIC)
    answers = ask_all(
        app,
        {
            "table": ("/api/scorecards?source=table", static),
            "summaries": ("/api/scorecards", static),
            "supervisor": ("/api/scorecards?source=table", sales),
            "supervisor, team": ("/api/scorecards?source=table&team=sales", sales),
            "agent": ("/api/scorecards?source=table&agent=agent-a", sales),
            "last two days": ("/api/scorecards?source=table&since=2d", sales),
            "per week": ("/api/scorecards?source=table&period=week&since=14d", static),
        },
    )
    assert {name: status for name, (status, _, _) in answers.items()} == dict.fromkeys(answers, 200)
    today, old = day_of(recent - 300_000), day_of(recent - 3 * 86_400_000 - 300_000)

    def keys(body: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(c["key"]["period_start"], c["key"]["team"], c["key"]["agent_id"]) for c in body["cards"]]

    table, summaries = answers["table"][2], answers["summaries"][2]
    assert keys(table) == keys(summaries)  # the same cards, newest period first
    assert table["source"] == "table" and "source" not in summaries  # the default answers as before
    assert table["calls"] == {"held": 6, "kept": 6} and "summaries" not in table
    assert table["table"]["reading"] is True and table["table"]["cells"] > 0
    cards = dict(zip(keys(table), table["cards"], strict=True))
    held = dict(zip(keys(summaries), summaries["cards"], strict=True))
    for key in held:
        if key != (today, "sales", "") and key != (today, "sales", "agent-b"):
            assert cards[key] == held[key], key  # merged over partitions: the very same figures
    assert cards[(today, "sales", "agent-b")]["figures"]["calls"] == 2  # the call only the table has
    assert cards[(today, "sales", "")]["figures"]["calls"] == 4

    supervisor = answers["supervisor"][2]
    assert keys(supervisor) == [k for k in keys(table) if k[1] == "sales"]
    assert supervisor["calls"] == {"held": 5, "kept": 5}  # another team's calls are not counted
    assert OTHER_TEAM not in json.dumps(supervisor) and OTHER_AGENT not in json.dumps(supervisor)
    assert answers["supervisor, team"][2]["cards"] == supervisor["cards"]
    assert keys(answers["agent"][2]) == [(today, "sales", "agent-a"), (old, "sales", "agent-a")]
    assert keys(answers["last two days"][2]) == [k for k in keys(supervisor) if k[0] == today]
    assert answers["last two days"][2]["calls"] == {"held": 5, "kept": 4}
    weekly = answers["per week"][2]
    assert weekly["period"] == "week"
    assert sum(c["figures"]["calls"] for c in weekly["cards"] if c["key"]["kind"] == "team") == 6


def test_the_tables_report_in_each_format_names_no_other_team(provider: IdentityProvider) -> None:
    app, _, _ = table_app(provider)
    sales = bearer(provider.token(["sales"], subject="alice"))
    static = bearer(STATIC)
    answers = ask_all(
        app,
        {
            "csv": ("/api/report?source=table&format=csv&since=7d", static),
            "json": ("/api/report?source=table&format=json&since=7d", static),
            "html": ("/api/report?source=table&format=html&since=7d", static),
            "scorecards": ("/api/scorecards?source=table&since=7d", static),
            "supervisor html": ("/api/report?source=table&format=html", sales),
            "supervisor csv": ("/api/report?source=table&format=csv", sales),
            "supervisor json": ("/api/report?source=table&format=json", sales),
        },
    )
    assert {name: status for name, (status, _, _) in answers.items()} == dict.fromkeys(answers, 200)
    assert answers["csv"][1]["Content-Type"] == "text/csv; charset=utf-8"
    assert answers["html"][1]["Content-Security-Policy"].startswith("default-src 'none'")
    rows = list(csv.DictReader(io.StringIO(answers["csv"][2])))
    document = answers["json"][2]
    assert len(rows) == len(document["cards"]) == len(answers["scorecards"][2]["cards"]) == 7
    assert document["counts"]["kept"] == 6 and document["timezone"] == "UTC"
    assert sorted(json.dumps(c, sort_keys=True) for c in document["cards"]) == sorted(
        json.dumps(c, sort_keys=True) for c in answers["scorecards"][2]["cards"]
    )
    assert OTHER_TEAM in answers["html"][2]
    for name in ("supervisor html", "supervisor csv", "supervisor json"):
        text = answers[name][2] if isinstance(answers[name][2], str) else json.dumps(answers[name][2])
        assert "agent-a" in text and "sales" in text, name
        assert OTHER_TEAM not in text and OTHER_AGENT not in text, name
    assert answers["supervisor json"][2]["counts"]["records"] == 5


def test_an_empty_table_answers_no_cards() -> None:
    from tests.unit.test_console_views import console_app

    app, _ = console_app()
    answers = ask_all(app, {"table": ("/api/scorecards?source=table", {})})
    status, _, body = answers["table"]
    assert status == 200 and body["cards"] == [] and body["calls"] == {"held": 0, "kept": 0}
    assert body["table"] == {
        "reading": False,
        "cells": 0,
        "max_cells": 200_000,
        "evicted": 0,
        "unreadable": {},
    }
