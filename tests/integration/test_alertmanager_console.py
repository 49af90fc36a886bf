"""A real Alertmanager, configured as shipped, delivers a call alert to a real worker's console,
which shows it merged with the worker's own nudge of the same call and type.

Alertmanager comes from Debian's ``prometheus-alertmanager`` (``deploy/local/ensure-deps.sh
alertmanager``; a missing binary is a failure, as for amtool). The alert is posted to
Alertmanager's own API (``POST /api/v2/alerts``), the way Prometheus hands it over.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaProducer

from streams.wire.codec import AvroCodec
from streams.wire.events import CallStarted, Speaker, TranscriptSegment, event_to_record
from tests.conftest import ROOT, free_port
from tests.deploy.test_prometheus_rules import binary
from tests.integration.worker import WorkerProcess, eventually, stop_process

pytestmark = pytest.mark.integration

LOCAL_CONFIG = ROOT / "deploy" / "local" / "alertmanager_config.py"
TOKEN = "am-console-token"
CALL = "am1"


def http(url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            is_json = response.headers.get_content_type() == "application/json"
            return response.status, json.loads(raw) if is_json and raw else raw.decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def shipped_config_for(console_url: str, token_file: Path, workdir: Path) -> dict[str, Any]:
    """deploy/prometheus/alertmanager.yml with the console's address and token file swapped in
    by the demo's own helper (deploy/local/alertmanager_config.py): its routes, receivers and
    grouping as shipped, but a 1 s group_interval so the resolved notification does not wait
    the shipped 30 s."""
    path = workdir / "alertmanager-local.yml"
    done = subprocess.run(
        [sys.executable, str(LOCAL_CONFIG), console_url, str(token_file), str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    [receiver] = [r for r in config["receivers"] if r["name"] == "supervisors-console"]
    [webhook] = receiver["webhook_configs"]
    assert webhook["url"] == console_url + "/api/alertmanager"
    assert webhook["http_config"]["authorization"]["credentials_file"] == str(token_file)
    [route] = [r for r in config["route"]["routes"] if r["receiver"] == "supervisors-console"]
    route["group_interval"] = "1s"
    return config


@pytest.fixture
def start_alertmanager(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], str]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(config: dict[str, Any]) -> str:
        path = tmp_path / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        port = free_port()
        log = (tmp_path / "alertmanager.log").open("wb")
        process = subprocess.Popen(
            [
                binary("prometheus-alertmanager"),
                f"--config.file={path}",
                f"--storage.path={tmp_path / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # one instance, no gossip port
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                return http(url + "/-/ready")[0] == 200
            except OSError:
                return False

        eventually(ready, timeout=30)
        return url

    yield start
    for process in processes:
        stop_process(process)


def monologue_call(bootstrap: str, prefix: str) -> None:
    """A call whose agent talks for 95 s without a customer turn: the worker's monologue nudge."""
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    now = int(time.time() * 1000)
    events = (
        CallStarted(CALL, now, agent_id="agent-7", team="sales", queue="renewals"),
        TranscriptSegment(CALL, "1", Speaker.CUSTOMER, 0, 5000, "we keep losing orders"),
        TranscriptSegment(CALL, "2", Speaker.AGENT, 5000, 100_000, "let me tell you about our platform"),
    )
    for event in events:
        producer.send(f"{prefix}.call-events", key=CALL.encode(), value=codec.encode(*event_to_record(event)))
    producer.flush()
    producer.close()


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def test_a_real_alertmanager_alert_joins_the_nudge_of_the_same_call_and_type(
    start_worker: Callable[..., WorkerProcess],
    topics: dict[str, str],
    start_alertmanager: Callable[[dict[str, Any]], str],
    tmp_path: Path,
) -> None:
    worker = start_worker(console_token=TOKEN)
    monologue_call(topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"])

    def entry() -> dict[str, Any] | None:
        status, entries = http(worker.url + "/api/feed", token=TOKEN)
        assert status == 200, entries
        return next((e for e in entries if e["key"] == f"{CALL}/monologue"), None)

    nudged = eventually(entry, timeout=45)
    assert nudged["sources"] == ["nudge"] and nudged["nudge_id"]

    token_file = tmp_path / "console-token"
    token_file.write_text(TOKEN, encoding="utf-8")
    alertmanager = start_alertmanager(shipped_config_for(worker.url, token_file, tmp_path))
    started = time.time()
    labels = {
        "alertname": "CallfocusMonologue",
        "nudge_type": "monologue",
        "call_id": CALL,
        "agent_id": "agent-7",
        "team": "sales",
        "queue": "renewals",
        "severity": "warning",
        "audience": "supervisors",
    }
    annotations = {
        "summary": f"Agent agent-7 is in a monologue on call {CALL}",
        "description": "Agent agent-7 has talked for 1m35s without a customer turn.",
        "runbook_url": "https://github.com/callfocus/callfocus/blob/main/docs/runbook.md#callfocusmonologue",
    }
    alert = {"labels": labels, "annotations": annotations, "startsAt": rfc3339(started)}
    assert http(alertmanager + "/api/v2/alerts", [alert])[0] == 200

    # the shipped route waits group_wait (5 s) before the first notification
    merged = eventually(lambda: (e := entry()) and e["alert"] is not None and e, timeout=30)
    print(f"alert posted to Alertmanager -> merged entry in the console: {time.time() - started:.1f} s")
    assert merged["sources"] == ["nudge", "alert"]
    assert merged["nudge_id"] == nudged["nudge_id"] and merged["severity"] == "warning"
    assert merged["alert"]["status"] == "firing" and merged["alert"]["summary"] == annotations["summary"]
    assert not merged["resolved"]
    entries = http(worker.url + "/api/feed", token=TOKEN)[1]
    assert [e["key"] for e in entries].count(f"{CALL}/monologue") == 1  # one entry, not two

    # the alert ends (Prometheus sends endsAt): the console's entry is marked resolved
    ended = {**alert, "endsAt": rfc3339(time.time())}
    assert http(alertmanager + "/api/v2/alerts", [ended])[0] == 200
    resolved = eventually(lambda: (e := entry()) and e["resolved"] and e, timeout=30)
    assert resolved["alert"]["status"] == "resolved" and resolved["sources"] == ["nudge", "alert"]
