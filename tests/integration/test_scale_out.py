"""Two workers in one consumer group split the partitions; each live call is exported once."""

from __future__ import annotations

from collections.abc import Callable

from streams.settings import Settings
from streams.tools.replay import replay
from streams.tools.simulate import SimulationConfig, simulate
from streams.tools.sources import Recording
from tests.integration.worker import WorkerProcess, eventually


def exported_calls(worker: WorkerProcess) -> set[str]:
    return {
        s.labels["call_id"]
        for s in worker.samples()
        if s.name == "callfocus_call_agent_talk_ratio" and s.labels.get("window") == "call"
    }


def test_two_workers_split_calls_and_the_newcomer_restores_them_from_the_table(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str]
) -> None:
    settings = Settings(
        kafka_bootstrap=topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topic_prefix=topics["CALLFOCUS_TOPIC_PREFIX"]
    )
    recordings = [r for _, r in simulate(SimulationConfig(calls=16, concurrency=16, minutes=1, seed=21))]
    # live calls: everything but the CallEnded
    live = [Recording(r.call_id, r.events[:-1]) for r in recordings]
    everyone = {r.call_id for r in live}

    first = start_worker(session_timeout_seconds="10")
    replay(live, settings, speed=None)
    eventually(lambda: exported_calls(first) == everyone or None, timeout=60)

    second = start_worker(session_timeout_seconds="10")

    def active() -> float:
        return sum(
            s.value for w in (first, second) for s in w.samples() if s.name == "callfocus_calls_active"
        )

    def split() -> bool:
        a, b = exported_calls(first), exported_calls(second)
        print(len(a), len(b), len(a & b), len(a | b), active(), flush=True)
        return bool(a) and bool(b) and not (a & b) and (a | b) == everyone and active() == len(everyone)

    eventually(split, timeout=90)
    # the newcomer's calls come from the changelog-backed table: same values as the first worker had
    moved = exported_calls(second)
    for call_id in list(moved)[:3]:
        assert second.value("callfocus_call_agent_talk_ratio", call_id=call_id, window="call") is not None
