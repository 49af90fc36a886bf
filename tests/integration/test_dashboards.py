"""Every dashboard panel's PromQL returns data from a real Prometheus scraping a real worker."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer

from streams.settings import Settings
from streams.tools.replay import replay
from streams.tools.sources import Recording, read_recordings
from tests.integration.conftest import PrometheusServer
from tests.integration.worker import WorkerProcess, eventually
from tests.unit.test_dashboards import LABEL_VALUES, METRIC_NAME, RULE_FILES, queries, variable_queries

ROOT = Path(__file__).resolve().parents[2]
# Grafana's variables as a dashboard opened with "All" selected (allValue ".*")
VARIABLES = {
    "$team": ".*",
    "$agent": ".*",
    "$queue": ".*",
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "5m",
}


def substituted(expr: str) -> str:
    for name, value in sorted(VARIABLES.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def promql(board: str, name: str, query: str) -> tuple[str, str]:
    """(what, PromQL) of a panel target or of a label_values() variable (as a count by the label)."""
    match = LABEL_VALUES.match(query)
    if match:  # label_values(selector, label): the label's values are the groups of this query
        return f"{board} / ${name}", f"count by ({match['label']}) ({substituted(match['selector'])})"
    return f"{board} / {name}", substituted(query)


def test_every_panel_query_and_variable_returns_data(
    start_worker: Callable[..., WorkerProcess],
    start_prometheus: Callable[..., PrometheusServer],
    topics: dict[str, str],
) -> None:
    checks = [promql(*query) for query in [*queries(), *variable_queries()]]
    worker = start_worker()
    prometheus = start_prometheus([f"127.0.0.1:{worker.port}"], rule_files=RULE_FILES)
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    recordings = read_recordings(ROOT / "samples" / "calls.jsonl", "jsonl")
    ended, *live = recordings  # one call ends (score histogram), the others stay live (per-call series)
    replay(
        [ended, *(Recording(r.call_id, r.events[:-1]) for r in live)],
        Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix),
        speed=None,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(f"{prefix}.call-events", key=b"broken", value=b"not avro")  # invalid and DLQ series move
    producer.flush()
    producer.close()
    eventually(lambda: prometheus.query("callfocus_call_customer_focus_score") or None, timeout=60)

    missing: list[str] = []

    def all_have_data() -> bool:
        missing[:] = [f"{what}: {query}" for what, query in checks if not prometheus.query(query)]
        return not missing

    # rate() over [1m] needs two scrapes after the data arrived, the recording rules one evaluation
    with contextlib.suppress(AssertionError):
        eventually(all_have_data, timeout=30, interval=1.0)
    if missing:
        names = {name for line in missing for name in METRIC_NAME.findall(line)}
        absent = sorted(n for n in names if not prometheus.query(f'count({{__name__="{n}"}})'))
        raise AssertionError(
            "queries without data:\n"
            + "\n".join(missing)
            + f"\nmetrics Prometheus has no series of: {', '.join(absent) or 'none'}"
        )
