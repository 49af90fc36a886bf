"""Replayed calls -> real Kafka -> real worker process -> HTTP scrape of /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from streams.settings import Settings
from streams.tools.replay import replay
from streams.tools.scoring import score_recording
from streams.tools.simulate import SimulationConfig, simulate
from streams.tools.sources import Recording, read_recordings
from streams.wire.codec import AvroCodec
from streams.wire.events import TranscriptSegment, event_to_record
from tests.integration.worker import WorkerProcess, eventually

ROOT = Path(__file__).resolve().parents[2]


def offline_talk_ratios(recording: Recording) -> dict[str, float | None]:
    return {w.window: w.agent_talk_ratio for w in score_recording(recording).metrics.windows}


def total_processed(worker: WorkerProcess) -> float:
    return sum(s.value for s in worker.samples() if s.name == "callfocus_segments_processed_total")


def test_replayed_calls_export_the_offline_talk_ratio(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    worker = start_worker()
    recordings = read_recordings(ROOT / "samples" / "calls.jsonl", "jsonl")
    assert len(recordings) == 3
    young_collections = worker.value("python_gc_collections_total", generation="0")

    report = replay(
        recordings,
        Settings(
            kafka_bootstrap=topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topic_prefix=topics["CALLFOCUS_TOPIC_PREFIX"]
        ),
        speed=None,
    )
    final_sent = sum(1 for r in recordings for s in r.segments if s.is_final)
    assert report.final_segments == final_sent

    eventually(lambda: total_processed(worker) == final_sent or None, timeout=60)
    for recording in recordings:
        expected = offline_talk_ratios(recording)
        assert set(expected) == {"60s", "180s", "call"}
        for window, ratio in expected.items():
            exported = worker.value(
                "callfocus_call_agent_talk_ratio", call_id=recording.call_id, window=window
            )
            assert exported is not None and ratio is not None
            assert abs(exported - ratio) < 1e-12, (recording.call_id, window, exported, ratio)
    # the worker runs without Python's automatic collections (streams/worker/gc_policy.py)
    assert young_collections is not None
    assert worker.value("python_gc_collections_total", generation="0") == young_collections
    assert (worker.value("process_resident_memory_bytes") or 0) > 0
    started = recordings[0].started
    assert started is not None
    assert (
        worker.value(
            "callfocus_call_agent_talk_ratio",
            call_id=started.call_id,
            agent_id=started.agent_id,
            team=started.team,
            queue=started.queue,
            window="call",
        )
        is not None
    )
    assert worker.value("callfocus_segments_ignored_total", reason="interim") == 1.0
    # a scrape restricted by name (how make bench polls) serves that counter alone
    only = worker.samples(names=["callfocus_segments_processed_total"])
    assert only and {s.name for s in only} == {"callfocus_segments_processed_total"}
    # commits are timed, the consumer's fetches were tuned and the input came in
    # fetched batches (the Faust internals these rely on were found)
    eventually(lambda: (worker.value("callfocus_commit_duration_seconds_count") or 0) > 0 or None, timeout=30)
    assert "cannot tune the consumer's fetches" not in worker.log_path.read_text(errors="replace")
    assert (worker.value("callfocus_input_batches_total", outcome="processed") or 0) > 0
    # every exported per-call metric is the offline engine's value for the same transcript
    for recording in recordings:
        metrics = score_recording(recording).metrics
        call_id = recording.call_id
        assert (
            worker.value("callfocus_call_customer_focus_score", call_id=call_id)
            == metrics.customer_focus_score
        )
        assert worker.value("callfocus_call_monologue_seconds", call_id=call_id, kind="longest") == (
            metrics.monologue_longest_seconds
        )
        for window in metrics.windows:
            for name in ("questions_per_minute", "you_focus_ratio", "customer_sentiment"):
                expected = getattr(window, name)
                exported = worker.value(f"callfocus_call_{name}", call_id=call_id, window=window.window)
                assert exported == (None if expected is None else pytest.approx(expected, abs=1e-12)), name


def test_live_input_comes_in_fetches_of_fetch_min_bytes_or_fetch_max_wait(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    # the broker holds each fetch for 1 MB or 1 s: 40 events sent 25 ms apart come in a
    # few fetches, not one each (as they did with aiokafka's fetch_min_bytes=1)
    worker = start_worker(fetch_min_bytes="1000000", fetch_max_wait_seconds="1.0")
    _, recording = next(simulate(SimulationConfig(calls=1, concurrency=1, minutes=2, seed=3)))
    events = [timed.event for timed in recording.events[:40]]
    segments = sum(1 for e in events if isinstance(e, TranscriptSegment))
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=topics["CALLFOCUS_KAFKA_BOOTSTRAP"])
    for event in events:
        name, record = event_to_record(event)
        producer.send(
            f"{topics['CALLFOCUS_TOPIC_PREFIX']}.call-events",
            key=event.call_id.encode(),
            value=codec.encode(name, record),
        )
        producer.flush()
        time.sleep(0.025)
    producer.close()
    eventually(lambda: total_processed(worker) == segments or None, timeout=60)
    batches = worker.value("callfocus_input_batches_total", outcome="processed") or 0
    assert 1 <= batches <= 5, batches


def test_harper_valley_calls_replayed_as_json(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str], harper_valley_dir: Path
) -> None:
    worker = start_worker()
    recordings = read_recordings(harper_valley_dir, "harper-valley", limit=3)
    settings = Settings(
        kafka_bootstrap=topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topic_prefix=topics["CALLFOCUS_TOPIC_PREFIX"]
    )
    report = replay(recordings, settings, speed=None, wire_format="json")
    eventually(lambda: total_processed(worker) == report.final_segments or None, timeout=60)
    for recording in recordings:
        expected = offline_talk_ratios(recording)["call"]
        exported = worker.value("callfocus_call_agent_talk_ratio", call_id=recording.call_id, window="call")
        assert exported is not None and expected is not None
        assert abs(exported - expected) < 1e-12


def test_invalid_events_go_to_the_dead_letter_topic_and_good_ones_count(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    worker = start_worker()
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    good = (
        b'{"type":"TranscriptSegment","call_id":"c1","segment_id":"s1","speaker":"AGENT",'
        b'"start_ms":0,"end_ms":2000,"text":"how is your team doing"}'
    )
    bad = {
        b"\x00\x01garbage": "unknown_format",
        b'{"type":"TranscriptSegment","call_id":"c1","segment_id":"s2","speaker":"AGENT",'
        b'"start_ms":5000,"end_ms":1000,"text":"x"}': "end_before_start",
        b'{"type":"TranscriptSegment","call_id":"c1","segment_id":"s3","speaker":"ROBOT",'
        b'"start_ms":0,"end_ms":1000,"text":"x"}': "unknown_enum_symbol",
        # the optional hold events follow the same rules
        b'{"type":"HoldStarted","call_id":"c1","hold_id":"h1","at_ms":-5}': "negative_time",
        b'{"type":"HoldEnded","call_id":"c1","hold_id":"","at_ms":5}': "invalid_id",
    }
    good_holds = [
        b'{"type":"HoldStarted","call_id":"c1","hold_id":"h2","at_ms":2500}',
        b'{"type":"HoldEnded","call_id":"c1","hold_id":"h2","at_ms":40000}',
    ]
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(
        f"{prefix}.call-events", key=b"c1", value=b'{"type":"CallStarted","call_id":"c1","started_at":1}'
    )
    producer.send(f"{prefix}.call-events", key=b"c1", value=good)
    for value in [*good_holds, *bad]:
        producer.send(f"{prefix}.call-events", key=b"c1", value=value)
    producer.send(f"{prefix}.call-events", key=b"c1", value=good.replace(b'"s1"', b'"s4"'))
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        f"{prefix}.call-events.dlq",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    dead = []
    for message in consumer:
        dead.append(message)
        if len(dead) == len(bad):
            break
    consumer.close()
    # kept redacted (docs/privacy.md): the reasons say which is which
    by_reason = {dict(m.headers)["error.reason"].decode(): dict(m.headers) for m in dead}
    assert set(by_reason) == set(bad.values())
    for reason in bad.values():
        headers = by_reason[reason]
        assert headers["redaction"] in (b"event", b"masked")
        assert headers["error.detail"]
        assert headers["source.topic"] == f"{prefix}.call-events".encode()
        assert headers["source.offset"].isdigit()
    eventually(lambda: worker.value("callfocus_segments_processed_total", speaker="AGENT") == 2.0 or None)
    assert worker.value("callfocus_invalid_events_total", reason="end_before_start") == 1.0
    assert worker.value("callfocus_invalid_events_total", reason="negative_time") == 1.0
    assert worker.value("callfocus_invalid_events_total", reason="invalid_id") == 1.0
    assert worker.value("callfocus_call_agent_talk_ratio", call_id="c1", window="call") == 1.0
