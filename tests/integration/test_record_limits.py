"""Records at the size limits, on a real broker: nothing is dropped for its size, and a
call state that cannot be written fails the commit instead of losing the call."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Callable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from streams.settings import Settings
from streams.wire.codec import AvroCodec
from tests.integration.test_outputs import read_all
from tests.integration.worker import WorkerProcess, eventually

CODEC = AvroCodec()


def events_of_a_long_call(call_id: str, segments: int, chars: int) -> list[bytes]:
    """A started call of ``segments`` long segments of varied words (no end)."""
    words = [f"word{i}" for i in range(5_000)]
    out = [CODEC.encode("CallStarted", {"call_id": call_id, "started_at": 1, "team": "t"})]
    for n in range(segments):
        text = " ".join(words[(n * 7 + i) % len(words)] for i in range(chars // 9))[:chars]
        record = {
            "call_id": call_id,
            "segment_id": f"s{n}",
            "speaker": "AGENT" if n % 2 == 0 else "CUSTOMER",
            "start_ms": n * 5_000,
            "end_ms": n * 5_000 + 4_000,
            "text": text,
        }
        out.append(CODEC.encode("TranscriptSegment", record))
    return out


def produce(bootstrap: str, topic: str, key: bytes | None, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, linger_ms=5)
    for value in values:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def crashed(worker: WorkerProcess) -> bool | None:
    """The worker has exited, or says it crashed (it exits once Faust has stopped)."""
    try:
        return worker.get("/healthz")[0] == 500 or None
    except OSError:
        return worker.proc.poll() is not None or None


def test_a_record_too_large_to_copy_whole_is_dead_lettered_cut_with_its_size_and_digest(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    # the original bytes kept (redacted, this record re-encoded in Avro would fit)
    worker = start_worker(dead_letter_original="true")
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    limit = Settings().max_record_bytes
    huge = json.dumps(
        {"type": "CallStarted", "call_id": "big", "started_at": 1, "tenant": "x" * (limit - 100)}
    ).encode()
    assert len(huge) > limit - 1024
    produce(
        bootstrap,
        f"{prefix}.call-events",
        b"big",
        [huge, CODEC.encode("CallStarted", {"call_id": "next", "started_at": 1})],
    )

    consumer = KafkaConsumer(
        f"{prefix}.call-events.dlq",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
        isolation_level="read_committed",
    )
    dead = next(iter(consumer))
    consumer.close()
    headers = dict(dead.headers)
    assert headers["error.reason"] == b"field_too_long"
    assert headers["original.size"] == str(len(huge)).encode()
    assert headers["original.sha256"] == hashlib.sha256(huge).hexdigest().encode()
    assert huge.startswith(dead.value) and len(dead.value) < len(huge)
    assert worker.value("callfocus_dead_letters_truncated_total") == 1.0
    # the record behind it was applied: the worker went on (key mismatch: "next" under "big")
    eventually(lambda: worker.value("callfocus_invalid_events_total", reason="key_mismatch") == 1.0 or None)


def test_a_call_of_60_long_segments_is_whole_after_a_restart(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    worker = start_worker(commit_interval_seconds="0.5", session_timeout_seconds="10")
    produce(bootstrap, f"{prefix}.call-events", b"long", events_of_a_long_call("long", 60, 19_000))
    eventually(
        lambda: worker.value("callfocus_segments_processed_total", speaker="CUSTOMER") == 30.0 or None, 60
    )
    time.sleep(2.0)  # a commit or more: the call's state is in the changelog
    assert worker.value("callfocus_output_errors_total", output="state") == 0.0
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait(timeout=30)

    start_worker(commit_interval_seconds="0.5", session_timeout_seconds="10")
    produce(
        bootstrap,
        f"{prefix}.call-events",
        b"long",
        [CODEC.encode("CallEnded", {"call_id": "long", "ended_at": 400_000})],
    )
    ((key, summary),) = read_all(
        bootstrap, f"{prefix}.call-summaries", expected=1, timeout_ms=60_000, settle_ms=2_000
    )
    assert key == "long"
    assert summary["segments"] == 60


def test_a_state_the_broker_refuses_fails_the_commit_and_the_events_are_read_again(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    app_id = topics["CALLFOCUS_APP_ID"]
    changelog = f"{app_id}-call-state-changelog"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    # the changelog made before the worker, too small for the call's state: the broker refuses it
    admin.create_topics(
        [NewTopic(changelog, 4, 1, topic_configs={"cleanup.policy": "compact", "max.message.bytes": "2048"})]
    )
    worker = start_worker(commit_interval_seconds="0.5", session_timeout_seconds="10")
    events = events_of_a_long_call("refused", 6, 3_000)
    produce(bootstrap, f"{prefix}.call-events", b"refused", events)
    eventually(lambda: crashed(worker), timeout=60)
    assert "StateWriteError" in worker.log_tail(400)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=app_id, enable_auto_commit=False)
    from kafka import TopicPartition

    partitions = [TopicPartition(f"{prefix}.call-events", p) for p in range(4)]
    committed = {tp.partition: consumer.committed(tp) for tp in partitions}
    consumer.close()
    assert all(offset in (None, 0) for offset in committed.values()), committed
    if worker.proc.poll() is None:
        worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait(timeout=30)

    admin.alter_configs(
        [
            ConfigResource(
                ConfigResourceType.TOPIC,
                changelog,
                configs={"cleanup.policy": "compact", "max.message.bytes": "1064960"},
            )
        ]
    )
    admin.close()
    start_worker(commit_interval_seconds="0.5", session_timeout_seconds="10")
    produce(
        bootstrap,
        f"{prefix}.call-events",
        b"refused",
        [CODEC.encode("CallEnded", {"call_id": "refused", "ended_at": 60_000})],
    )
    summaries = read_all(
        bootstrap, f"{prefix}.call-summaries", expected=1, timeout_ms=60_000, settle_ms=3_000
    )
    assert [(key, summary["segments"]) for key, summary in summaries] == [("refused", 6)]
