"""Restarts: a SIGKILLed worker with static membership is ready again within 15 s, applies
no event twice (no valid event in the dead-letter topic) and its summaries are exact."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from kafka import KafkaConsumer

from streams.settings import Settings
from streams.tools.replay import replay
from streams.tools.scoring import score_recording
from streams.tools.simulate import SimulationConfig, simulate
from streams.tools.sources import Recording
from tests.integration.test_outputs import one_summary_per_call, read_all
from tests.integration.worker import WorkerProcess, eventually

READY_AFTER_SIGKILL_SECONDS = 15.0


def dead_letter_reasons(bootstrap: str, topic: str, settle_ms: int = 3_000) -> list[str]:
    """The ``error.reason`` header of every committed record of the dead-letter topic."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", isolation_level="read_committed"
    )
    reasons: list[str] = []
    try:
        deadline = time.monotonic() + settle_ms / 1000
        while time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=200).values():
                reasons += [dict(m.headers).get("error.reason", b"?").decode() for m in messages]
    finally:
        consumer.close()
    return reasons


def test_a_sigkilled_worker_is_ready_within_15_s_and_applies_no_event_twice(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    recordings = [r for _, r in simulate(SimulationConfig(calls=8, concurrency=8, minutes=2, seed=23))]
    cut = [len(r.events) if i % 2 == 0 else len(r.events) // 2 for i, r in enumerate(recordings)]
    firsts = [Recording(r.call_id, r.events[:n]) for r, n in zip(recordings, cut, strict=True)]
    rests = [Recording(r.call_id, r.events[n:]) for r, n in zip(recordings, cut, strict=True) if r.events[n:]]

    # the defaults (session timeout 60 s) with the static membership the Helm chart sets
    options = {"group_instance_id": "callfocus-0", "commit_interval_seconds": "0.5"}
    worker = start_worker(**options)
    replay(firsts, settings, speed=None)
    half = sum(1 for r in firsts for _ in r.segments) // 2
    eventually(
        lambda: (
            sum(s.value for s in worker.samples() if s.name == "callfocus_segments_processed_total") >= half
        ),
        timeout=60,
    )
    time.sleep(0.7)  # some of it committed, some in the open transaction: applied again after the restart
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait(timeout=30)
    killed = time.monotonic()
    # same name and web port, as a restarted pod: Faust checks its URL in the assignment it gets back
    restarted = start_worker(web_port=str(worker.port), **options)
    ready_after = time.monotonic() - killed
    print(f"ready {ready_after:.1f} s after the SIGKILL")
    assert ready_after < READY_AFTER_SIGKILL_SECONDS

    replay(rests, settings, speed=None)
    summaries = read_all(
        bootstrap, f"{prefix}.call-summaries", expected=len(recordings) + 1, timeout_ms=60_000
    )
    by_call = one_summary_per_call(summaries, (r.call_id for r in recordings))
    for recording in recordings:
        summary = by_call[recording.call_id]
        offline = score_recording(recording).metrics
        assert summary["customer_focus_score"] == offline.customer_focus_score, recording.call_id
        assert summary["interruptions"] == offline.window("call").interruptions
        assert summary["segments"] == len(recording.segments)
    # every event is valid: any dead letter is an event applied a second time
    assert dead_letter_reasons(bootstrap, f"{prefix}.call-events.dlq") == []
    assert restarted.value("callfocus_invalid_events_total", reason="call_ended") == 0.0
    assert restarted.proc.poll() is None
    assert "ConsistencyError" not in restarted.log_path.read_text(errors="replace")
