"""Every dashboard panel's PromQL returns data from a real Prometheus scraping a real worker."""

from __future__ import annotations

import contextlib
import json
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


# A live call the samples lack: a customer objection answered with a question (objection
# handling) and a 7 s silence of both parties (dead air), so those panels show real values.
OBJECTION_CALL = [
    {
        "type": "CallStarted",
        "call_id": "objection-dead-air",
        "started_at": 1767601200000,
        "agent_id": "agent-cy",
        "team": "sales",
        "queue": "upgrades",
        "direction": "outbound",
    },
    {
        "type": "TranscriptSegment",
        "call_id": "objection-dead-air",
        "segment_id": "s01",
        "speaker": "AGENT",
        "start_ms": 500,
        "end_ms": 6000,
        "text": "hi this is cy from contoso what made you look at our premium plan",
        "is_final": True,
    },
    {
        "type": "TranscriptSegment",
        "call_id": "objection-dead-air",
        "segment_id": "s02",
        "speaker": "CUSTOMER",
        "start_ms": 6500,
        "end_ms": 11000,
        "text": "honestly it looks too expensive for a shop our size",
        "is_final": True,
    },
    {
        "type": "TranscriptSegment",
        "call_id": "objection-dead-air",
        "segment_id": "s03",
        "speaker": "AGENT",
        "start_ms": 11800,
        "end_ms": 16000,
        "text": "what would make the price work for a shop your size",
        "is_final": True,
    },
    {
        "type": "TranscriptSegment",
        "call_id": "objection-dead-air",
        "segment_id": "s04",
        "speaker": "CUSTOMER",
        "start_ms": 23000,
        "end_ms": 27000,
        "text": "let me check with my partner first",
        "is_final": True,
    },
    # dropped like the samples' last events: the call stays live
    {"type": "CallEnded", "call_id": "objection-dead-air", "ended_at": 1767601230000, "reason": "hangup"},
]
# what that call must show, beyond "a panel returns data"
SIGNAL_CHECKS = (
    'max(callfocus_call_dead_air_longest_seconds{call_id="objection-dead-air", window="call"}) == 7',
    'max(callfocus_call_objections{call_id="objection-dead-air"}) == 1',
    'max(callfocus_call_objection_question_ratio{call_id="objection-dead-air"}) == 1',
    'sum(callfocus_team_dead_air_silences{team="sales"}) >= 1',
    # the one ended call is in the scorecard table once, and its score in the histogram
    "sum(callfocus_agent_calls_total) == 1",
    'sum(callfocus_agent_call_customer_focus_score_bucket{le="+Inf"}) == 1',
)


def test_every_panel_query_and_variable_returns_data(
    start_worker: Callable[..., WorkerProcess],
    start_prometheus: Callable[..., PrometheusServer],
    topics: dict[str, str],
    tmp_path: Path,
) -> None:
    checks = [promql(*query) for query in [*queries(), *variable_queries()]]
    checks += [("the objection call's signals", query) for query in SIGNAL_CHECKS]
    worker = start_worker()
    prometheus = start_prometheus([f"127.0.0.1:{worker.port}"], rule_files=RULE_FILES)
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    recordings = read_recordings(ROOT / "samples" / "calls.jsonl", "jsonl")
    ended, *live = recordings  # one call ends (score histogram), the others stay live (per-call series)
    extra = tmp_path / "objection-dead-air.jsonl"
    extra.write_text("".join(json.dumps(event) + "\n" for event in OBJECTION_CALL), encoding="utf-8")
    live += read_recordings(extra, "jsonl")
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
