"""`callfocus doctor` against a real broker, worker and Prometheus: healthy, then broken."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from tests.conftest import free_port
from tests.integration.conftest import PrometheusServer
from tests.integration.worker import WorkerProcess, eventually

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, dict[str, str]], str]:
    """Exit status, the checks by name (from --json) and the table, of one doctor run."""
    command = [sys.executable, "-m", "streams.tools.cli", "doctor", "--timeout", "3", *args]
    as_json = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=90)
    assert "Traceback" not in as_json.stderr, as_json.stderr
    table = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
    assert table.returncode == as_json.returncode
    checks = {c["name"]: c for c in json.loads(as_json.stdout)["checks"]}
    return as_json.returncode, checks, table.stdout


def test_doctor_finds_a_healthy_deployment_healthy(
    start_worker: Callable[..., WorkerProcess],
    start_prometheus: Callable[..., PrometheusServer],
    topics: dict[str, str],
) -> None:
    worker = start_worker()
    prometheus = start_prometheus([f"127.0.0.1:{worker.port}"], rule_files=RULE_FILES)
    url = f"http://127.0.0.1:{prometheus.port}"
    eventually(lambda: prometheus.query("callfocus_engine_info") or None, timeout=30)
    status, checks, table = doctor(topics, "--prometheus-url", url)
    assert status == 0, table
    assert {c["status"] for c in checks.values()} == {"ok"}, table
    # the worker created the tables' changelogs, co-partitioned and compacted
    for changelog in ("topic state changelog", "topic scorecards changelog"):
        assert "4 partitions, cleanup.policy=compact" in checks[changelog]["detail"]
    assert checks["prometheus targets"]["detail"] == "1 of 1 callfocus targets up (job callfocus)"
    print(table)  # the report's healthy example (pytest -s)


def test_doctor_names_each_problem_of_a_broken_deployment(
    make_env: Callable[..., dict[str, str]], kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    # topics made by hand: the input with 3 partitions where the setting says 4, no DLQ
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics(
            [NewTopic(f"{unique}.call-events", 3, 1)]
            + [NewTopic(f"{unique}.{t}", 4, 1) for t in ("call-metrics", "nudges", "call-summaries")]
            + [NewTopic(f"{unique}.nudge-acks", 4, 1, topic_configs={"cleanup.policy": "compact"})]
        )
    finally:
        admin.close()
    trackers = tmp_path / "trackers.toml"
    trackers.write_text('[[trackers]]\nname = "refund"\nspeaker = "nobody"\nphrases = ["refund"]\n')
    (tmp_path / "a-file").write_text("")
    env = make_env(trackers_file=str(trackers), data_dir=str(tmp_path / "a-file" / "data"))
    silent_port = free_port()

    status, checks, table = doctor(env, "--prometheus-url", f"127.0.0.1:{silent_port}")  # http:// implied
    assert status == 1, table
    failed = {name for name, c in checks.items() if c["status"] == "fail"}
    assert failed == {
        "topic call-events",
        "topic call-events.dlq (dead letters)",
        "trackers",
        "state directory",
        "prometheus",
    }, table
    assert checks["topic call-events"]["fix"].startswith("set CALLFOCUS_TOPIC_PARTITIONS=3")
    assert "callfocus topics" in checks["topic call-events.dlq (dead letters)"]["fix"]
    assert checks["trackers"]["detail"].startswith(f"{trackers}:")
    assert "is a file, not a folder" in checks["state directory"]["detail"]
    assert checks["broker"]["status"] == "ok"
    # made without callfocus' max.message.bytes: the broker's default refuses its largest records
    assert (
        checks["topic nudges"]["status"] == "warn" and "max.message.bytes" in checks["topic nudges"]["detail"]
    )
    print(table)  # the report's broken example (pytest -s)

    unreachable = {**env, "CALLFOCUS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    status, checks, table = doctor(unreachable)
    assert status == 3, table
    assert checks["broker"]["detail"].startswith(
        f"nothing answered at {unreachable['CALLFOCUS_KAFKA_BOOTSTRAP']}"
    )
    assert checks["topics"]["status"] == "skip"
    print(table)
