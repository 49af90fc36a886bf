"""A worker killed with SIGKILL mid-call and restarted loses nothing and counts nothing twice."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from kafka import KafkaProducer

from streams.settings import Settings
from streams.tools.replay import replay
from streams.tools.scoring import score_recording
from streams.tools.simulate import SimulationConfig, simulate
from streams.tools.sources import Recording
from tests.integration.test_outputs import one_summary_per_call, read_all
from tests.integration.worker import WorkerProcess, eventually


def test_sigkill_mid_call_then_restart_gives_the_offline_summaries(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    planned = list(simulate(SimulationConfig(calls=8, concurrency=8, minutes=2, seed=11)))
    recordings = [r for _, r in planned]
    # half the calls whole (their summaries go out before the kill), the others half-way;
    # then the kill, then the rest
    cut = [len(r.events) if i % 2 == 0 else len(r.events) // 2 for i, r in enumerate(recordings)]
    firsts = [Recording(r.call_id, r.events[:n]) for r, n in zip(recordings, cut, strict=True)]
    rests = [Recording(r.call_id, r.events[n:]) for r, n in zip(recordings, cut, strict=True) if r.events[n:]]

    began = time.monotonic()
    # commits every 0.2 s: the kill lands among many, some with batches waiting on them
    worker = start_worker(session_timeout_seconds="10", commit_interval_seconds="0.2")
    replay(firsts, settings, speed=None)
    processed_half = sum(1 for r in firsts for s in r.segments)
    eventually(
        lambda: (
            sum(s.value for s in worker.samples() if s.name == "callfocus_segments_processed_total")
            >= processed_half // 2
        ),
        timeout=60,
    )
    time.sleep(1.0)  # some of it committed, some still in the open transaction
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait(timeout=30)

    killed_at = time.monotonic() - began
    replay(rests, settings, speed=None)
    restarted = start_worker(session_timeout_seconds="10", commit_interval_seconds="0.2")
    ready_at = time.monotonic() - began
    summaries = read_all(
        bootstrap, f"{prefix}.call-summaries", expected=len(recordings) + 1, timeout_ms=60_000
    )
    print(
        f"killed at {killed_at:.1f} s, restarted worker ready at {ready_at:.1f} s, "
        f"summaries read at {time.monotonic() - began:.1f} s"
    )
    by_call = one_summary_per_call(summaries, (r.call_id for r in recordings))
    for recording in recordings:
        summary = by_call[recording.call_id]
        offline = score_recording(recording).metrics
        assert summary["customer_focus_score"] == offline.customer_focus_score, recording.call_id
        assert summary["agent_talk_ratio"] == offline.window("call").agent_talk_ratio
        assert summary["questions_per_minute"] == offline.window("call").questions_per_minute
        assert summary["interruptions"] == offline.window("call").interruptions
        assert summary["segments"] == len(recording.segments)
    assert restarted.proc.poll() is None


def test_batches_that_run_during_commits_are_committed_once_after_them(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    """Input keeps arriving while commits run (every 50 ms): the batches applied meanwhile
    send their outputs after the commit, into the next transaction; none is lost or doubled."""
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    recordings = [r for _, r in simulate(SimulationConfig(calls=30, concurrency=30, minutes=2, seed=5))]
    worker = start_worker(commit_interval_seconds="0.05")
    replay(recordings, settings, speed=20.0)  # two minutes of 30 calls in about six seconds
    summaries = read_all(
        bootstrap, f"{prefix}.call-summaries", expected=len(recordings), timeout_ms=60_000, settle_ms=5_000
    )
    during_commits = worker.value("callfocus_batches_during_commit_total") or 0
    print(f"{during_commits:.0f} batches ran during commits")
    assert during_commits > 0
    by_call = one_summary_per_call(summaries, (r.call_id for r in recordings))
    for recording in recordings:
        summary = by_call[recording.call_id]
        offline = score_recording(recording).metrics
        assert summary["customer_focus_score"] == offline.customer_focus_score, recording.call_id
        assert summary["segments"] == len(recording.segments)


def test_an_unreadable_call_state_is_counted_and_the_worker_goes_on(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    """A state the worker cannot read (an older format, damage) must not stop it at every
    start: the call starts again from its next event."""
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    ((_, recording),) = simulate(SimulationConfig(calls=1, concurrency=1, minutes=2, seed=5))
    half = len(recording.events) // 2
    first = Recording(recording.call_id, recording.events[:half])
    rest = Recording(recording.call_id, recording.events[half:])

    worker = start_worker()
    replay([first], settings, speed=None)
    eventually(
        lambda: (worker.value("callfocus_commit_duration_seconds_count") or 0) >= 2 or None, timeout=60
    )
    worker.stop()

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    # same key, so the same partition as the state it replaces (Kafka's default partitioner)
    producer.send(
        f"{topics['CALLFOCUS_APP_ID']}-call-state-changelog",
        key=recording.call_id.encode(),
        value=b"{not json",
    )
    producer.flush()
    producer.close()

    restarted = start_worker()
    eventually(lambda: restarted.value("callfocus_unreadable_states_total") == 1.0 or None, timeout=30)
    replay([rest], settings, speed=None)
    segments_after = sum(1 for s in rest.segments if s.is_final)
    eventually(
        lambda: (
            sum(s.value for s in restarted.samples() if s.name == "callfocus_segments_processed_total")
            >= segments_after
        ),
        timeout=60,
    )
    assert (
        restarted.value("callfocus_call_agent_talk_ratio", call_id=recording.call_id, window="call")
        is not None
    )
    assert restarted.proc.poll() is None
    assert "unreadable state in the call-state table" in restarted.log_path.read_text(errors="replace")
