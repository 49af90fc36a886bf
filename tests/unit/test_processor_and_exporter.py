"""CallProcessor + exporters on a fresh registry per test (no Kafka)."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import orjson
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from streams.engine import EngineConfig
from streams.errors import InvalidEventError
from streams.wire.codec import AvroCodec
from streams.worker.call_series import LiveCallCollector, exposition
from streams.worker.calls import CallLabels, CallProcessor, LiveCall, LiveCalls, read_durable
from streams.worker.exporter import INVALID_REASONS, PipelineMetrics
from streams.worker.output_kinds import OutputKind

CODEC = AvroCodec()


@dataclass
class Exporter:
    registry: CollectorRegistry
    collector: LiveCallCollector


def setup(
    max_calls: int = 10, clock: list[float] | None = None, implicit_start: bool = True
) -> tuple[CallProcessor, Exporter]:
    """A processor on a fresh registry; calls start implicitly unless told otherwise, as
    most tests here feed segments without a CallStarted."""
    registry = CollectorRegistry()
    calls = LiveCalls(EngineConfig())
    collector = LiveCallCollector(calls, max_calls)
    registry.register(collector)
    now = clock if clock is not None else [0.0]
    processor = CallProcessor(
        CODEC,
        calls,
        PipelineMetrics(registry),
        wall_clock_ms=lambda: 2000,
        monotonic=lambda: now[0],
        implicit_start=implicit_start,
    )
    return processor, Exporter(registry, collector)


def samples(exporter: Exporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What /metrics serves, parsed by prometheus_client's own parser."""
    text = exposition(exporter.registry, exporter.collector).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def segment(call: str, sid: str, speaker: str, start: int, end: int) -> bytes:
    return CODEC.encode(
        "TranscriptSegment",
        {
            "call_id": call,
            "segment_id": sid,
            "speaker": speaker,
            "start_ms": start,
            "end_ms": end,
            "text": "so",
            "produced_at": 1500,
        },
    )


def test_counters_are_precreated_at_zero() -> None:
    _, exporter = setup()
    got = samples(exporter)
    for speaker in ("AGENT", "CUSTOMER", "OTHER"):
        assert got[("callfocus_segments_processed_total", (("speaker", speaker),))] == 0.0
    for reason in INVALID_REASONS:
        assert got[("callfocus_invalid_events_total", (("reason", reason),))] == 0.0
    outputs = ("metrics", "summaries", "dead_letters", "nudges", "state", "idle_call_ends")
    assert tuple(OutputKind) == outputs  # the label values dashboards and alerts query
    for output in outputs:
        assert got[("callfocus_outputs_produced_total", (("output", output),))] == 0.0
        assert got[("callfocus_output_errors_total", (("output", output),))] == 0.0
    # the tests run the compiled engine (test_native_engine), and the worker says so
    assert got[("callfocus_engine_info", (("build", "compiled"),))] == 1.0


def test_per_call_series_with_labels_and_latency() -> None:
    processor, exporter = setup()
    processor.process(
        CODEC.encode(
            "CallStarted", {"call_id": "c1", "started_at": 1, "agent_id": "a7", "team": "t", "queue": "q"}
        ),
        0,
    )
    assert processor.process(segment("c1", "1", "AGENT", 0, 3000), 0).error is None
    assert processor.process(segment("c1", "2", "CUSTOMER", 3000, 4000), 0).error is None
    got = samples(exporter)
    labels = (("agent_id", "a7"), ("call_id", "c1"), ("queue", "q"), ("team", "t"))
    assert got[("callfocus_call_agent_talk_ratio", (*labels, ("window", "call")))] == 0.75
    assert got[("callfocus_calls_active", (("team", "t"),))] == 1.0
    assert got[("callfocus_processing_latency_seconds_count", ())] == 2.0
    assert got[("callfocus_processing_latency_seconds_bucket", (("le", "0.5"),))] == 2.0


