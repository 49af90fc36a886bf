"""callfocus against a broker that requires SASL_SSL: SCRAM-SHA-512 over TLS with a private CA.

The broker is the project's own (``deploy/local/kafka.sh start --sasl-ssl``) on free ports,
and the clients get exactly the settings ``kafka.sh env`` prints, as a user would set them.
``callfocus topics``, an exactly-once worker (its console included), ``callfocus replay``
and the bench's sender all run on it. Then the three ways a secure connection goes wrong
(a wrong password, a CA that did not sign the broker's certificate, nothing listening) must
end every command that talks to Kafka within seconds, with one line naming the setting to
check and exit status 3, never a hang or a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.settings import TOPICS, Settings
from tests.conftest import KAFKA_SH, ROOT, free_port
from tests.integration.worker import WorkerProcess, eventually

SAMPLE = ROOT / "samples" / "calls.jsonl"
LOAD_BENCH = ROOT / "bench" / "load_bench.py"
# what a failing command may take: the probe's 5 s default for a silent peer, plus Python's start
FAST_SECONDS = 10.0


@dataclass(frozen=True)
class SecureKafka:
    client_env: dict[str, str]  # the CALLFOCUS_KAFKA_* settings kafka.sh prints
    data: Path


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    data = tmp_path_factory.mktemp("sasl-ssl-kafka")
    env = {
        **os.environ,
        "CALLFOCUS_LOCAL_KAFKA_PORT": str(free_port()),
        "CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CALLFOCUS_LOCAL_KAFKA_DATA": str(data),
        "PYTHON": sys.executable,
    }
    started = subprocess.run(
        [str(KAFKA_SH), "start", "--clean", "--sasl-ssl"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert started.returncode == 0, f"SASL_SSL Kafka did not start:\n{started.stderr}"
    try:
        assert f"CA {data}/tls/ca.pem" in started.stderr  # the CA path is printed for clients
        printed = subprocess.run(
            [str(KAFKA_SH), "env"], env=env, capture_output=True, text=True, timeout=30, check=True
        )
        client_env = dict(line.split("=", 1) for line in printed.stdout.splitlines())
        assert client_env["CALLFOCUS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert client_env["CALLFOCUS_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert client_env["CALLFOCUS_KAFKA_SSL_CAFILE"] == f"{data}/tls/ca.pem"
        yield SecureKafka(client_env, data)
    finally:
        subprocess.run([str(KAFKA_SH), "stop"], env=env, capture_output=True, timeout=60)


def callfocus_env(kafka: SecureKafka, name: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLFOCUS_")}
    env.update(kafka.client_env)
    env.update(
        CALLFOCUS_TOPIC_PREFIX=name,
        CALLFOCUS_APP_ID=name,
        CALLFOCUS_TOPIC_PARTITIONS="2",
        CALLFOCUS_PROCESSING_GUARANTEE="exactly_once",
        CALLFOCUS_COMMIT_INTERVAL_SECONDS="0.5",
        CALLFOCUS_DATA_DIR=str(tmp_path / "worker"),
        CALLFOCUS_WEB_PORT=str(free_port()),
        CALLFOCUS_STORE="memory",
    )
    env.update(overrides)
    return env


def callfocus(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def bench_sender() -> object:
    """The load bench's sender (bench/load_bench.py is a script, not a package)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import load_bench
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return load_bench


def test_topics_worker_replay_console_and_bench_sender_work_over_sasl_ssl(
    secure_kafka: SecureKafka, unique: str, tmp_path: Path
) -> None:
    env = callfocus_env(secure_kafka, unique, tmp_path)
    created = callfocus(env, "topics")
    assert created.returncode == 0, created.stderr
    assert created.stdout.count("created") == len(TOPICS), created.stdout

    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.wait_ready(timeout=90)
        replayed = callfocus(env, "replay", "--max-speed", "--limit", "1", str(SAMPLE))
        assert replayed.returncode == 0, replayed.stderr
        assert "of 1 calls" in replayed.stdout

        # the worker turned the replayed call into metrics (its counters, and committed records)
        eventually(lambda: (worker.value("callfocus_segments_processed_total") or 0) > 0, timeout=30)
        settings = Settings(
            **{k.removeprefix("CALLFOCUS_").lower(): v for k, v in secure_kafka.client_env.items()},
            topic_prefix=unique,
        )
        from streams.kafka_clients import kafka_python_options

        def committed_metrics() -> set[bytes]:
            consumer = KafkaConsumer(isolation_level="read_committed", **kafka_python_options(settings.kafka))
            try:
                consumer.assign([TopicPartition(settings.topic("call-metrics"), p) for p in (0, 1)])
                consumer.seek_to_beginning()
                return {r.key for batch in consumer.poll(timeout_ms=1000).values() for r in batch}
            finally:
                consumer.close()

        assert b"demo-focused" in eventually(committed_metrics, timeout=30)

        # the console (aiokafka, over the same SASL_SSL) answers with the call
        def console_calls() -> set[str]:
            status, body = worker.get("/api/calls")
            return {call["call_id"] for call in json.loads(body)} if status == 200 else set()

        assert "demo-focused" in eventually(console_calls, timeout=30)

        # the bench's sender, with the same settings
        load_bench = bench_sender()
        recordings = load_bench.live_calls(1, 0.5, seed=7, prefix="bench")  # type: ignore[attr-defined]
        messages = load_bench.encoded(recordings, load_bench.AvroCodec())  # type: ignore[attr-defined]
        load_bench.produce(settings.kafka, settings.topic("call-events"), messages)  # type: ignore[attr-defined]
        bench_call = recordings[0].call_id
        assert bench_call in eventually(lambda: bench_call in console_calls() and console_calls(), timeout=30)
        assert worker.proc.poll() is None
    finally:
        worker.stop()


