"""The demo's signals call through a real worker with the example trackers loaded: a tracker
nudge and a dead-air nudge reach the nudges topic and the console's feed, the tracker's hit
is counted per tracker and team, and the summary carries the hits and the definitions."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from streams.tools.sources import read_recordings
from streams.wire.codec import AvroCodec
from streams.wire.events import event_to_record
from tests.integration.test_alertmanager_console import http
from tests.integration.test_outputs import read_all
from tests.integration.worker import WorkerProcess, eventually

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "signals-token"


def test_the_signals_call_raises_a_tracker_and_a_dead_air_nudge(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    worker = start_worker(
        console_token=TOKEN, trackers_file=str(ROOT / "deploy" / "trackers" / "examples.toml")
    )
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    (recording,) = read_recordings(ROOT / "samples" / "signals.jsonl")
    for timed in recording.events:  # as a live call: one event at a time, each checked for nudges
        value = codec.encode(*event_to_record(timed.event))
        producer.send(f"{prefix}.call-events", key=recording.call_id.encode(), value=value)
        producer.flush()
        time.sleep(0.7)
    producer.close()

    nudges = [n for _, n in read_all(bootstrap, f"{prefix}.nudges", expected=3, timeout_ms=30_000)]
    by_type = {n["type"]: n for n in nudges}
    assert by_type["tracker"]["nudge_id"] == "demo-silent:tracker.escalation_request:24900"
    assert by_type["tracker"]["message"].startswith("The customer asked for a manager")
    assert by_type["dead_air"]["evidence"] == {"dead_air_longest_seconds_60s": 22.0}

    def feed_types() -> set[str] | None:
        status, entries = http(worker.url + "/api/feed", token=TOKEN)
        assert status == 200, entries
        types = {e["type"] for e in entries if e.get("call_id") == "demo-silent"}
        return types if {"tracker", "dead_air"} <= types else None

    eventually(feed_types, timeout=30)
    hits = eventually(
        lambda: worker.value("callfocus_tracker_hits_total", tracker="escalation_request", team="support"),
        timeout=30,
    )
    assert hits == 1.0
    assert worker.value("callfocus_nudges_total", type="dead_air", team="support") == 1.0
    assert worker.value("callfocus_trackers_loaded", digest=_digest()) == 5.0

    (_, summary), *_ = read_all(bootstrap, f"{prefix}.call-summaries", expected=1)
    assert summary["tracker_hits"] == [{"tracker": "escalation_request", "hits": 1}]
    assert summary["dead_air_longest_seconds"] == 22.0
    assert (
        summary["definitions"].startswith("callfocus-") and f".trackers-{_digest()}" in summary["definitions"]
    )
    assert by_type["tracker"]["nudge_id"] in summary["nudges"]


def _digest() -> Any:
    from streams.engine.trackers import load_trackers

    return load_trackers(ROOT / "deploy" / "trackers" / "examples.toml").digest