def test_invalid_event_changes_nothing_and_is_counted() -> None:
    processor, exporter = setup()
    processor.process(segment("c1", "1", "AGENT", 0, 3000), 0)
    before = samples(exporter)
    error = processor.process(segment("c1", "2", "CUSTOMER", 3_000_000, 3_001_000), 0).error
    assert error is not None and error.reason == "start_in_future"
    after = samples(exporter)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {("callfocus_invalid_events_total", (("reason", "start_in_future"),))}


@pytest.mark.usefixtures("python_gc")
def test_invalid_events_kept_for_the_dead_letter_topic_leave_no_reference_cycles() -> None:
    # An error kept with its traceback reached back, through the frames it was raised in,
    # to the frame of the caller holding it: one cycle per batch that ended on an invalid
    # event, with the batch's records and outputs in it. The worker runs without automatic
    # collections (streams/worker/gc_policy.py), so such cycles would stay until the full one.
    processor, _ = setup()
    invalid = [b"{not json", CODEC.encode("CallEnded", {"call_id": "", "ended_at": 5}), b"\x00\x01x", None]

    def process_batch(batch: list[bytes | None]) -> object:
        for raw in batch:
            result = processor.process(raw, 0)
        return result.error

    gc.collect()
    gc.disable()
    errors = [process_batch([segment("c1", str(i), "AGENT", 0, 1000), raw]) for i, raw in enumerate(invalid)]
    assert all(isinstance(error, InvalidEventError) for error in errors)
    del errors
    assert gc.collect() == 0


def test_ended_calls_vanish_after_grace_and_cap_is_respected() -> None:
    clock = [100.0]
    processor, exporter = setup(max_calls=1, clock=clock)
    for call in ("c1", "c2"):
        processor.process(segment(call, "1", "AGENT", 0, 1000), 0)
    got = samples(exporter)
    assert got[("callfocus_calls_unexported", ())] == 1.0
    assert (
        sum(1 for (name, _) in got if name == "callfocus_call_agent_talk_ratio") == 3
    )  # one call x 3 windows
    processor.process(CODEC.encode("CallEnded", {"call_id": "c1", "ended_at": 5}), 0)
    processor.calls.drop_ended(older_than_monotonic=100.0)
    assert len(processor.calls) == 2  # not yet: ended exactly at 100.0
    processor.calls.drop_ended(older_than_monotonic=100.5)
    assert [c.call_id for c in processor.calls] == ["c2"]
    assert processor.calls.drop_partitions({0}) == 1 and len(processor.calls) == 0


def test_call_end_is_reported_once_with_the_score_histogram() -> None:
    clock = [10.0]
    processor, exporter = setup(clock=clock)
    processor.process(CODEC.encode("CallStarted", {"call_id": "c1", "started_at": 1, "team": "t"}), 0)
    processor.process(segment("c1", "1", "AGENT", 0, 3000), 0)
    first = processor.process(CODEC.encode("CallEnded", {"call_id": "c1", "ended_at": 5}), 0)
    again = processor.process(CODEC.encode("CallEnded", {"call_id": "c1", "ended_at": 6}), 0)
    assert first.ended_now and not again.ended_now
    got = samples(exporter)
    assert got[("callfocus_calls_ended_total", (("reason", "event"),))] == 1.0
    assert got[("callfocus_ended_call_customer_focus_score_count", (("team", "t"),))] == 1.0


def test_idle_calls_are_found_by_wall_clock() -> None:
    clock = [100.0]
    processor, _ = setup(clock=clock)
    processor.process(segment("quiet", "1", "AGENT", 0, 1000), 0)
    clock[0] = 150.0
    processor.process(segment("busy", "1", "AGENT", 0, 1000), 0)
    clock[0] = 1001.0
    assert [c.call_id for c in processor.idle_calls(900)] == ["quiet"]


def test_a_call_loaded_from_the_table_is_not_idle() -> None:
    import time

    from streams.worker.calls import LiveCall

    processor, _ = setup(clock=[time.monotonic()])
    processor.process(segment("c1", "1", "AGENT", 0, 1000), 0)
    call = processor.calls.get("c1")
    assert call is not None
    loaded = LiveCall.from_bytes(call.to_bytes(), EngineConfig())
    assert loaded.state.metrics() == call.state.metrics()
    assert time.monotonic() - loaded.last_event_monotonic < 5


