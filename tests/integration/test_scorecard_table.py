"""The scorecard table is exactly-once like the call state: a worker killed with SIGKILL and
restarted holds, in the table's changelog and in its per-agent counters, each committed
summary once."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from datetime import UTC

import pytest
from kafka import KafkaConsumer

from streams.coaching.cells import (
    DayCell,
    TotalsCell,
    changelog_topic,
    parse_cell,
    read_value,
    with_team_cards,
)
from streams.coaching.scorecards import Scorecard, ScorecardKey, build_scorecards
from streams.settings import Settings
from streams.tools.replay import replay
from streams.tools.simulate import SimulationConfig, simulate
from streams.tools.sources import Recording
from tests.integration.test_outputs import one_summary_per_call, read_all
from tests.integration.worker import WorkerProcess, eventually


def read_table(bootstrap: str, topic: str, timeout_s: float = 10.0) -> dict[bytes, bytes]:
    """The committed changelog, latest value per key (a tombstone deletes), read to its end."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", isolation_level="read_committed"
    )
    table: dict[bytes, bytes] = {}
    quiet_since = time.monotonic()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 2.0:
            polled = consumer.poll(timeout_ms=200)
            for messages in polled.values():
                for message in messages:
                    if message.value is None:
                        table.pop(message.key, None)
                    else:
                        table[message.key] = message.value
            if polled:
                quiet_since = time.monotonic()
    finally:
        consumer.close()
    return table


def merged_day_cards(table: dict[bytes, bytes]) -> dict[ScorecardKey, Scorecard]:
    cells = []
    for key, raw in table.items():
        where = parse_cell(key)
        if isinstance(where, DayCell):
            cells.append((where, read_value(raw)[0]))
    cards: dict[ScorecardKey, Scorecard] = {}
    for where, card in with_team_cards(cells):
        cards.setdefault(where.key, Scorecard()).merge(card)
    return cards


def same_card(a: Scorecard, b: Scorecard) -> bool:
    """Equal counts and bins; sums equal but for the order the floats were added in."""
    plain_a, plain_b = a.to_dict(), b.to_dict()
    bins = ("score_bins", "monologue_bins")
    if any(plain_a.pop(name) != plain_b.pop(name) for name in bins):
        return False
    return bool(plain_a == pytest.approx(plain_b, rel=1e-9))


def test_sigkill_and_restart_keep_every_summary_once_in_the_scorecard_table(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    recordings = [r for _, r in simulate(SimulationConfig(calls=24, concurrency=24, minutes=1, seed=23))]
    # a third of the calls end before the kill, a third after it, a third lose their last
    # events in the open transaction and end after the restart
    cut = [len(r.events) if i % 3 == 0 else len(r.events) * 2 // 3 for i, r in enumerate(recordings)]
    firsts = [Recording(r.call_id, r.events[:n]) for r, n in zip(recordings, cut, strict=True)]
    rests = [Recording(r.call_id, r.events[n:]) for r, n in zip(recordings, cut, strict=True) if r.events[n:]]

    worker = start_worker(session_timeout_seconds="10", commit_interval_seconds="0.2")
    replay(firsts, settings, speed=None)
    ended_first = sum(1 for r, n in zip(recordings, cut, strict=True) if n == len(r.events))
    eventually(
        lambda: (worker.value("callfocus_calls_ended_total", reason="event") or 0) >= ended_first, timeout=60
    )
    worker.proc.send_signal(signal.SIGKILL)  # some ends committed, some in the open transaction
    worker.proc.wait(timeout=30)

    replay(rests, settings, speed=None)
    restarted = start_worker(session_timeout_seconds="10", commit_interval_seconds="0.2")
    summaries = [s for _, s in read_all(bootstrap, f"{prefix}.call-summaries", len(recordings), 60_000, 3000)]
    one_summary_per_call([(s["call_id"], s) for s in summaries], (r.call_id for r in recordings))

    expected = build_scorecards(summaries, UTC)
    changelog = changelog_topic(topics["CALLFOCUS_APP_ID"])
    table: dict[bytes, bytes] = {}

    def table_holds_every_summary() -> bool:
        table.clear()
        table.update(read_table(bootstrap, changelog))
        held = merged_day_cards(table)
        return held.keys() == expected.keys() and all(same_card(held[k], expected[k]) for k in expected)

    with contextlib.suppress(AssertionError):
        eventually(table_holds_every_summary, timeout=30, interval=1.0)
    held = merged_day_cards(table)
    differ = {
        f"{key.team}/{key.agent_id or 'team'}": (held[key].calls if key in held else None, card.calls)
        for key, card in expected.items()
        if key not in held or not same_card(held[key], card)
    }
    assert not differ, f"cards (table calls, summaries' calls) that differ: {differ}"
    assert sum(card.calls for key, card in expected.items() if key.is_team) == len(recordings)
    totals = [read_value(raw)[0] for key, raw in table.items() if isinstance(parse_cell(key), TotalsCell)]
    assert sum(card.calls for card in totals) == len(recordings)

    # the restarted worker owns every partition: its counters are the table's totals
    def exported_calls() -> float:
        return sum(s.value for s in restarted.samples() if s.name == "callfocus_agent_calls_total")

    eventually(lambda: exported_calls() == len(recordings), timeout=30)
    agents = {(s["team"], s["agent_id"]) for s in summaries}
    exported = {
        (s.labels["team"], s.labels["agent_id"])
        for s in restarted.samples()
        if s.name == "callfocus_agent_calls_total"
    }
    assert exported == agents
    assert {
        s.labels["partitions"] for s in restarted.samples() if s.name == "callfocus_agent_calls_total"
    } == {"0,1,2,3"}
    assert restarted.proc.poll() is None


def test_a_rebalance_moves_partitions_cells_and_counters_without_counting_twice(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    recordings = [r for _, r in simulate(SimulationConfig(calls=20, concurrency=20, minutes=1, seed=29))]
    before, after = recordings[:10], recordings[10:]

    first = start_worker(session_timeout_seconds="10")
    replay(before, settings, speed=None)
    eventually(lambda: counted([first]) == len(before), timeout=60)
    second = start_worker(session_timeout_seconds="10")
    # the second worker takes partitions, and with them their cells from the changelog
    eventually(lambda: len(owned(first)) == 1 and len(owned(second)) == 1, timeout=90)
    replay(after, settings, speed=None)

    summaries = [s for _, s in read_all(bootstrap, f"{prefix}.call-summaries", len(recordings), 60_000, 3000)]
    one_summary_per_call([(s["call_id"], s) for s in summaries], (r.call_id for r in recordings))
    # each worker exports the committed totals of the partitions it owns: together every call once
    eventually(lambda: counted([first, second]) == len(recordings), timeout=30)
    parts = [set(label.split(",")) for worker in (first, second) for label in owned(worker)]
    assert parts[0].isdisjoint(parts[1]) and parts[0] | parts[1] == {"0", "1", "2", "3"}
    table = read_table(bootstrap, changelog_topic(topics["CALLFOCUS_APP_ID"]))
    expected = build_scorecards(summaries, UTC)
    held = merged_day_cards(table)
    assert held.keys() == expected.keys() and all(same_card(held[k], expected[k]) for k in expected)


def counted(workers: list[WorkerProcess]) -> float:
    return sum(s.value for w in workers for s in w.samples() if s.name == "callfocus_agent_calls_total")


def owned(worker: WorkerProcess) -> set[str]:
    """The partitions labels of a worker's per-agent series."""
    return {s.labels["partitions"] for s in worker.samples() if s.name == "callfocus_agent_calls_total"}
