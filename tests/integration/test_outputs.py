"""Snapshots and summaries on their topics, read with a read_committed consumer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from kafka import KafkaConsumer

from streams.settings import Settings
from streams.tools.replay import replay
from streams.tools.scoring import score_recording
from streams.tools.sources import read_recordings
from streams.wire.codec import AvroCodec
from tests.integration.worker import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]


def read_all(
    bootstrap: str, topic: str, expected: int, timeout_ms: int = 45_000, settle_ms: int = 0
) -> list[tuple[str, dict]]:
    """Committed records of ``topic``: until ``expected`` arrived, then ``settle_ms`` more (duplicates)."""
    codec = AvroCodec()
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", isolation_level="read_committed"
    )
    records: list[tuple[str, dict]] = []
    deadline = time.monotonic() + timeout_ms / 1000
    settle_until: float | None = None
    try:
        while time.monotonic() < (settle_until or deadline):
            for messages in consumer.poll(timeout_ms=200).values():
                records += [(m.key.decode(), codec.decode(m.value)[1]) for m in messages]
            if settle_until is None and len(records) >= expected:
                settle_until = time.monotonic() + settle_ms / 1000
    finally:
        consumer.close()
    return records


def one_summary_per_call(summaries: list[tuple[str, dict]], call_ids: Iterable[str]) -> dict[str, dict]:
    """Each call's summary, asserting every call has exactly one and no other call has any."""
    by_call: dict[str, list[dict]] = {}
    for key, record in summaries:
        by_call.setdefault(key, []).append(record)
    wanted = set(call_ids)
    assert set(by_call) == wanted
    doubled = {call_id: len(records) for call_id, records in by_call.items() if len(records) != 1}
    assert not doubled, f"calls with more than one committed summary: {doubled}"
    return {call_id: records[0] for call_id, records in by_call.items()}


def test_summaries_equal_offline_scoring_and_snapshots_flow(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    start_worker()
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    recordings = read_recordings(ROOT / "samples" / "calls.jsonl", "jsonl")
    replay(recordings, Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix), speed=None)

    summaries = dict(read_all(bootstrap, f"{prefix}.call-summaries", expected=len(recordings)))
    assert set(summaries) == {r.call_id for r in recordings}
    for recording in recordings:
        offline = score_recording(recording).metrics
        summary = summaries[recording.call_id]
        assert summary["customer_focus_score"] == offline.customer_focus_score
        assert summary["agent_talk_ratio"] == offline.window("call").agent_talk_ratio
        assert summary["monologue_longest_seconds"] == offline.monologue_longest_seconds
        assert summary["segments"] == len({s.segment_id for s in recording.segments if s.is_final})
        assert summary["end_reason"] == "hangup"

    snapshots = read_all(bootstrap, f"{prefix}.call-metrics", expected=len(recordings) * 2)
    finals = {key: record for key, record in snapshots if record["ended"]}
    assert len(snapshots) >= len(recordings)
    offline_parts = {r.call_id: score_recording(r).metrics.score_components for r in recordings}
    assert finals, "no final snapshot read"
    for key, record in finals.items():
        assert record["customer_focus_score"] == summaries[key]["customer_focus_score"]
        assert {w["window"] for w in record["windows"]} == {"60s", "180s", "call"}
        # the score's components, as the offline engine makes them, through Avro and Kafka
        assert record["score_components"] == [part.to_dict() for part in offline_parts[key]]
        assert len(record["score_components"]) == 6
