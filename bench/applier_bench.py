"""In-process cost of the batch applier and of the commits' state encoding, with and without scorecards.

    python bench/applier_bench.py [--calls 2000] [--minutes 5] [--repeats 3] [--mode plain|cells|both]

The bench's simulated calls, Avro-encoded, applied in batches of 500 records over 4
partitions (``BatchApplier.apply``, as the worker does with a fetch); every 40 batches a
commit takes every changed state (calls' and scorecard cells') and encodes it as JSON, as
``CommitProtocol`` does before its sends. No Kafka: what the scorecard table adds to the
worker's own CPU, apart from sending its records. Prints, per mode, the best of
``--repeats`` runs in µs per event and the records the commits wrote; with ``--mode`` of
one side it runs under ``valgrind --tool=callgrind`` for instruction counts (in a checkout
without scorecards, ``plain`` only).
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import UTC
from typing import Any, NamedTuple

import orjson
from prometheus_client import CollectorRegistry

from streams.engine import EngineConfig
from streams.tools.simulate import SimulationConfig, simulate
from streams.wire.codec import AvroCodec
from streams.wire.events import event_to_record
from streams.worker.batches import BatchApplier, OutputTiming, OutputTopics
from streams.worker.calls import CallProcessor, LiveCalls
from streams.worker.exporter import PipelineMetrics

PARTITIONS = 4
BATCH = 500
BATCHES_PER_COMMIT = 40
TOPICS = OutputTopics("b.call-events", "b.call-metrics", "b.call-summaries", "b.dlq", "b.nudges")


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def records(calls: int, minutes: float) -> list[Record]:
    codec = AvroCodec()
    offsets = [0] * PARTITIONS
    out = []
    for _, recording in simulate(SimulationConfig(calls=calls, concurrency=calls, minutes=minutes, seed=5)):
        key = recording.call_id.encode()
        partition = sum(key) % PARTITIONS
        for timed in recording.events:
            name, record = event_to_record(timed.event)
            out.append(
                Record(TOPICS.call_events, partition, offsets[partition], key, codec.encode(name, record))
            )
            offsets[partition] += 1
    return out


def run(inputs: list[Record], cells: bool) -> tuple[float, int]:
    """Seconds of CPU per event, and the records the commits wrote."""
    codec = AvroCodec()
    metrics = PipelineMetrics(CollectorRegistry())
    calls = LiveCalls(EngineConfig())
    processor = CallProcessor(codec, calls, metrics, nudge_rules=())
    timing = OutputTiming(1.0, 0.5, 1024 * 1024, False)
    extra: dict[str, Any] = {}
    scorecards = None
    if cells:
        from streams.worker.scorecard_cells import ScorecardCells

        scorecards = extra["scorecards"] = ScorecardCells(calls.unwritten, UTC)
    applier = BatchApplier(processor, codec, calls, metrics, TOPICS, timing, **extra)
    written = 0

    def commit() -> None:
        nonlocal written
        calls.unwritten.begin()
        taken = []
        while states := calls.unwritten.take(100):
            for _, data, _ in states:
                orjson.dumps(data)
            taken += states
        written += len(taken)
        if scorecards is not None:
            scorecards.committed_states(taken)

    gc.disable()
    began = time.process_time()
    for number, start in enumerate(range(0, len(inputs), BATCH), 1):
        applier.apply(inputs[start : start + BATCH])
        if number % BATCHES_PER_COMMIT == 0:
            commit()
    commit()
    used = time.process_time() - began
    gc.enable()
    return used / len(inputs), written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", choices=("plain", "cells", "both"), default="both")
    args = parser.parse_args()
    inputs = records(args.calls, args.minutes)
    modes = ("plain", "cells") if args.mode == "both" else (args.mode,)
    best: dict[str, tuple[float, int]] = {}
    for _ in range(args.repeats):
        for mode in modes:
            seconds, written = run(inputs, mode == "cells")
            if mode not in best or seconds < best[mode][0]:
                best[mode] = (seconds, written)
    print(f"{len(inputs):,} events of {args.calls} calls, best of {args.repeats}")
    print(f"{'mode':8} {'µs/event':>9} {'records written':>16}")
    for mode, (seconds, written) in best.items():
        print(f"{mode:8} {seconds * 1e6:>9.2f} {written:>16,}")


if __name__ == "__main__":
    main()
