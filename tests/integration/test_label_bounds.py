"""3,000 distinct teams against a real worker: the exported teams stay bounded, and
/metrics shrinks back once the calls have ended."""

from __future__ import annotations

from collections.abc import Callable

from kafka import KafkaProducer

from streams.wire.codec import AvroCodec
from tests.integration.worker import WorkerProcess, eventually

TEAMS = 3000
CAP = 200


def test_3000_teams_export_at_most_the_cap_and_metrics_shrink_after_the_calls(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    worker = start_worker(
        export_grace_seconds="1",
        exported_label_grace_seconds="2",
        max_exported_teams=str(CAP),
        # the 3000 agents' scorecard series outlive their calls by design (docs/coaching.md):
        # all folded into one group here, so what shrinks is the calls' and teams' series
        scorecard_max_exported_agents="0",
    )
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=topics["CALLFOCUS_KAFKA_BOOTSTRAP"], linger_ms=20)
    topic = f"{topics['CALLFOCUS_TOPIC_PREFIX']}.call-events"

    def send(name: str, record: dict[str, object]) -> None:
        producer.send(topic, key=str(record["call_id"]).encode(), value=codec.encode(name, record))

    for n in range(TEAMS):
        call_id = f"call-{n}"
        send(
            "CallStarted",
            {"call_id": call_id, "started_at": 1, "agent_id": f"a{n}", "team": f"team-{n}", "queue": "q"},
        )
        send(
            "TranscriptSegment",
            {
                "call_id": call_id,
                "segment_id": "s1",
                "speaker": "AGENT",
                "start_ms": 0,
                "end_ms": 2000,
                "text": "how can I help you today",
                "produced_at": 0,
            },
        )
    producer.flush()

    def processed() -> float | None:
        names = ["callfocus_segments_processed_total"]
        total = sum(s.value for s in worker.samples(names) if s.labels.get("speaker") == "AGENT")
        return total if total == TEAMS else None

    eventually(processed, timeout=90, interval=1.0)
    status, body = worker.get("/metrics")
    assert status == 200
    peak = len(body)
    samples = worker.samples()
    active = {s.labels["team"]: s.value for s in samples if s.name == "callfocus_calls_active"}
    assert len(active) == CAP + 1 and active["other"] == TEAMS - CAP
    per_call = {s.labels["team"] for s in samples if s.name == "callfocus_call_customer_focus_score"}
    assert per_call == set(active)  # per-call series carry the same folded teams
    assert worker.value("callfocus_label_values_folded_total", label="team") == TEAMS - CAP
    assert worker.value("callfocus_label_values_exported", label="team") == CAP
    nudge_teams = {s.labels["team"] for s in samples if s.name == "callfocus_nudges_total"}
    assert nudge_teams == set(active)

    for n in range(TEAMS):
        send("CallEnded", {"call_id": f"call-{n}", "ended_at": 3000})
    producer.flush()
    producer.close()

    def small() -> int | None:
        status, body = worker.get("/metrics")
        return len(body) if status == 200 and len(body) < 100_000 else None

    # every call ended: per-call series go after 1 s, per-team ones 2 s later
    size = eventually(small, timeout=60, interval=1.0)
    assert worker.value("callfocus_label_values_exported", label="team") == 0
    teams = {s.labels["team"] for s in worker.samples() if s.name == "callfocus_nudges_total"}
    assert teams == {"other"}
    assert worker.value("callfocus_calls_ended_total", reason="event") == TEAMS
    # the 3000 agents' totals, committed, in one folded group of scorecard series
    eventually(lambda: worker.value("callfocus_scorecard_agents", state="folded") == TEAMS, timeout=30)
    assert (
        worker.value("callfocus_agent_calls_total", team="other", agent_id="other", partitions="0,1,2,3")
        == TEAMS
    )
    print(f"/metrics: {peak} bytes with {TEAMS} calls of {TEAMS} teams, {size} bytes after they ended")
