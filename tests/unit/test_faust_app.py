"""The Faust side: settings reach Faust, codecs are registered, the agent updates state.

Workers are built in this process, each from its own settings: building one reads no
environment but what :class:`Settings` reads, and connects to nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faust.serializers import codecs

from streams.settings import Settings
from streams.wire.codec import AvroCodec
from streams.worker.app import Worker, create_worker


def test_faust_env_variables_do_not_override_callfocus_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "BROKER_URL": "kafka://wrong:1",
        "WEB_PORT": "1",
        "APP_DATADIR": "/wrong",
        "PROCESSING_GUARANTEE": "at_least_once",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(kafka_bootstrap="broker-a:9092", web_port=7123, app_id="cf-test", data_dir=tmp_path)
    conf = create_worker(settings).app.conf
    assert str(conf.broker[0]) == "kafka://broker-a:9092"
    assert conf.web_port == 7123
    assert conf.id == "cf-test"
    assert conf.processing_guarantee.value == "exactly_once"
    assert str(conf.datadir).startswith(str(tmp_path))


def test_two_workers_with_other_settings_live_in_one_process() -> None:
    first = create_worker(Settings(app_id="cf-one", commit_interval_seconds=1.5))
    second = create_worker(Settings(app_id="cf-two", fetch_max_records=1234, batch_max_events=77))
    assert (first.app.conf.id, second.app.conf.id) == ("cf-one", "cf-two")
    assert first.app.conf.broker_commit_interval == 1.5
    # not every 10,000 events as well (Faust's default): under a backlog that was every second
    assert first.app.conf.broker_commit_every >= 10**9
    # a fetch is capped by fetch_max_records, not by the stream's batch size
    assert second.app.conf.broker_max_poll_records == 1234
    assert first.live_calls is not second.live_calls and first.registry is not second.registry


def test_output_codecs_are_registered_with_faust(worker: Worker) -> None:
    record = {"call_id": "c1", "ended_at": 5, "reason": None}
    data = codecs.dumps("callfocus.CallEnded", record)
    assert AvroCodec().decode(data) == ("CallEnded", record)
    assert codecs.loads("callfocus.CallEnded", data) == record


def test_agent_applies_segments_to_live_calls(worker: Worker) -> None:
    codec, metrics = worker.codec, worker.metrics
    agent = worker.agents.process_call_events
    segment = {
        "call_id": "agent-ctx",
        "segment_id": "s1",
        "speaker": "AGENT",
        "start_ms": 0,
        "end_ms": 3000,
        "text": "tell me about your goals",
    }
    customer = {**segment, "segment_id": "s2", "speaker": "CUSTOMER", "start_ms": 3000, "end_ms": 4000}
    before = metrics.segments_processed.count("AGENT")

    async def run() -> None:
        async with agent.test_context() as test_agent:
            started = {"call_id": "agent-ctx", "started_at": 1}
            await test_agent.put(codec.encode("CallStarted", started), key=b"agent-ctx")
            await test_agent.put(codec.encode("TranscriptSegment", segment), key=b"agent-ctx")
            await test_agent.put(codec.encode("TranscriptSegment", customer), key=b"agent-ctx")
            await asyncio.sleep(0.3)  # the agent takes events in batches of up to 50 ms

    asyncio.run(run())
    call = worker.live_calls.get("agent-ctx")
    assert call is not None
    assert call.state.agent_talk_ratio(None) == 0.75
    assert metrics.segments_processed.count("AGENT") == before + 1


def test_a_crashed_agent_fails_liveness_and_readiness(worker: Worker) -> None:
    agent = worker.agents.process_call_events
    assert worker.web.crashed_services() == []
    agent._crash(RuntimeError("boom"))  # what mode does when an actor raises
    (crashed,) = worker.web.crashed_services()
    assert "process_call_events" in crashed and "boom" in crashed
