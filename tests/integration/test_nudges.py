"""A live call raises a nudge on the nudges topic at once; the summary lists it; the counter moves."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaProducer

from streams.wire.codec import AvroCodec
from streams.wire.events import CallEnded, CallStarted, Speaker, TranscriptSegment, event_to_record
from tests.integration.test_outputs import read_all
from tests.integration.worker import WorkerProcess, eventually


def test_monologue_nudge_is_out_within_a_second_and_listed_in_the_summary(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    worker = start_worker(nudge_snippets="true")
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=bootstrap)

    def send(event: CallStarted | TranscriptSegment | CallEnded) -> None:
        producer.send(f"{prefix}.call-events", key=b"n1", value=codec.encode(*event_to_record(event)))
        producer.flush()

    send(CallStarted("n1", int(time.time() * 1000), agent_id="a9", team="sales", queue="renewals"))
    send(TranscriptSegment("n1", "1", Speaker.CUSTOMER, 0, 5000, "we keep losing orders"))
    # the team's nudge counters exist at 0 once its first call started
    eventually(lambda: worker.value("callfocus_nudges_total", type="monologue", team="sales") == 0.0 or None)
    produced_at = time.time()
    send(
        TranscriptSegment(
            "n1",
            "2",
            Speaker.AGENT,
            5000,
            100_000,
            "our platform is the market leader, call 555 0100 or mail sales@example.com",
            produced_at=int(produced_at * 1000),
        )
    )
    (key, nudge), *_ = read_all(bootstrap, f"{prefix}.nudges", expected=1, timeout_ms=20_000)
    seen = time.time()
    assert key == "n1"
    assert nudge["type"] == "monologue" and nudge["severity"] == "warning"
    assert (nudge["agent_id"], nudge["team"]) == ("a9", "sales")
    assert nudge["evidence"]["monologue_current_seconds"] == 95.0
    assert "1m35s" in nudge["message"]
    assert nudge["snippet"] is not None and "555" not in nudge["snippet"] and "[email]" in nudge["snippet"]
    print(f"segment produced -> nudge read from Kafka: {seen - produced_at:.3f} s")
    assert seen - produced_at < 2.0
    eventually(lambda: worker.value("callfocus_nudges_total", type="monologue", team="sales") == 1.0 or None)
    assert worker.value("callfocus_nudges_total", type="interrupting", team="sales") == 0.0

    send(CallEnded("n1", int(time.time() * 1000), reason="hangup"))
    (_, summary), *_ = read_all(bootstrap, f"{prefix}.call-summaries", expected=1)
    assert nudge["nudge_id"] in summary["nudges"]
    producer.close()
