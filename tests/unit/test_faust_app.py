"""The Faust side: settings reach Faust, codecs are registered, the agent updates state."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from faust.serializers import codecs

from streams.wire.codec import AvroCodec


def test_faust_env_variables_do_not_override_callfocus_settings() -> None:
    program = (
        "from streams.worker.app import app; c = app.conf;"
        "print(c.broker[0], c.web_port, c.id, c.processing_guarantee.value, str(c.datadir))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "BROKER_URL": "kafka://wrong:1",
        "WEB_PORT": "1",
        "APP_DATADIR": "/wrong",
        "PROCESSING_GUARANTEE": "at_least_once",
        "CALLFOCUS_KAFKA_BOOTSTRAP": "broker-a:9092",
        "CALLFOCUS_WEB_PORT": "7123",
        "CALLFOCUS_APP_ID": "cf-test",
        "CALLFOCUS_DATA_DIR": "/tmp/cf-data",
    }
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    broker, port, app_id, guarantee, datadir = out.stdout.split()
    assert broker == "kafka://broker-a:9092"
    assert port == "7123"
    assert app_id == "cf-test"
    assert guarantee == "exactly_once"
    assert datadir.startswith("/tmp/cf-data")


def test_commits_come_by_time_as_the_settings_say() -> None:
    program = (
        "from streams.worker.app import app; c = app.conf; "
        "print(c.broker_commit_interval, c.broker_commit_every)"
    )
    env = {"PATH": "/usr/bin:/bin", "CALLFOCUS_COMMIT_INTERVAL_SECONDS": "1.5"}
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    interval, every = out.stdout.split()
    assert float(interval) == 1.5
    # not every 10,000 events as well (Faust's default): under a backlog that was every second
    assert int(every) >= 10**9


def test_a_fetch_is_capped_by_fetch_max_records_not_by_the_stream_batch_size() -> None:
    program = "from streams.worker.app import app; print(app.conf.broker_max_poll_records)"
    env = {"PATH": "/usr/bin:/bin", "CALLFOCUS_FETCH_MAX_RECORDS": "1234", "CALLFOCUS_BATCH_MAX_EVENTS": "77"}
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == 1234


def test_output_codecs_are_registered_with_faust() -> None:
    import streams.worker.app  # noqa: F401  registers the codecs

    record = {"call_id": "c1", "ended_at": 5, "reason": None}
    data = codecs.dumps("callfocus.CallEnded", record)
    assert AvroCodec().decode(data) == ("CallEnded", record)
    assert codecs.loads("callfocus.CallEnded", data) == record


def test_agent_applies_segments_to_live_calls() -> None:
    from streams.worker.app import codec, live_calls, pipeline_metrics
    from streams.worker.pipeline import process_call_events

    segment = {
        "call_id": "agent-ctx",
        "segment_id": "s1",
        "speaker": "AGENT",
        "start_ms": 0,
        "end_ms": 3000,
        "text": "tell me about your goals",
    }
    customer = {**segment, "segment_id": "s2", "speaker": "CUSTOMER", "start_ms": 3000, "end_ms": 4000}
    before = pipeline_metrics.segments_processed.count("AGENT")

    async def run() -> None:
        async with process_call_events.test_context() as agent:
            started = {"call_id": "agent-ctx", "started_at": 1}
            await agent.put(codec.encode("CallStarted", started), key=b"agent-ctx")
            await agent.put(codec.encode("TranscriptSegment", segment), key=b"agent-ctx")
            await agent.put(codec.encode("TranscriptSegment", customer), key=b"agent-ctx")
            await asyncio.sleep(0.3)  # the agent takes events in batches of up to 50 ms

    asyncio.run(run())
    call = live_calls.get("agent-ctx")
    assert call is not None
    assert call.state.agent_talk_ratio(None) == 0.75
    assert pipeline_metrics.segments_processed.count("AGENT") == before + 1


def test_a_crashed_agent_fails_liveness_and_readiness() -> None:
    from streams.worker.pipeline import process_call_events
    from streams.worker.web import crashed_services

    assert crashed_services() == []
    process_call_events._crash(RuntimeError("boom"))  # what mode does when an actor raises
    try:
        (crashed,) = crashed_services()
        assert "process_call_events" in crashed and "boom" in crashed
    finally:
        process_call_events._crashed.clear()
        process_call_events.crash_reason = None
