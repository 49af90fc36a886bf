"""The worker's scorecard cells and their per-agent series: in memory, with a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from streams.coaching.cells import DayCell, TotalsCell, cell_value, is_cell, parse_cell, with_team_cards
from streams.coaching.scorecards import Scorecard, ScorecardKey, build_scorecards
from streams.worker.calls import UnwrittenStates
from streams.worker.commits import CommitProtocol
from streams.worker.exporter import PipelineMetrics
from streams.worker.scorecard_cells import ScorecardCells
from streams.worker.scorecard_series import SERIES_PER_AGENT, WORKER_SERIES, ScorecardCollector
from tests.unit.batch_fixtures import CODEC, FakeClock, Input, make_applier

DAY_MS = 86_400_000
DEC_4 = int(datetime(2026, 12, 4, 15, tzinfo=UTC).timestamp() * 1000)


def summary(agent: str = "agent-cy", team: str = "sales", score: float | None = 70.0, **more: Any) -> dict:
    return {
        "call_id": f"call-{agent}",
        "agent_id": agent,
        "team": team,
        "started_at": DEC_4,
        "ended_at": DEC_4 + 300_000,
        "duration_seconds": 300.0,
        "customer_focus_score": score,
        "agent_talk_ratio": 0.5,
        "questions_per_minute": 1.0,
        "open_question_ratio": 0.4,
        "monologue_longest_seconds": 42.0,
        "nudges": ["n-1"],
        "tracker_hits": [{"tracker": "refund", "hits": 2}],
        "definitions": "v1",
        **more,
    }


def written(unwritten: UnwrittenStates) -> dict[str, Any]:
    """What the next commit writes: key -> data."""
    unwritten.begin()
    return {key.decode(): data for key, data, _ in unwritten.take(10_000)}


def test_a_summary_adds_to_the_agents_day_card_and_totals() -> None:
    unwritten = UnwrittenStates()
    cells = ScorecardCells(unwritten, UTC)
    keys = cells.add(summary(), 2, source="record")
    assert [parse_cell(key) for key in keys] == [
        DayCell(2, ScorecardKey(date(2026, 12, 4), "sales", "agent-cy", "v1")),
        TotalsCell(2, "sales", "agent-cy"),
    ]
    data = written(unwritten)
    assert set(data) == set(keys)
    for key in keys:
        assert data[key]["partition"] == 2 and data[key]["last_day"] == "2026-12-04"
        assert Scorecard.from_dict(data[key]["card"]).figures().calls == 1


def test_the_day_is_the_calls_start_in_the_tables_zone() -> None:
    from zoneinfo import ZoneInfo

    late_evening = int(datetime(2026, 12, 5, 2, tzinfo=UTC).timestamp() * 1000)  # Dec 4 in Chicago
    cells = ScorecardCells(UnwrittenStates(), ZoneInfo("America/Chicago"))
    day_cell = parse_cell(cells.add(summary(started_at=late_evening), 0, None)[0])
    assert isinstance(day_cell, DayCell) and day_cell.key.day == date(2026, 12, 4)


def test_cells_add_up_as_the_report_does() -> None:
    """Merged over partitions, the day cells and the team cards made of them are
    build_scorecards' cards of the same summaries."""
    summaries = [summary("a1", score=50.0), summary("a2", score=90.0), summary("a1", score=None)]
    cells = ScorecardCells(UnwrittenStates(), UTC)
    for partition, one in enumerate(summaries):
        cells.add(one, partition, None)
    day_cells = []
    for key, cell in cells.cells.items():
        where = parse_cell(key)
        if isinstance(where, DayCell):
            day_cells.append((where, cell.card))
    merged: dict[ScorecardKey, Scorecard] = {}
    for where, card in with_team_cards(day_cells):
        merged.setdefault(where.key, Scorecard()).merge(card)
    assert merged == build_scorecards(summaries)


def test_a_forgotten_change_is_read_again_from_the_table_and_not_counted_twice() -> None:
    unwritten = UnwrittenStates()
    table: dict[str, bytes] = {}
    cells = ScorecardCells(unwritten, UTC, load=table.get)
    keys = cells.add(summary(), 0, None)
    for key, data in written(unwritten).items():  # committed
        table[key] = orjson.dumps(data)
    cells.add(summary(), 0, None)  # a batch later dropped at a rebalance
    for key in keys:
        cells.forget(key)
    assert written(unwritten) == {}
    cells.add(summary(), 0, None)  # the dropped batch's records, read again
    assert {key: Scorecard.from_dict(data["card"]).calls for key, data in written(unwritten).items()} == {
        key: 2 for key in keys
    }


