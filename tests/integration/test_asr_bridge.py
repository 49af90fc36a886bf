"""``callfocus bridge`` on a real Kafka: vendor JSON in, call-events out, exactly once.

Payloads follow the vendors' documented formats (see tests/unit/test_asr_formats.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from streams.wire.codec import AvroCodec
from streams.wire.events import TranscriptSegment, event_from_record


def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


def read_committed(bootstrap: str, topic: str, expect: int, timeout: float = 60.0) -> list[Any]:
    """Every committed record of ``topic``, once at least ``expect`` are there (or at the timeout),
    and 2 s more to see any extra one."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        settle: float | None = None
        while time.monotonic() < (settle or deadline):
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            if settle is None and len(records) >= expect:
                settle = time.monotonic() + 2.0
        return records
    finally:
        consumer.close()


def start_bridge(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams.tools.cli", "bridge", *args],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def transcribe(result_id: str, start: float, end: float, text: str, partial: bool, channel: str) -> bytes:
    result = {
        "ResultId": result_id,
        "StartTime": start,
        "EndTime": end,
        "IsPartial": partial,
        "ChannelId": channel,
        "Alternatives": [{"Transcript": text, "Items": []}],
    }
    return json.dumps({"Transcript": {"Results": [result]}}).encode()


def deepgram(start: float, text: str) -> bytes:
    return json.dumps(
        {
            "type": "Results",
            "channel_index": [int(start) % 2, 2],
            "start": start,
            "duration": 0.5,
            "is_final": True,
            "speech_final": True,
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.9, "words": []}]},
        }
    ).encode()