def test_call_labels_keep_the_durable_format_of_the_plain_triple() -> None:
    """A state written when a call's labels were a plain (agent, team, queue) tuple reads
    back with named labels, and a state written now is byte for byte what that form wrote."""
    processor, _ = setup()
    started = {"call_id": "c1", "started_at": 1, "agent_id": "a7", "team": "t", "queue": "q"}
    processor.process(CODEC.encode("CallStarted", started), 0)
    processor.process(segment("c1", "1", "AGENT", 0, 1000), 0)
    call = processor.calls.get("c1")
    assert call is not None and call.labels == CallLabels(agent_id="a7", team="t", queue="q")
    written_before = orjson.dumps({**call.durable_data(), "labels": ("a7", "t", "q")})
    assert b'"labels":["a7","t","q"]' in written_before
    assert call.to_bytes() == written_before
    loaded = read_durable("c1", written_before, EngineConfig())
    assert isinstance(loaded, LiveCall) and isinstance(loaded.labels, CallLabels)
    assert (loaded.labels.agent_id, loaded.labels.team, loaded.labels.queue) == ("a7", "t", "q")
    assert loaded.state.metrics() == call.state.metrics()


def test_state_writes_keep_a_small_copy_of_each_utterance_row() -> None:
    import tracemalloc

    processor, _ = setup()
    for i in range(50):
        speaker = "AGENT" if i % 2 else "CUSTOMER"
        processor.process(segment("c1", str(i), speaker, i * 3000, i * 3000 + 2500), 0)
    call = processor.calls.get("c1")
    assert call is not None
    tracemalloc.start()
    try:
        call.to_bytes()  # the first write makes each row
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # orjson's own buffer holds 4 KB per row: kept for minutes of tail per call, that was
    # 500 MB at 2,000 calls
    assert kept / len(call.state._tail) < 600


def test_per_call_text_escapes_labels_and_follows_changes() -> None:
    processor, exporter = setup()
    started = {"call_id": 'c"1\\', "started_at": 1, "agent_id": 'a\\"b', "team": "t", "queue": "q"}
    processor.process(CODEC.encode("CallStarted", started), 0)
    processor.process(segment('c"1\\', "1", "AGENT", 0, 3000), 0)
    labels = (("agent_id", 'a\\"b'), ("call_id", 'c"1\\'), ("queue", "q"), ("team", "t"))
    monologue = ("callfocus_call_monologue_seconds", tuple(sorted((*labels, ("kind", "longest")))))
    assert samples(exporter)[monologue] == 3.0
    assert samples(exporter)[monologue] == 3.0  # the cached text of an unchanged call
    processor.process(segment('c"1\\', "2", "AGENT", 3000, 7000), 0)
    assert samples(exporter)[monologue] == 7.0
    text = exporter.collector.render_calls()
    for family in ("customer_focus_score", "monologue_seconds", "agent_talk_ratio", "customer_sentiment"):
        assert text.count(f"# TYPE callfocus_call_{family} gauge") == 1


def test_a_scrape_with_names_serves_only_those_series() -> None:
    processor, exporter = setup()
    processor.process(CODEC.encode("CallStarted", {"call_id": "c1", "started_at": 1, "team": "t"}), 0)
    processor.process(segment("c1", "1", "AGENT", 0, 3000), 0)

    def names(text: bytes) -> set[str]:
        return {s.name for f in text_string_to_metric_families(text.decode()) for s in f.samples}

    everything = names(exposition(exporter.registry, exporter.collector))
    assert {"callfocus_segments_processed_total", "callfocus_call_agent_talk_ratio"} <= everything
    counter = exposition(exporter.registry, exporter.collector, ["callfocus_segments_processed_total"])
    assert names(counter) == {"callfocus_segments_processed_total"}
    assert b"call_id=" not in counter
    per_call = exposition(exporter.registry, exporter.collector, ["callfocus_call_agent_talk_ratio"])
    assert names(per_call) == {"callfocus_call_agent_talk_ratio"}


