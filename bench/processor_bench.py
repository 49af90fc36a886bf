"""In-process cost of CallProcessor on simulated events: decode, checks, engine apply.

    python bench/processor_bench.py [--calls 400] [--minutes 3] [--repeats 5] [--redaction mask]

Prints the best of ``--repeats`` runs in µs per event, with Python's collector off while
timing (as in the worker). No Kafka, no nudge rules, no metrics reads: the per-event
part of the worker's path that input checks change. Then the cost of one ``CallMetrics``
snapshot of those calls at their end (the record built from metrics already computed,
and encoded, as the worker does once per call per snapshot interval) and its size.
"""

from __future__ import annotations

import argparse
import gc
import time

from prometheus_client import CollectorRegistry

from streams.engine import EngineConfig
from streams.privacy.redaction import MODES, Redactor
from streams.tools.simulate import SimulationConfig, simulate
from streams.wire.codec import AvroCodec
from streams.wire.events import event_to_record
from streams.worker.calls import CallProcessor, LiveCalls
from streams.worker.exporter import PipelineMetrics
from streams.worker.outputs import metrics_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--redaction",
        choices=MODES,
        default="mask",
        help="REDACTION_MODE of the processor (docs/privacy.md).",
    )
    args = parser.parse_args()
    codec = AvroCodec()
    records = []
    config = SimulationConfig(calls=args.calls, concurrency=args.calls, minutes=args.minutes, seed=3)
    for _, recording in simulate(config):
        for timed in recording.events:
            name, record = event_to_record(timed.event)
            records.append((recording.call_id.encode(), codec.encode(name, record)))
    best = float("inf")
    calls = LiveCalls(EngineConfig())
    for _ in range(args.repeats):
        calls = LiveCalls(EngineConfig())
        processor = CallProcessor(
            codec,
            calls,
            PipelineMetrics(CollectorRegistry()),
            nudge_rules=(),
            redactor=Redactor(args.redaction, b"bench key"),
        )
        gc.disable()
        began = time.perf_counter()
        for key, value in records:
            processor.process_record(key, value, 0)
        best = min(best, time.perf_counter() - began)
        gc.enable()
        gc.collect()
    print(
        f"{len(records)} events, redaction {args.redaction}, best of {args.repeats}: "
        f"{best * 1e6 / len(records):.2f} µs per event"
    )
    snapshot_seconds, size = snapshot_cost(codec, calls, args.repeats)
    print(
        f"CallMetrics snapshot of {len(calls)} calls, best of {args.repeats}: "
        f"{snapshot_seconds * 1e6:.2f} µs to build and encode, {size:.0f} bytes on average"
    )


def snapshot_cost(codec: AvroCodec, calls: LiveCalls, repeats: int) -> tuple[float, float]:
    """Seconds per snapshot (record built from cached metrics, Avro-encoded) and mean bytes."""
    live = list(calls)
    sizes = [len(codec.encode("CallMetrics", metrics_record(c, c.state.metrics(), 0))) for c in live]
    best = float("inf")
    for _ in range(repeats):
        gc.disable()
        began = time.perf_counter()
        for _ in range(10):
            for call in live:
                codec.encode("CallMetrics", metrics_record(call, call.state.metrics(), 0))
        best = min(best, (time.perf_counter() - began) / (10 * len(live)))
        gc.enable()
    return best, sum(sizes) / len(sizes)


if __name__ == "__main__":
    main()
