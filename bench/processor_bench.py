"""In-process cost of CallProcessor on simulated events: decode, checks, engine apply.

    python bench/processor_bench.py [--calls 400] [--minutes 3] [--repeats 5]

Prints the best of ``--repeats`` runs in µs per event, with Python's collector off while
timing (as in the worker). No Kafka, no nudge rules, no metrics reads: the per-event
part of the worker's path that input checks change.
"""

from __future__ import annotations

import argparse
import gc
import time

from prometheus_client import CollectorRegistry

from streams.calls import CallProcessor, LiveCalls
from streams.codec import AvroCodec
from streams.engine import EngineConfig
from streams.events import event_to_record
from streams.exporter import PipelineMetrics
from streams.simulate import SimulationConfig, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    codec = AvroCodec()
    records = []
    config = SimulationConfig(calls=args.calls, concurrency=args.calls, minutes=args.minutes, seed=3)
    for _, recording in simulate(config):
        for timed in recording.events:
            name, record = event_to_record(timed.event)
            records.append((recording.call_id.encode(), codec.encode(name, record)))
    best = float("inf")
    for _ in range(args.repeats):
        processor = CallProcessor(
            codec, LiveCalls(EngineConfig()), PipelineMetrics(CollectorRegistry()), nudge_rules=()
        )
        gc.disable()
        began = time.perf_counter()
        for key, value in records:
            processor.process_record(key, value, 0)
        best = min(best, time.perf_counter() - began)
        gc.enable()
        gc.collect()
    print(f"{len(records)} events, best of {args.repeats}: {best * 1e6 / len(records):.2f} µs per event")


if __name__ == "__main__":
    main()