def test_an_unreadable_cell_is_counted_and_starts_again() -> None:
    unreadable: list[int] = []
    totals = TotalsCell(0, "sales", "agent-cy").text()
    cells = ScorecardCells(UnwrittenStates(), UTC, load={totals: b"{broken"}.get)
    cells.on_unreadable = lambda: unreadable.append(1)
    cells.add(summary(), 0, None)
    assert unreadable == [1] and cells.cells[totals].card.calls == 1


def test_partitions_load_and_leave_with_their_cells() -> None:
    stored = [
        (key.text().encode(), orjson.dumps(cell_value(key.partition, Scorecard(calls=3), date(2026, 12, 4))))
        for key in (TotalsCell(0, "sales", "a1"), TotalsCell(1, "sales", "a1"), TotalsCell(2, "sales", "a1"))
    ]
    cells = ScorecardCells(UnwrittenStates(), UTC)
    assert cells.load_partitions(stored, {0, 1}) == 2
    assert cells.partitions == {0, 1}
    assert sorted(where.partition for where, _ in cells.committed()) == [0, 1]
    cells.drop_partitions({0})
    assert cells.partitions == {1}
    assert [where.partition for where, _ in cells.committed()] == [1]
    assert all(cell.partition == 1 for cell in cells.cells.values())


def test_cells_past_the_kept_days_are_deleted_by_the_next_commit() -> None:
    unwritten = UnwrittenStates()
    cells = ScorecardCells(unwritten, UTC)
    cells.add(summary(), 3, None)
    written(unwritten)
    assert cells.expire(DEC_4 + 35 * DAY_MS, keep_days=35) == []
    deletions = cells.expire(DEC_4 + 36 * DAY_MS, keep_days=35)
    assert sorted(partition for _, partition in deletions) == [3, 3]
    assert cells.cells == {}
    for deletion, _ in deletions:
        unwritten.changed(deletion, None)
    assert set(written(unwritten).values()) == {None}


# -- what Prometheus reads --------------------------------------------------------------------


def committed_cells(*summaries: dict, partitions: frozenset[int] = frozenset({0, 1})) -> ScorecardCells:
    unwritten = UnwrittenStates()
    cells = ScorecardCells(unwritten, UTC)
    cells.partitions = partitions
    for index, one in enumerate(summaries):
        cells.add(one, index % 2, None)
    unwritten.begin()
    cells.committed_states(unwritten.take(10_000))
    return cells


def scrape(collector: ScorecardCollector) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(collector)
    samples = {}
    for family in registry.collect():
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def test_only_committed_totals_are_exported() -> None:
    unwritten = UnwrittenStates()
    cells = ScorecardCells(unwritten, UTC)
    cells.add(summary(), 0, None)
    collector = ScorecardCollector(cells, 10)
    assert not any(name.startswith("callfocus_agent_") for name in scrape(collector))
    unwritten.begin()
    cells.committed_states(unwritten.take(10_000))
    assert scrape(collector)["callfocus_agent_calls_total{agent_id=agent-cy,partitions=,team=sales}"] == 1


