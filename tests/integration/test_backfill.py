"""``callfocus backfill`` on a real Kafka: one summary per call and definitions, never two."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from streams.settings import Settings
from streams.tools.backfill import SOURCE_HEADER, Backfill, SummariesPresent, Window, current_definitions
from streams.tools.replay import replay
from streams.tools.simulate import SimulationConfig, simulate
from streams.tools.sources import Recording
from streams.tools.topic_reads import bounded_records
from streams.wire.codec import AvroCodec
from streams.wire.events import CallEnded, CallStarted, event_to_record
from tests.integration.worker import WorkerProcess, eventually


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        kafka_bootstrap=env["CALLFOCUS_KAFKA_BOOTSTRAP"],
        topic_prefix=env["CALLFOCUS_TOPIC_PREFIX"],
        app_id=env["CALLFOCUS_APP_ID"],
    )


def backfill(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "backfill", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def summaries(settings: Settings) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    """Every CallSummary a read_committed reader sees, with its headers."""
    codec = AvroCodec()
    topic = settings.topic("call-summaries")
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends = consumer.end_offsets(partitions)
        starts = {tp: 0 for tp in partitions}
        found = []
        for record in bounded_records(consumer, starts, ends):
            name, summary = codec.decode(record.value)
            assert name == "CallSummary"
            found.append((summary, dict(record.headers or ())))
        return found
    finally:
        consumer.close()


def send_calls(settings: Settings, calls: list[Recording], now_ms: int, *, unended: str, early: str) -> None:
    """Write the calls as a live system did: started a minute ago, each event at its media
    time; ``unended`` without its CallEnded; ``early``'s CallStarted two hours ago (its
    record too: a read from --since does not reach it)."""
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
    for recording in calls:
        started_at = now_ms - 60_000 if recording.call_id != early else now_ms - 2 * 3_600_000
        for timed in recording.events:
            event = timed.event
            at = started_at + timed.at_ms
            if isinstance(event, CallStarted):
                event = event.replace(started_at=started_at)
            elif isinstance(event, CallEnded):
                if recording.call_id == unended:
                    continue
                event = event.replace(ended_at=at)
            if recording.call_id == early and not isinstance(event, CallStarted):
                at = now_ms  # its later events are still retained, and read
            name, record = event_to_record(event)
            producer.send(
                settings.topic("call-events"),
                key=event.call_id.encode(),
                value=codec.encode(name, record),
                timestamp_ms=at,
            )
    producer.flush()
    producer.close()


def test_backfill_writes_one_summary_per_call_and_definitions_and_nothing_twice(
    topics: dict[str, str], tmp_path: Path
) -> None:
    settings = settings_of(topics)
    calls = [r for _, r in simulate(SimulationConfig(calls=5, concurrency=5, minutes=2, seed=11))]
    unended, early = calls[3].call_id, calls[4].call_id
    scored = {r.call_id for r in calls[:3]}
    now = datetime.now(UTC)
    send_calls(settings, calls, int(now.timestamp() * 1000), unended=unended, early=early)
    since = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")

    # a backfill killed in the middle of its transaction: never visible, fenced by the next run
    codec = AvroCodec()
    crashed = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap, transactional_id=f"{settings.app_id}-backfill"
    )
    crashed.init_transactions()
    crashed.begin_transaction()
    crashed.send(
        settings.topic("call-summaries"),
        key=b"half",
        value=codec.encode(*event_to_record(CallEnded("half", 1))),
    )
    crashed.flush()

    first = backfill(topics, "--since", since)
    crashed.close(timeout=1)
    assert first["calls_seen"] == 5
    assert first["scored"] == 3 and first["written"] == 3 and first["already_present"] == 0
    assert first["skipped_not_ended"] == 1 and first["skipped_no_start"] == 1
    written = summaries(settings)
    assert {s["call_id"] for s, _ in written} == scored and len(written) == 3
    assert all(h == {SOURCE_HEADER: b"backfill"} for _, h in written)
    assert {s["definitions"] for s, _ in written} == {first["definitions"]}

    again = backfill(topics, "--since", "1h")
    assert (
        again["written"] == 0
        and again["already_present"] == 3
        and again["definitions"] == first["definitions"]
    )
    assert len(summaries(settings)) == 3

    rules = tmp_path / "rules.toml"
    rules.write_text("[monologue]\nthreshold = 45\n")
    changed_env = {**topics, "CALLFOCUS_NUDGE_RULES_FILE": str(rules)}
    dry = backfill(changed_env, "--since", since, "--dry-run")
    assert dry["dry_run"] and dry["to_write"] == 3 and dry["written"] == 0
    assert dry["definitions"] != first["definitions"]
    assert len(summaries(settings)) == 3

    changed = backfill(changed_env, "--since", since)
    assert changed["written"] == 3 and changed["already_present"] == 0
    after = summaries(settings)
    by_definitions = Counter(s["definitions"] for s, _ in after)
    assert by_definitions == {first["definitions"]: 3, changed["definitions"]: 3}
    assert [s for s, _ in after if s["definitions"] == first["definitions"]] == [s for s, _ in written]
    assert backfill(changed_env, "--since", since)["written"] == 0


def test_backfill_adds_nothing_to_what_the_worker_summarised_under_the_same_definitions(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    settings = settings_of(topics)
    start_worker()
    calls = [r for _, r in simulate(SimulationConfig(calls=4, concurrency=4, minutes=1, seed=5))]
    replay(calls, settings, speed=None)
    eventually(lambda: len(summaries(settings)) == 4 or None, timeout=90)
    worker_definitions = {s["definitions"] for s, _ in summaries(settings)}
    result = backfill(topics, "--since", "1h")
    assert result["scored"] == 4 and result["already_present"] == 4 and result["written"] == 0
    assert {result["definitions"]} == worker_definitions
    assert len(summaries(settings)) == 4
    # and what a backfill makes of the same events is the worker's summary, field by field
    # (the nudge ids aside: docs/backfill.md, How a backfilled summary differs)
    codec = AvroCodec()
    made = Backfill(current_definitions(settings), Window(0, 2**62), SummariesPresent(codec), codec)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap, isolation_level="read_committed")
    try:
        topic = settings.topic("call-events")
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends = consumer.end_offsets(partitions)
        for record in bounded_records(consumer, {tp: 0 for tp in partitions}, ends):
            made.feed(record.key, record.value, record.partition)
    finally:
        consumer.close()
    ours = {key.decode(): codec.decode(value)[1] for key, value in made.result().summaries}
    theirs = {s["call_id"]: s for s, _ in summaries(settings)}
    assert set(ours) == set(theirs) == {r.call_id for r in calls}
    for call_id, summary in ours.items():
        assert {k: v for k, v in summary.items() if k != "nudges"} == {
            k: v for k, v in theirs[call_id].items() if k != "nudges"
        }, call_id


def test_backfill_with_topics_that_do_not_exist_says_so_in_one_line(
    make_env: Callable[..., dict[str, str]],
) -> None:
    env = make_env(topic_prefix="no-such-prefix")
    done = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "backfill", "--since", "1d"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "callfocus: topic no-such-prefix.call-events does not exist "
        "(CALLFOCUS_TOPIC_PREFIX; callfocus topics creates it)"
    ]
    consumer = KafkaConsumer(bootstrap_servers=env["CALLFOCUS_KAFKA_BOOTSTRAP"])
    try:
        assert not {t for t in consumer.topics() if t.startswith("no-such-prefix.")}  # none created
    finally:
        consumer.close()


def test_a_call_whose_start_retention_dropped_is_counted_and_the_cut_is_reported(
    topics: dict[str, str],
) -> None:
    settings = settings_of(topics)
    lost, kept = [r for _, r in simulate(SimulationConfig(calls=2, concurrency=2, minutes=1, seed=3))]
    codec = AvroCodec()
    topic = settings.topic("call-events")
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    order = [lost.events[0], *kept.events, *lost.events[1:]]  # lost's CallStarted first
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
    for timed in order:
        event = timed.event
        if isinstance(event, CallStarted):
            event = event.replace(started_at=now_ms)
        elif isinstance(event, CallEnded):
            event = event.replace(ended_at=now_ms + timed.at_ms)
        name, record = event_to_record(event)
        producer.send(topic, key=event.call_id.encode(), value=codec.encode(name, record), partition=0)
    producer.flush()
    producer.close()
    # what retention does to a partition's oldest segment: its records are gone
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    try:
        admin.delete_records({TopicPartition(topic, 0): 1})
    finally:
        admin.close()
    result = backfill(topics, "--since", "1h")
    assert result["scored"] == 1 and result["written"] == 1
    assert result["skipped_no_start"] == 1 and result["calls_seen"] == 2
    assert result["retained_from"] is not None
    assert [s["call_id"] for s, _ in summaries(settings)] == [kept.call_id]