def test_a_changed_call_is_checked_for_nudges_at_most_once_per_interval() -> None:
    clock = [100.0]
    processor, exporter = setup(clock=clock)
    processor.process(CODEC.encode("CallStarted", {"call_id": "c1", "started_at": 1, "team": "t"}), 0)
    # one agent segment of 100 s: a monologue nudge is due at the first check
    result = processor.process(segment("c1", "1", "AGENT", 0, 100_000), 0)
    call = result.call
    assert call is not None
    assert [n.type for n in processor.nudges(call, min_interval=0.5)] == ["monologue"]
    assert processor.nudges(call, min_interval=0.5) == [], "nothing changed since the check"
    processor.process(segment("c1", "2", "AGENT", 100_000, 101_000), 0)
    clock[0] += 0.2
    assert call.nudge_check_pending
    assert processor.nudges(call, min_interval=0.5) == [] and call.nudge_check_pending, "waits"
    clock[0] += 0.4
    processor.nudges(call, min_interval=0.5)
    assert not call.nudge_check_pending and call.last_nudge_check_monotonic == clock[0]
    assert samples(exporter)[("callfocus_nudges_total", (("team", "t"), ("type", "monologue")))] == 1.0


def test_the_timer_walks_only_calls_with_a_snapshot_or_nudge_check_waiting() -> None:
    processor, _ = setup()
    for call_id in ("quiet", "busy"):
        processor.process(segment(call_id, "1", "AGENT", 0, 3000), 0)
    quiet = processor.calls.get("quiet")
    assert quiet is not None
    assert {c.call_id for c in processor.calls.pending()} == {"quiet", "busy"}
    quiet.snapshot_pending = quiet.nudge_check_pending = False  # both done
    assert [c.call_id for c in processor.calls.pending()] == ["busy"]
    processor.process(segment("quiet", "2", "CUSTOMER", 3000, 4000), 0)
    assert {c.call_id for c in processor.calls.pending()} == {"quiet", "busy"}, "changed again"
    processor.calls.forget("busy")
    assert [c.call_id for c in processor.calls.pending()] == ["quiet"]


def test_without_nudge_rules_a_snapshotted_call_waits_for_nothing() -> None:
    registry = CollectorRegistry()
    calls = LiveCalls(EngineConfig())
    processor = CallProcessor(CODEC, calls, PipelineMetrics(registry), nudge_rules=(), implicit_start=True)
    call = processor.process(segment("c1", "1", "AGENT", 0, 3000), 0).call
    assert call is not None and not call.nudge_check_pending
    call.snapshot_pending = False
    assert calls.pending() == []


def changed(processor: CallProcessor, call_id: str, sid: str = "1", start: int = 0) -> None:
    """A segment applied to the call, and the change noted for the next commit as the
    pipeline notes it (the call id stands for its source record)."""
    call = processor.process(segment(call_id, sid, "AGENT", start, start + 2000), 0).call
    assert call is not None
    processor.calls.unwritten.changed(call, call_id)


def test_a_commit_writes_each_call_as_it_was_at_the_commit_point() -> None:
    processor, _ = setup()
    unwritten = processor.calls.unwritten
    for call_id in ("c1", "c2", "c3"):
        changed(processor, call_id)
    at_commit = {cid: c.to_bytes() for cid in ("c1", "c2", "c3") if (c := processor.calls.get(cid))}
    assert unwritten.begin() == 3
    first = unwritten.take(1)
    # the input goes on: c2 changes (copy on write) and so does c4, new since the commit
    for call_id in ("c2", "c4"):
        changed(processor, call_id, sid="2", start=3000)
    rest = unwritten.take(10)
    assert unwritten.take(10) == []
    written = {key.decode(): (orjson.dumps(data), source) for key, data, source in first + rest}
    assert written == {cid: (raw, cid) for cid, raw in at_commit.items()}
    # the next commit has the changes made meanwhile
    assert unwritten.begin() == 2
    assert {key.decode() for key, _, _ in unwritten.take(10)} == {"c2", "c4"}


