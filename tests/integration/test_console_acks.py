"""Nudge acknowledgements across workers, on a real Kafka: an acknowledgement POSTed to one
worker's console shows on another's (both read ``<prefix>.nudge-acks``), a worker started
afterwards reads it from the compacted topic's beginning, and a record in that topic no
console can read is skipped and logged, never stopping the reader; a tombstone erases it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaProducer

from streams.wire.codec import AvroCodec
from tests.integration.worker import WorkerProcess, eventually
from tests.unit.test_codec import EXAMPLES

pytestmark = pytest.mark.integration


def post(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def feed_entry(worker: WorkerProcess, nudge_id: str) -> dict[str, Any] | None:
    status, body = worker.get("/api/feed")
    assert status == 200, body
    return next((e for e in json.loads(body) if e["nudge_id"] == nudge_id), None)


def test_an_ack_posted_to_one_worker_shows_on_another_and_on_a_later_one(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    first, second = start_worker(), start_worker()
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    # a record no console can read, before any acknowledgement: skipped, the reader goes on
    producer.send(f"{prefix}.nudge-acks", key=b"garbage", value=b"\xc3\x01not an avro record")
    nudge = {
        **EXAMPLES["Nudge"],
        "nudge_id": "n-int-1",
        "call_id": "c-int",
        "created_at": int(time.time() * 1000),
    }
    producer.send(f"{prefix}.nudges", key=b"c-int", value=codec.encode("Nudge", nudge))
    producer.flush()
    producer.close()
    # both consoles hold the nudge, unacknowledged
    for worker in (first, second):
        entry = eventually(lambda worker=worker: feed_entry(worker, "n-int-1"), timeout=30)
        assert entry["ack"] is None

    note = "Coached on open questions <b>today</b>"
    status, body = post(f"{first.url}/api/nudges/n-int-1/ack", {"note": note})
    assert status == 200, body
    assert body["nudge_id"] == "n-int-1" and body["ack"]["by"] == "anonymous" and body["ack"]["note"] == note
    acked_at = body["ack"]["at"]
    assert abs(acked_at - time.time() * 1000) < 60_000
    # the first console shows it at once; the second when it reads the topic
    assert (feed_entry(first, "n-int-1") or {})["ack"] == body["ack"]
    started = time.monotonic()
    entry = eventually(lambda: (e := feed_entry(second, "n-int-1")) and e["ack"] and e, timeout=15)
    print(f"acknowledgement on the other worker after {time.monotonic() - started:.2f} s")
    assert entry["ack"] == {"by": "anonymous", "at": acked_at, "note": note}

    # a second acknowledgement replaces the first (the latest per nudge)
    status, body = post(f"{second.url}/api/nudges/n-int-1/ack", {})
    assert status == 200 and body["ack"]["note"] is None
    eventually(lambda: (e := feed_entry(first, "n-int-1")) and e["ack"]["note"] is None, timeout=15)

    # a worker started later reads the acknowledgements from the topic's beginning
    third = start_worker()
    entry = eventually(lambda: (e := feed_entry(third, "n-int-1")) and e["ack"] and e, timeout=30)
    assert entry["ack"]["note"] is None and entry["ack"]["at"] >= acked_at
    # erased (a tombstone for the nudge id): every console forgets it
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(f"{prefix}.nudge-acks", key=b"n-int-1", value=None)
    producer.flush()
    producer.close()

    def erased(worker: WorkerProcess) -> bool:
        entry = feed_entry(worker, "n-int-1")
        return entry is not None and entry["ack"] is None

    for worker in (first, second, third):
        eventually(lambda worker=worker: erased(worker), timeout=15)
    for worker in (first, second, third):
        log = worker.log_path.read_text(errors="replace")
        assert f"on {prefix}.nudge-acks (" in log, worker.log_tail()
