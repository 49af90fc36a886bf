"""Micro-benchmark of the pure metric engine (no Kafka): updates per second and bytes per call.

    python bench/engine_bench.py [--calls 2000] [--minutes 10] [--json out.json]

Prints a table. Segments are synthetic but shaped like contact-center speech: turns
of 1-4 segments, 2-25 words each, backchannels, questions, overlaps; texts drawn
from a fixed phrase list so the text analysis does real work. Then the time to apply
one segment of the longest text the event checks allow (20,000 characters).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from streams.engine import CallState, EngineConfig
from streams.engine.trackers import EMPTY, TrackerSet, load_trackers
from streams.wire.events import MAX_TEXT_CHARS, CallStarted, Speaker, TranscriptSegment

AGENT_LINES = [
    "thanks for calling how can i help you today",
    "can you walk me through what happened with the bill",
    "what does your team need to get done this quarter",
    "our premium plan includes the analytics dashboard and priority support",
    "i see so the sync runs every night and the usage doubled",
    "which account would you like to check",
    "we can offer a discount if you upgrade this month",
    "how is that affecting your business right now",
    "let me check that for you one second",
    "is there anything else i can help you with today",
]
CUSTOMER_LINES = [
    "yeah",
    "mhm",
    "we got a bill that is almost double what we usually pay",
    "our finance lead flagged it when she closed the month",
    "honestly i am frustrated this keeps happening",
    "the nightly sync pushes orders into the warehouse system",
    "okay",
    "that sounds great thank you",
    "we are a small shop so it hits our budget hard",
    "right",
]


def synthetic_call(call_id: str, minutes: float, rng: random.Random) -> Iterator[TranscriptSegment]:
    now, n = 0, 0
    speaker = Speaker.AGENT
    while now < minutes * 60_000:
        for _ in range(rng.randint(1, 3)):
            text = rng.choice(AGENT_LINES if speaker is Speaker.AGENT else CUSTOMER_LINES)
            duration = 250 + 330 * len(text.split())
            start = max(0, now + rng.randint(-400, 900))
            n += 1
            yield TranscriptSegment(call_id, f"s{n}", speaker, start, start + duration, text, produced_at=1)
            now = start + duration
        speaker = Speaker.CUSTOMER if speaker is Speaker.AGENT else Speaker.AGENT


def make_segments(calls: int, minutes: float, seed: int) -> list[list[TranscriptSegment]]:
    rng = random.Random(seed)
    return [list(synthetic_call(f"call-{i}", minutes, rng)) for i in range(calls)]


def bench_updates(
    per_call: list[list[TranscriptSegment]],
    config: EngineConfig,
    snapshot_every_ms: int | None,
    trackers: TrackerSet = EMPTY,
) -> tuple[int, float]:
    """Interleave calls round-robin (as a worker sees them); return (updates, seconds)."""
    states = [CallState(segs[0].call_id, config) for segs in per_call]
    for state in states:
        state.start(CallStarted(state.call_id, 0, seller_org="Contoso"))
    longest = max(len(s) for s in per_call)
    next_snapshot = [0] * len(states)
    updates = 0
    gc.collect()
    began = time.perf_counter()
    for i in range(longest):
        for c, segs in enumerate(per_call):
            if i < len(segs):
                state = states[c]
                state.apply(segs[i], trackers)
                updates += 1
                if snapshot_every_ms is not None and state.now_ms >= next_snapshot[c]:
                    state.metrics()
                    next_snapshot[c] = state.now_ms + snapshot_every_ms
    return updates, time.perf_counter() - began


def bytes_per_call(per_call: list[list[TranscriptSegment]], config: EngineConfig) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    states = []
    for segs in per_call:
        state = CallState(segs[0].call_id, config)
        state.start(CallStarted(state.call_id, 0, seller_org="Contoso"))
        for seg in segs:
            state.apply(seg)
        states.append(state)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(states)


LONG_TEXTS = {
    "agent lines": " ".join(AGENT_LINES),
    "punctuation": "what? how! ok. yes; no, fine. ",
}


def long_segment_seconds(config: EngineConfig, unit: str, runs: int = 50) -> tuple[float, float]:
    """Least and median time to apply one segment of MAX_TEXT_CHARS characters (``unit``
    repeated) to a started call: the cost per segment is bounded (docs/metrics.md, "Bounds")."""
    text = (unit * (MAX_TEXT_CHARS // len(unit) + 1))[:MAX_TEXT_CHARS]
    times = []
    for n in range(runs):
        state = CallState(f"long-{n}", config)
        state.start(CallStarted(state.call_id, 0, seller_org="Contoso"))
        segment = TranscriptSegment(state.call_id, "s1", Speaker.AGENT, 0, 60_000, text, produced_at=1)
        began = time.perf_counter()
        state.apply(segment)
        times.append(time.perf_counter() - began)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--trackers", type=Path, help="A trackers file to match every segment against.")
    parser.add_argument(
        "--repeat", type=int, default=1, help="Runs of each mode; the fastest is shown (noisy machines)."
    )
    args = parser.parse_args()
    config = EngineConfig()
    trackers = load_trackers(args.trackers) if args.trackers else EMPTY
    per_call = make_segments(args.calls, args.minutes, args.seed)
    rows = []
    for label, every in [
        ("apply only", None),
        ("apply + metrics every 1 s media", 1000),
        ("apply + metrics every segment", 0),
    ]:
        runs = [bench_updates(per_call, config, every, trackers) for _ in range(max(1, args.repeat))]
        updates, seconds = min(runs, key=lambda run: run[1])
        rows.append((label, updates, seconds, updates / seconds))
    memory = bytes_per_call(per_call[: min(500, len(per_call))], config)
    print(f"engine benchmark: {args.calls} calls x {args.minutes:g} min media, one core, CPython")
    if trackers.trackers:
        phrases = sum(len(t.phrases) for t in trackers.trackers)
        print(f"trackers matched: {len(trackers)} ({phrases} phrases, {args.trackers})")
    print(f"{'mode':<34} {'updates':>9} {'seconds':>8} {'updates/s':>10}")
    for label, updates, seconds, rate in rows:
        print(f"{label:<34} {updates:>9} {seconds:>8.2f} {rate:>10.0f}")
    print(f"bytes per active call (tracemalloc, state after {args.minutes:g} min): {memory:,.0f}")
    long_rows = [(name, *long_segment_seconds(config, unit)) for name, unit in LONG_TEXTS.items()]
    for name, least, median in long_rows:
        print(
            f"{MAX_TEXT_CHARS:,}-character segment ({name}): "
            f"{least * 1e6:,.0f} µs least, {median * 1e6:,.0f} µs median"
        )
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(
                {
                    "rows": [
                        dict(zip(("mode", "updates", "seconds", "updates_per_second"), r, strict=True))
                        for r in rows
                    ],
                    "bytes_per_call": memory,
                    "long_segment_seconds": {
                        name: {"least": least, "median": median} for name, least, median in long_rows
                    },
                },
                out,
                indent=2,
            )


if __name__ == "__main__":
    main()