def test_vendor_records_become_events_and_bad_ones_dead_letters(
    topics: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = topics["CALLFOCUS_TOPIC_PREFIX"]
    source = f"{prefix}.asr.transcribe"
    create_topic(kafka_bootstrap, source)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    sent = [
        (b"call-a", transcribe("r1", 0.2, 0.9, "thanks for", True, "ch_0")),
        (b"call-a", transcribe("r1", 0.2, 1.6, "thanks for calling", False, "ch_0")),
        (b"call-b", transcribe("q1", 0.0, 2.0, "my card was declined", False, "ch_1")),
        (b"call-a", b"{not json"),
        (None, transcribe("r2", 2, 3, "hello", False, "ch_1")),
    ]
    for key, value in sent:
        producer.send(source, key=key, value=value)
    producer.flush()
    producer.close()

    bridge = start_bridge(topics, tmp_path / "bridge.log", "--format", "transcribe")
    try:
        codec = AvroCodec()
        out = read_committed(kafka_bootstrap, f"{prefix}.call-events", expect=3)
        dead = read_committed(kafka_bootstrap, f"{prefix}.call-events.dlq", expect=2, timeout=10)
    finally:
        bridge.send_signal(signal.SIGTERM)
        stopped = bridge.wait(timeout=30)
    log = (tmp_path / "bridge.log").read_text()
    assert stopped == 0, log
    assert "bridged 5 records: 3 events, 2 dead letters" in log

    events = [event_from_record(*codec.decode(r.value)) for r in out]
    by_call = {
        call: [
            (e.segment_id, e.revision, e.is_final, e.speaker.value, e.text)
            for e in events
            if e.call_id == call
        ]
        for call in ("call-a", "call-b")
        if all(isinstance(e, TranscriptSegment) for e in events)
    }
    assert by_call == {
        "call-a": [
            ("r1", 900, False, "AGENT", "thanks for"),
            ("r1", 100_001_600, True, "AGENT", "thanks for calling"),
        ],
        "call-b": [("q1", 100_002_000, True, "CUSTOMER", "my card was declined")],
    }
    assert all(r.key == e.call_id.encode() for r, e in zip(out, events, strict=True))
    reasons = sorted((dict(r.headers)["error.reason"], r.value) for r in dead)
    assert [reason for reason, _ in reasons] == [b"invalid_json", b"missing_key"]
    assert reasons[0][1] == b"{not json"  # kept as it came
    headers = dict(next(r.headers for r in dead if dict(r.headers)["error.reason"] == b"invalid_json"))
    assert headers["source.topic"] == source.encode()
    assert headers["error.detail"].startswith(b"not JSON")


def test_a_sigkilled_bridge_restarts_with_nothing_lost_and_nothing_twice(
    topics: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = topics["CALLFOCUS_TOPIC_PREFIX"]
    source = f"{prefix}.asr.deepgram"
    create_topic(kafka_bootstrap, source)
    total = 3000

    def feed() -> None:  # ~6 s of records, so that the kill lands in the middle
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
        for n in range(total):
            producer.send(source, key=f"call-{n % 20}".encode(), value=deepgram(n // 20, f"word {n}"))
            if n % 50 == 0:
                producer.flush()
                time.sleep(0.1)
        producer.flush()
        producer.close()

    feeder = threading.Thread(target=feed)
    feeder.start()
    log = tmp_path / "bridge.log"
    first = start_bridge(topics, log, "--format", "deepgram")
    output = f"{prefix}.call-events"
    before = read_committed(kafka_bootstrap, output, expect=200, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert 0 < len(before) < total, f"killed after {len(before)} of {total}: not mid-stream"
    second = start_bridge(topics, log, "--format", "deepgram")
    try:
        feeder.join(timeout=60)
        records = read_committed(kafka_bootstrap, output, expect=total, timeout=120)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    codec = AvroCodec()
    seen = Counter()
    for record in records:
        event = event_from_record(*codec.decode(record.value))
        assert isinstance(event, TranscriptSegment)
        seen[(event.call_id, event.segment_id, event.text)] += 1
    expected = {(f"call-{n % 20}", f"{(n // 20) % 2}-{(n // 20) * 1000}", f"word {n}") for n in range(total)}
    assert [k for k, count in seen.items() if count > 1] == []  # nothing twice
    assert set(seen) == expected  # nothing lost, nothing else


def test_the_worker_scores_a_bridged_call_as_score_does_its_file(
    start_worker: Any, topics: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    from streams.tools.scoring import score_recording
    from streams.tools.sources.asr.files import read_vendor
    from tests.integration.worker import eventually

    prefix = topics["CALLFOCUS_TOPIC_PREFIX"]
    source = f"{prefix}.asr.deepgram"
    create_topic(kafka_bootstrap, source)
    lines = []
    for n in range(12):  # agent and customer take turns; each piece has an interim result first
        start, channel = n * 2.0, n % 2
        text = "how can I help you with the card today" if channel == 0 else "it was declined at the store"
        interim = json.loads(deepgram(start, text.rsplit(" ", 2)[0]))
        interim.update(is_final=False, channel_index=[channel, 2], duration=1.0)
        final = json.loads(deepgram(start, text))
        final.update(channel_index=[channel, 2], duration=1.8)
        lines += [interim, final]
    lines.append({"type": "Metadata", "request_id": "r-1", "duration": 24.0, "channels": 2})
    path = tmp_path / "call-dg.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    [recording] = read_vendor(path, "deepgram")
    expected = score_recording(recording).metrics.windows

    worker = start_worker(implicit_start="true")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for line in lines:
        producer.send(source, key=b"call-dg", value=json.dumps(line).encode())
    producer.flush()
    producer.close()
    bridge = start_bridge(topics, tmp_path / "bridge.log", "--format", "deepgram")
    try:

        def processed() -> float:
            return sum(s.value for s in worker.samples() if s.name == "callfocus_segments_processed_total")

        eventually(lambda: processed() == 12 or None, timeout=60)  # summed over its labels
        assert worker.value("callfocus_segments_ignored_total", reason="interim") == 12.0
        for window in expected:
            exported = worker.value(
                "callfocus_call_agent_talk_ratio", call_id="call-dg", window=window.window
            )
            assert exported is not None and window.agent_talk_ratio is not None
            assert abs(exported - window.agent_talk_ratio) < 1e-9, (window.window, exported)
    finally:
        bridge.send_signal(signal.SIGTERM)
        assert bridge.wait(timeout=30) == 0


def test_replay_sends_a_contact_lens_file_as_one_call(
    topics: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    def transcript(ident: str, role: str, text: str, begin: int, end: int) -> dict[str, Any]:
        return {
            "Transcript": {
                "Id": ident,
                "ParticipantId": role.lower(),
                "ParticipantRole": role,
                "Content": text,
                "BeginOffsetMillis": begin,
                "EndOffsetMillis": end,
                "Sentiment": "NEUTRAL",
            }
        }

    common = {"Version": "1.0.0", "Channel": "VOICE", "ContactId": "c-1", "LanguageCode": "en-US"}
    utterance = {
        "Utterance": {
            "Id": "u1",
            "TranscriptId": "t1",
            "ParticipantId": "agent",
            "ParticipantRole": "AGENT",
            "PartialContent": "Hello",
            "BeginOffsetMillis": 0,
            "EndOffsetMillis": 400,
        }
    }
    events = [
        {**common, "EventType": "STARTED"},
        {**common, "EventType": "SEGMENTS", "Segments": [utterance]},
        {
            **common,
            "EventType": "SEGMENTS",
            "Segments": [transcript("t1", "AGENT", "Hello, how can I help?", 0, 1500)],
        },
        {
            **common,
            "EventType": "SEGMENTS",
            "Segments": [transcript("t2", "CUSTOMER", "I lost my card.", 1800, 3000)],
        },
        {**common, "EventType": "COMPLETED"},
    ]
    path = tmp_path / "contact-0042.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.tools.cli",
            "replay",
            str(path),
            "--format",
            "contact-lens",
            "--max-speed",
        ],
        env=topics,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "sent 5 events (2 final segments) of 1 calls" in done.stdout
    codec = AvroCodec()
    sent = [
        event_from_record(*codec.decode(r.value))
        for r in read_committed(kafka_bootstrap, f"{topics['CALLFOCUS_TOPIC_PREFIX']}.call-events", expect=5)
    ]
    assert {e.call_id for e in sent} == {"contact-0042"}
    assert [type(e).__name__ for e in sent] == [
        "CallStarted",
        "TranscriptSegment",
        "TranscriptSegment",
        "TranscriptSegment",
        "CallEnded",
    ]
    assert sent[0].language == "en-US"  # type: ignore[union-attr]
    segments = [e for e in sent if isinstance(e, TranscriptSegment)]
    assert [(s.segment_id, s.is_final, s.speaker.value) for s in segments] == [
        ("t1", False, "AGENT"),
        ("t1", True, "AGENT"),
        ("t2", True, "CUSTOMER"),
    ]
