"""Redaction on a real Kafka: the dead-letter topic as a consumer reads it, and the
per-kind counter a worker exports."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from streams.wire.codec import AvroCodec
from tests.integration.worker import WorkerProcess, eventually

CODEC = AvroCodec()
CARD_WORDS = "four one one one one one one one one one one one one one one one"


def segment(call_id: str, text: str) -> bytes:
    record = {
        "call_id": call_id,
        "segment_id": "s1",
        "speaker": "CUSTOMER",
        "start_ms": 0,
        "end_ms": 1000,
        "text": text,
    }
    return CODEC.encode("TranscriptSegment", record)


def send(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def dead_letters(bootstrap: str, topic: str, expected: int, timeout: float = 45.0) -> list[Any]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", isolation_level="read_committed"
    )
    letters: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(letters) < expected and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=200).values():
                letters += messages
    finally:
        consumer.close()
    return letters


def test_dead_letters_and_counts_are_redacted(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    worker = start_worker()  # default settings: REDACTION_MODE=mask, DEAD_LETTER_ORIGINAL=false
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    started = CODEC.encode("CallStarted", {"call_id": "kept", "started_at": 1})
    send(
        f"{bootstrap}",
        f"{prefix}.call-events",
        [
            (b"kept", started),
            (b"kept", segment("kept", f"my card is {CARD_WORDS} and my email is a.b@example.com")),
            # never started: a dead letter that decodes
            (b"lost", segment("lost", "my social is 123-45-6789 call me at 555 123 4567")),
            # not an event at all: a dead letter that does not decode
            (b"junk", b"not avro: ssn 123-45-6789 to jo@example.org order 42"),
        ],
    )
    letters = {m.key: m for m in dead_letters(bootstrap, f"{prefix}.call-events.dlq", expected=2)}
    assert set(letters) == {b"lost", b"junk"}

    lost = letters[b"lost"]
    headers = dict(lost.headers)
    assert headers["error.reason"] == b"call_not_started" and headers["redaction"] == b"event"
    name, record = CODEC.decode(lost.value)
    assert (name, record["text"]) == ("TranscriptSegment", "my social is [ssn] call me at [phone]")

    junk = letters[b"junk"]
    assert dict(junk.headers)["redaction"] == b"masked"
    assert junk.value == b"not avro: ssn [ssn] to [email] order ##"

    eventually(lambda: worker.value("callfocus_redactions_total", kind="card") == 1.0 or None)
    assert worker.value("callfocus_redactions_total", kind="email") == 1.0
    assert worker.value("callfocus_redactions_total", kind="ssn") == 1.0  # the dead letter's, at decode
    assert worker.value("callfocus_redactions_total", kind="dob") == 0.0


def test_dead_letters_keep_the_original_when_allowed(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    start_worker(dead_letter_original="true")
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    value = segment("lost", "my social is 123-45-6789")
    send(bootstrap, f"{prefix}.call-events", [(b"lost", value)])
    (letter,) = dead_letters(bootstrap, f"{prefix}.call-events.dlq", expected=1)
    assert letter.value == value
    assert "redaction" not in dict(letter.headers)
