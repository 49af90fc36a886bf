"""Every dashboard panel's PromQL returns data from a real Prometheus scraping a real worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer

from streams.replay import replay
from streams.settings import Settings
from streams.sources import Recording, read_recordings
from tests.integration.conftest import PrometheusServer
from tests.integration.worker import WorkerProcess, eventually
from tests.unit.test_dashboards import RULE_FILES, queries

ROOT = Path(__file__).resolve().parents[2]
# Grafana's variables as a dashboard opened with "All" selected
VARIABLES = {
    "$team": ".*",
    "$agent": ".*",
    "$queue": ".*",
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
}


def substituted(expr: str) -> str:
    for name, value in sorted(VARIABLES.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(name, value)
    return expr


def test_every_panel_query_returns_data(
    start_worker: Callable[..., WorkerProcess],
    start_prometheus: Callable[..., PrometheusServer],
    topics: dict[str, str],
) -> None:
    worker = start_worker()
    prometheus = start_prometheus([f"127.0.0.1:{worker.port}"], rule_files=RULE_FILES)
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    recordings = read_recordings(ROOT / "samples" / "calls.jsonl", "jsonl")
    ended, *live = recordings
    replay(
        [ended, *(Recording(r.call_id, r.events[:-1]) for r in live)],
        Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix),
        speed=None,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(f"{prefix}.call-events", key=b"broken", value=b"not avro")  # the DLQ panels move
    producer.flush()
    producer.close()

    eventually(lambda: prometheus.query("team:callfocus_call_customer_focus_score:avg") or None, timeout=60)
    time.sleep(8)  # rate() over [1m] needs a few scrapes after the data arrived

    def failures() -> list[str]:
        missing = []
        for board, panel, expr in queries():
            query = substituted(expr)
            assert "$" not in query, f"{board} / {panel}: unsubstituted variable in {query}"
            if not prometheus.query(query):
                missing.append(f"{board} / {panel}: {query}")
        return missing

    missing = failures()
    if missing:  # a slow first commit or rule evaluation: one more look before failing
        time.sleep(10)
        missing = failures()
    assert not missing, "panels without data:\n" + "\n".join(missing)