def test_series_of_an_agent_add_up_its_partitions() -> None:
    cells = committed_cells(summary(score=45.0), summary(score=85.0, monologue_longest_seconds=400.0))
    series = scrape(ScorecardCollector(cells, 10))

    def at(metric: str, **extra: str) -> float:
        labels = {"agent_id": "agent-cy", "partitions": "0,1", "team": "sales", **extra}
        return series[metric + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"]

    assert at("callfocus_agent_calls_total") == 2
    assert at("callfocus_agent_talk_seconds_total") == 600
    assert at("callfocus_agent_nudges_total") == 2
    assert at("callfocus_agent_tracker_hits_total") == 4
    assert at("callfocus_agent_open_questions_total") == 4.0
    score = "callfocus_agent_call_customer_focus_score"
    assert at(score + "_bucket", le="40.0") == 0
    assert at(score + "_bucket", le="50.0") == 1
    assert at(score + "_bucket", le="90.0") == 2
    assert at(score + "_count") == 2 and at(score + "_sum") == 130
    monologue = "callfocus_agent_call_longest_monologue_seconds"
    assert at(monologue + "_bucket", le="60.0") == 1
    assert at(monologue + "_bucket", le="300.0") == 1
    assert at(monologue + "_bucket", le="+Inf") == 2
    assert at("callfocus_agent_call_agent_talk_ratio_sum") == 1.0
    assert at("callfocus_agent_call_questions_count") == 2
    assert at("callfocus_agent_call_questions_sum") == 10.0


def test_agents_past_the_cap_are_folded_and_the_series_count_is_the_documented_one() -> None:
    agents = [summary(f"a{i:02d}", team="sales") for i in range(5)] + [summary("z1", team="support")]
    cells = committed_cells(*agents)
    series = scrape(ScorecardCollector(cells, 3))
    exported = {
        name.split("agent_id=")[1].split(",")[0] for name in series if name.startswith("callfocus_agent_")
    }
    assert exported == {"a00", "a01", "a02", "other"}
    folded = "callfocus_agent_calls_total{agent_id=other,partitions=0,1,team=%s}"
    assert series[folded % "sales"] == 2  # a03, a04: their team has exported agents
    assert series[folded % "other"] == 1  # z1: no agent of support is exported
    assert series["callfocus_scorecard_agents{state=exported}"] == 3
    assert series["callfocus_scorecard_agents{state=folded}"] == 3
    # SERIES_PER_AGENT x (exported agents + folded groups) + the two worker series
    assert len(series) == SERIES_PER_AGENT * (3 + 2) + WORKER_SERIES


def test_a_real_registry_renders_the_families() -> None:
    cells = committed_cells(summary())
    registry = CollectorRegistry()
    registry.register(ScorecardCollector(cells, 10))
    text = generate_latest(registry).decode()
    assert "# TYPE callfocus_agent_calls_total counter" in text
    assert "# TYPE callfocus_agent_call_customer_focus_score histogram" in text
    assert "# TYPE callfocus_agent_call_agent_talk_ratio summary" in text


# -- the applier and the commit ----------------------------------------------------------------


def test_the_applier_adds_an_ended_calls_summary_and_names_its_cells_as_changed() -> None:
    clock = FakeClock()
    applier = make_applier(clock)
    cells = ScorecardCells(applier.live_calls.unwritten, UTC)
    applier.scorecards = cells
    feed = Input()
    applied = applier.apply([feed.started(1, "c1"), feed.segment(1, "c1", 0), feed.ended(1, "c1")])
    cell_keys = {key for key in applied.call_ids if is_cell(key)}
    assert applied.call_ids == {"c1"} | cell_keys and len(cell_keys) == 2
    data = written(applier.live_calls.unwritten)
    assert set(data) == {"c1"} | cell_keys
    summaries = [CODEC.decode(o.value)[1] for o in applied.outputs if o.kind == "summaries"]
    totals = next(key for key in cell_keys if isinstance(parse_cell(key), TotalsCell))
    assert (
        Scorecard.from_dict(data[totals]["card"])
        == build_scorecards(summaries)[next(iter(build_scorecards(summaries)))]
    )


class DictSink:
    def __init__(self) -> None:
        self.store_: dict[bytes, bytes | None] = {}

    def store(self, key: bytes, value: bytes | None, source: Any) -> None:
        self.store_[key] = value

    async def send(self, key: bytes, value: bytes | None, source: Any) -> Any:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_the_commit_tells_which_states_it_committed_and_only_when_it_did() -> None:
    unwritten = UnwrittenStates()
    cells = ScorecardCells(unwritten, UTC)
    told: list[list[Any]] = []

    def protocol() -> CommitProtocol:
        return CommitProtocol(
            unwritten,
            DictSink(),
            send_outputs=lambda outputs: asyncio.sleep(0),
            forget_call=lambda key: None,
            metrics=PipelineMetrics(CollectorRegistry()),
            max_record_bytes=1024 * 1024,
            on_committed=lambda states: told.append(list(states)),
        )

    async def refused(topics: Any = None, start_new_transaction: bool = True) -> Any:
        raise RuntimeError("transaction aborted")

    async def accepted(topics: Any = None, start_new_transaction: bool = True) -> Any:
        return True

    cells.add(summary(), 0, None)
    with contextlib.suppress(RuntimeError):
        asyncio.run(protocol().commit(refused))
    assert told == []
    cells.add(summary(), 0, None)  # the failed commit's states are written by the next
    asyncio.run(protocol().commit(accepted))
    assert len(told) == 1 and {key.decode() for key, _, _ in told[0]} == set(cells.cells)
    cells.committed_states(told[0])
    assert [card.calls for _, card in cells.committed()] == [2]


def test_commits_write_cells_to_the_scorecard_table_and_calls_to_the_call_state_table() -> None:
    from streams.worker.agents import RoutedStateSink, TableStateSink

    class Recorded(TableStateSink):
        def __init__(self) -> None:
            self.keys: list[bytes] = []

        def store(self, key: bytes, value: bytes | None, source: Any) -> None:
            self.keys.append(key)

    calls, cells = Recorded(), Recorded()
    sink = RoutedStateSink(calls, cells)
    cell_key = TotalsCell(0, "sales", "agent-cy").text().encode()
    for key in (b"call-1", cell_key, b"~call"):
        sink.store(key, b"{}", None)
    assert calls.keys == [b"call-1", b"~call"] and cells.keys == [cell_key]
