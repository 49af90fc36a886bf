"""The project's own broker scripts and the three Kafka clients against that broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from streams.settings import Settings
from streams.tools.replay import replay
from streams.tools.sources import read_recordings
from tests.conftest import KAFKA_SH, ROOT, free_port
from tests.integration.worker import WorkerProcess, eventually


def run_kafka_sh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KAFKA_SH), *args], env=env, capture_output=True, text=True, timeout=180)


def test_start_is_idempotent_reuses_data_and_stops_cleanly(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CALLFOCUS_LOCAL_KAFKA_PORT": str(free_port()),
        "CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CALLFOCUS_LOCAL_KAFKA_DATA": str(tmp_path / "kafka"),
        "PYTHON": sys.executable,
    }
    first = run_kafka_sh(env, "start")
    assert first.returncode == 0, first.stderr
    bootstrap = first.stdout.strip().splitlines()[-1]
    pid = (tmp_path / "kafka" / "kafka.pid").read_text().strip()
    try:
        again = run_kafka_sh(env, "start")
        assert again.returncode == 0 and "already running" in again.stderr
        assert (tmp_path / "kafka" / "kafka.pid").read_text().strip() == pid
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([NewTopic("kept-across-restart", 1, 1)])
        admin.close()
    finally:
        stopped = run_kafka_sh(env, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stderr
    assert run_kafka_sh(env, "status").returncode == 1

    restarted = run_kafka_sh(env, "start")  # same data dir: formatted storage is reused
    try:
        assert restarted.returncode == 0, restarted.stderr
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        assert "kept-across-restart" in admin.list_topics()
        admin.close()
    finally:
        run_kafka_sh(env, "stop")


def _path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH with the tools kafka.sh uses, minus ``hidden``."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("dirname", "sed", "cat", "rm", "mkdir", "touch", "java", "mvn"):
        found = shutil.which(tool)
        if tool not in hidden and found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_missing_java_or_mvn_is_one_clear_line(tmp_path: Path) -> None:
    cache = str(tmp_path / "empty-cache")
    for hidden, message in [
        (
            "java",
            "local-kafka: java not found on PATH: install a JDK 17+ "
            "(Debian: apt-get install openjdk-17-jre-headless)",
        ),
        (
            "mvn",
            "local-kafka: mvn not found on PATH: install Maven (Debian: apt-get install maven) "
            "to fetch Kafka 4.1.1 from Maven Central",
        ),
    ]:
        env = {
            **os.environ,
            "PATH": _path_without(tmp_path / hidden, hidden),
            "CALLFOCUS_LOCAL_KAFKA_CACHE": cache,
        }
        done = subprocess.run(["/bin/bash", str(KAFKA_SH), "fetch"], env=env, capture_output=True, text=True)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [message]


def test_aiokafka_transactions_commit_and_abort(kafka_bootstrap: str) -> None:
    topic = f"tx-{uuid.uuid4().hex[:8]}"

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{topic}")
        await producer.start()
        try:
            async with producer.transaction():
                await producer.send_and_wait(topic, b"committed-1", key=b"k")
            await producer.begin_transaction()
            await producer.send_and_wait(topic, b"aborted", key=b"k")
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send_and_wait(topic, b"committed-2", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"g-{topic}",
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            seen: list[bytes] = []
            for _ in range(20):
                batches = await consumer.getmany(timeout_ms=500)
                seen += [m.value for messages in batches.values() for m in messages if m.value is not None]
                if len(seen) >= 2:
                    break
            return seen
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [b"committed-1", b"committed-2"]


def test_faust_worker_with_exactly_once(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    worker = start_worker(processing_guarantee="exactly_once")
    recordings = read_recordings(ROOT / "samples" / "calls.jsonl", "jsonl")
    settings = Settings(
        kafka_bootstrap=topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topic_prefix=topics["CALLFOCUS_TOPIC_PREFIX"]
    )
    report = replay(recordings, settings, speed=None)

    def processed() -> bool:
        return (
            sum(s.value for s in worker.samples() if s.name == "callfocus_segments_processed_total")
            == report.final_segments
        )

    eventually(processed, timeout=60)
    assert worker.value("callfocus_call_agent_talk_ratio", call_id="demo-pitcher", window="call") is not None
