"""Same-run before/after: the worker of two checkouts, and the naive Faust agent, on one topic.

    python bench/ab_bench.py --before DIR [--after DIR] [--repeats 5] [--calls 2000] [--minutes 5]
        [--before-setting NAME=VALUE ...] [--after-setting NAME=VALUE ...] [--json out.json]

A change on the per-segment path is judged by its ratio to the naive agent, and the
shared machines drift by tens of percent between runs: ``make bench`` before and after a
change, minutes apart, disagreed by more than the change. Here every run reads the same
pre-filled topic, and in each repeat the naive agent runs, then the two workers in turn
(the order swapped every repeat). Three after / before figures are printed: the ratio
of the medians; the median of each repeat's own ratio, whose two runs are seconds apart
and share the machine's state of the moment (the drift between repeats, which moved a
worker's runs from 34,000 to 50,000 segments/s in one session, cancels out); and the
ratio of the best runs, the least disturbed by other jobs.

Each DIR is a checkout with its own ``.venv`` (``make venv`` there): for the commit
before a change, ``git worktree add /tmp/before COMMIT && make -C /tmp/before venv``.
``--after`` defaults to this checkout. Uses CALLFOCUS_KAFKA_BOOTSTRAP, else starts the
project's local Kafka on free ports.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from load_bench import (
    ROOT,
    LocalKafka,
    Progress,
    described,
    encoded,
    free_port,
    live_calls,
    naive_agent,
    naive_count,
    processed,
    produce,
    scraped,
    wait_progress,
    worker_env,
    worker_setting,
)

from streams.settings import Settings
from streams.tools.topics import ensure_topics
from streams.wire.codec import AvroCodec

SIDES = ("before", "after")


def checkout(text: str) -> Path:
    path = Path(text).resolve()
    if not (path / ".venv" / "bin" / "python").exists() or not (path / "streams").is_dir():
        raise argparse.ArgumentTypeError(f"{text}: not a callfocus checkout with its .venv (make venv there)")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=checkout, required=True, help="Checkout of the version before.")
    parser.add_argument(
        "--after", type=checkout, default=ROOT, help="Checkout of the version after (this one)."
    )
    parser.add_argument("--repeats", type=int, default=5, help="Repeats of naive, before, after (medians).")
    parser.add_argument("--calls", type=int, default=2000, help="Concurrent live calls in the topic.")
    parser.add_argument("--minutes", type=float, default=5.0, help="Call length.")
    parser.add_argument("--partitions", type=int, default=4)
    for side in SIDES:
        parser.add_argument(
            f"--{side}-setting",
            action="append",
            default=[],
            type=worker_setting,
            metavar="NAME=VALUE",
            help=f"A setting of the {side} worker (repeatable), e.g. trackers_file=PATH.",
        )
    parser.add_argument("--json", dest="json_path", help="Write the runs and medians here.")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    gc.disable()  # the pre-built events: see load_bench.main

    tmp = Path(tempfile.mkdtemp(prefix="callfocus-ab-"))
    print(f"logs and data: {tmp}", flush=True)
    kafka = LocalKafka(tmp / "kafka")
    bootstrap = kafka.bootstrap
    processes: list[subprocess.Popen[bytes]] = []
    runs: dict[str, list[Progress]] = {"naive": [], "before": [], "after": []}
    try:
        prefix = f"ab{uuid.uuid4().hex[:6]}"
        settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, topic_partitions=args.partitions)
        ensure_topics(settings)
        topic = settings.topic("call-events")
        recordings = live_calls(args.calls, args.minutes, seed=1, prefix="bench")
        messages = encoded(recordings, AvroCodec())
        segments = sum(len(r.segments) for r in recordings)
        produce(settings.kafka, topic, messages)
        print(
            f"pre-filled {topic}: {len(messages)} events ({segments} segments) of {args.calls} calls",
            flush=True,
        )

        def naive_run(run: int) -> Progress:
            port = free_port()
            naive = naive_agent(
                bootstrap,
                topic,
                f"naive-{prefix}-{run}",
                port,
                args.partitions,
                tmp / f"naive-{run}",
                tmp / f"naive-{run}.log",
            )
            processes.append(naive)
            progress = wait_progress(lambda: naive_count(port), len(messages), 900, naive)
            naive.terminate()
            naive.wait(30)
            return progress

        def worker_run(side: str, run: int) -> Progress:
            port, name = free_port(), f"{side}-{run}"
            env = worker_env(
                bootstrap,
                prefix,
                f"cf-{prefix}-{name}",
                port,
                tmp / name,
                args.partitions,
                **dict(getattr(args, f"{side}_setting")),
            )
            home: Path = getattr(args, side)
            worker = subprocess.Popen(
                [str(home / ".venv" / "bin" / "python"), "-m", "streams.tools.cli", "worker"],
                cwd=home,
                env=env,
                stdout=(tmp / f"{name}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            processes.append(worker)
            with scraped(port):
                progress = wait_progress(lambda: processed(port), segments, 1800, worker)
            worker.terminate()
            worker.wait(30)
            return progress

        for run in range(args.repeats):
            runs["naive"].append(naive_run(run))
            print(f"naive, run {run}: {described(runs['naive'][-1])}", flush=True)
            for side in SIDES if run % 2 == 0 else reversed(SIDES):
                runs[side].append(worker_run(side, run))
                print(f"{side} ({getattr(args, side)}), run {run}: {described(runs[side][-1])}", flush=True)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        kafka.stop()

    median = {name: statistics.median(p.events_per_s for p in progress) for name, progress in runs.items()}
    cpu = {name: statistics.median(p.cpu_us_per_event for p in progress) for name, progress in runs.items()}
    print(f"\nmedians of {args.repeats} runs, {segments} segments")
    print(f"{'':8} {'events/s':>10} {'CPU µs/event':>13} {'/ naive':>8}")
    for name in runs:
        print(f"{name:8} {median[name]:>10,.0f} {cpu[name]:>13.1f} {median[name] / median['naive']:>7.1f}x")
    ratio = median["after"] / median["before"]
    paired = statistics.median(
        after.events_per_s / before.events_per_s
        for before, after in zip(runs["before"], runs["after"], strict=True)
    )
    best = max(p.events_per_s for p in runs["after"]) / max(p.events_per_s for p in runs["before"])
    print(
        f"after / before: {ratio:.3f} (medians), {paired:.3f} (median of each repeat's), "
        f"{best:.3f} (best runs)"
    )
    if args.json_path:
        result = {
            "segments": segments,
            "before": str(args.before),
            "after": str(args.after),
            "settings": {side: dict(getattr(args, f"{side}_setting")) for side in SIDES},
            "runs": {name: [vars(p) for p in progress] for name, progress in runs.items()},
            "median_events_per_s": median,
            "after_over_before": {"medians": ratio, "median_of_repeats": paired, "best_runs": best},
        }
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