def test_an_ended_call_leaves_a_marker_and_a_forgotten_change_is_not_written() -> None:
    processor, _ = setup()
    for call_id in ("ended", "dropped"):
        changed(processor, call_id)
    ended = processor.process(CODEC.encode("CallEnded", {"call_id": "ended", "ended_at": 9}), 0)
    assert ended.ended_now
    processor.calls.forget("dropped")  # its batch came before a rebalance and comes again
    processor.calls.unwritten.begin()
    marker = {"partition": 0, "ended_wall_ms": 2000}
    assert processor.calls.unwritten.take(10) == [(b"ended", marker, "ended")]


def test_a_failed_commit_leaves_what_it_did_not_write_to_the_next() -> None:
    processor, _ = setup()
    unwritten = processor.calls.unwritten
    for call_id in ("c1", "c2"):
        changed(processor, call_id)
    unwritten.begin()
    (taken,) = unwritten.take(1)
    assert unwritten.begin() == 1, "the commit stopped after one state"
    assert [key for key, _, _ in unwritten.take(10)] == [b"c2" if taken[0] == b"c1" else b"c1"]


def test_every_catalogue_metric_is_exported_per_call_and_per_team_as_declared() -> None:
    from streams.engine.catalogue import METRICS, PER_CALL_SERIES_BUDGET, PerCall, Scope, TeamAggregate

    processor, exporter = setup()
    for call, team in (("c1", "t1"), ("c2", "t1"), ("c3", "t2")):
        started = {"call_id": call, "started_at": 1, "agent_id": "a", "team": team, "queue": "q"}
        processor.process(CODEC.encode("CallStarted", started), 0)
    processor.process(segment("c1", "1", "AGENT", 0, 30_000), 0)
    processor.process(segment("c1", "2", "CUSTOMER", 40_000, 60_000), 0)  # 10 s of dead air
    processor.process(segment("c2", "1", "AGENT", 0, 10_000), 0)
    processor.process(segment("c2", "2", "CUSTOMER", 10_000, 40_000), 0)
    processor.process(segment("c3", "1", "CUSTOMER", 0, 5_000), 0)
    got = samples(exporter)
    c1 = {
        (name, dict(labels).get("window"), dict(labels).get("kind"))
        for name, labels in got
        if ("call_id", "c1") in labels
    }
    assert len(c1) <= PER_CALL_SERIES_BUDGET
    for m in METRICS:
        if m.per_call is PerCall.NONE or m.nullable:
            continue  # a null value has no sample; the always-defined ones must be there
        if m.scope is Scope.CALL:
            assert any(name == m.family for name, _, _ in c1), m.name
        else:
            assert {w for name, w, _ in c1 if name == m.family} == set(
                m.windows_exported(("60s", "180s", "call"))
            )

    def team(name: str, value: str) -> float:
        return got[(name, (("team", value),))]

    # mean over the team's live calls: talk ratio 1.0 (c1: 30 s vs 20 s -> 0.6) and c2 (10 vs 30 -> 0.25)
    assert team("callfocus_team_agent_talk_ratio", "t1") == pytest.approx((0.6 + 0.25) / 2)
    assert team("callfocus_team_agent_talk_ratio", "t2") == 0.0
    # sums: c1 has one silence of at least 5 s, c2 none
    assert team("callfocus_team_dead_air_silences", "t1") == 1.0
    assert team("callfocus_team_dead_air_silences", "t2") == 0.0
    team_families = {name for name, _ in got if name.startswith("callfocus_team_")}
    for m in METRICS:
        if m.team is TeamAggregate.SUM or (m.team is TeamAggregate.MEAN and not m.nullable):
            assert m.team_family in team_families, m.name  # defined for every call: always there