def other_ca(tmp_path: Path) -> Path:
    """A CA that did not sign the broker's certificate."""
    pem = tmp_path / "other-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=someone else", "-keyout", str(tmp_path / "other-ca.key"), "-out", str(pem)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return pem


COMMANDS = {
    "topics": ["topics"],
    "replay": ["replay", "--max-speed", str(SAMPLE)],
    "simulate": ["simulate", "--calls", "1", "--max-speed"],
    "worker": ["worker"],
    "bridge": ["bridge", "--format", "deepgram"],
    "bench sender": [],  # python bench/load_bench.py
}
FAILURES = {
    "wrong password": (
        "Kafka authentication failed for user 'callfocus' with SCRAM-SHA-512",
        "CALLFOCUS_KAFKA_SASL_PASSWORD",
    ),
    "untrusted CA": ("TLS certificate of the Kafka broker", "set CALLFOCUS_KAFKA_SSL_CAFILE"),
    "unreachable": ("nothing answered at 127.0.0.1:", "set CALLFOCUS_KAFKA_BOOTSTRAP"),
}


def broken(failure: str, kafka: SecureKafka, tmp_path: Path) -> dict[str, str]:
    if failure == "wrong password":
        return {"CALLFOCUS_KAFKA_SASL_PASSWORD": "not-the-password"}
    if failure == "untrusted CA":
        return {"CALLFOCUS_KAFKA_SSL_CAFILE": str(other_ca(tmp_path))}
    return {"CALLFOCUS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}  # nothing listens there


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_broken_connection_ends_every_command_fast_with_one_line_and_status_3(
    secure_kafka: SecureKafka, unique: str, tmp_path: Path, command: str, failure: str
) -> None:
    env = callfocus_env(secure_kafka, unique, tmp_path, **broken(failure, secure_kafka, tmp_path))
    began = time.monotonic()
    if command == "bench sender":
        done = subprocess.run(
            [sys.executable, str(LOAD_BENCH), "--calls", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    else:
        done = callfocus(env, *COMMANDS[command], timeout=60)
    seconds = time.monotonic() - began
    problem, hint = FAILURES[failure]
    print(f"{command} / {failure}: {seconds:.2f} s: {done.stderr.strip()}")
    assert done.returncode == 3, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"callfocus: {problem}"), done.stderr
    assert hint in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert seconds < FAST_SECONDS


def test_a_peer_that_never_answers_ends_the_command_after_the_connect_timeout(
    secure_kafka: SecureKafka, unique: str, tmp_path: Path, held_port: int
) -> None:
    """A listener that accepts and says nothing (a firewall, a stuck broker): the wait is
    the setting's, not kafka-python's 30 s."""
    env = callfocus_env(
        secure_kafka,
        unique,
        tmp_path,
        CALLFOCUS_KAFKA_BOOTSTRAP=f"127.0.0.1:{held_port}",
        CALLFOCUS_KAFKA_CONNECT_TIMEOUT_SECONDS="2",
    )
    began = time.monotonic()
    done = callfocus(env, "topics", timeout=60)
    seconds = time.monotonic() - began
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip() == (
        f"callfocus: nothing answered at 127.0.0.1:{held_port} within 2 s (timed out): "
        "set CALLFOCUS_KAFKA_BOOTSTRAP to your Kafka brokers"
    )
    assert 2.0 <= seconds < 2.0 + FAST_SECONDS / 2
