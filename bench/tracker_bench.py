"""Micro-benchmark of tracker matching: µs per segment with 20 trackers of 10 phrases.

    python bench/tracker_bench.py [--trackers bench/trackers-20x10.toml] [--segments 200000]

Segments are engine_bench.py's synthetic contact-center lines (as the engine's words), a
tenth of them with a tracked phrase in them. Prints µs per segment for the match, and for
the split into words that the engine does anyway and for a segment's whole apply
(engine_bench.py's calls, without trackers), for scale.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from engine_bench import AGENT_LINES, CUSTOMER_LINES, bench_updates, make_segments

from streams import native
from streams.engine import EngineConfig
from streams.engine.text import tokens
from streams.engine.trackers import AGENT, CUSTOMER, load_trackers

HIT_LINES = [
    "i want to speak to your manager right now",
    "we were double charged last month",
    "i'll send you the summary and the next steps",
]


def segments(count: int, seed: int) -> list[tuple[int, int, list[str]]]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        speaker = AGENT if n % 2 == 0 else CUSTOMER
        lines = AGENT_LINES if speaker == AGENT else CUSTOMER_LINES
        text = rng.choice(HIT_LINES) if rng.random() < 0.1 else rng.choice(lines)
        out.append((speaker, n * 3000, tokens(text)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trackers", type=Path, default=Path(__file__).parent / "trackers-20x10.toml")
    parser.add_argument("--segments", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="calls of 10 minutes for the apply timing")
    args = parser.parse_args()
    trackers = load_trackers(args.trackers)
    phrases = sum(len(t.words) for t in trackers.trackers)
    batch = segments(args.segments, seed=1)
    texts = [" ".join(words) for _, _, words in batch]
    match_runs, token_runs, hits = [], [], 0
    for _ in range(args.runs):
        began = time.perf_counter()
        found = [trackers.match(s, start, words, "sales", "billing") for s, start, words in batch]
        match_runs.append((time.perf_counter() - began) / len(batch) * 1e6)
        hits = sum(1 for f in found if f is not None)
        began = time.perf_counter()
        for text in texts:
            tokens(text)
        token_runs.append((time.perf_counter() - began) / len(batch) * 1e6)
    print(f"engine: {native.loaded_state()}; {len(trackers)} trackers, {phrases} phrases")
    print(f"segments: {len(batch)}, {hits / len(batch):.1%} with a hit")
    print(
        f"tracker match, {len(trackers)} x {phrases // max(1, len(trackers))} phrases: "
        f"{min(match_runs):.2f} µs/segment (median {statistics.median(match_runs):.2f})"
    )
    print(f"tokens() for scale: {min(token_runs):.2f} µs/segment")
    per_call = make_segments(args.calls, 10.0, seed=1)
    applies = []
    for _ in range(args.runs):
        updates, seconds = bench_updates(per_call, EngineConfig(), snapshot_every_ms=1000)
        applies.append(seconds / updates * 1e6)
    print(
        f"segment apply with a snapshot a second, for scale: {min(applies):.2f} µs/segment; "
        f"the match adds {min(match_runs) / min(applies):.1%}"
    )


if __name__ == "__main__":
    main()
