"""Sizing: what one worker costs per live call, and the deployment that follows from it.

    python bench/sizing.py [--calls 1000,3000,5000] [--warmup 15] [--window 20]
        [--segments-per-call-s RATE] [--json out.json]
    python bench/sizing.py --table bench/results/sizing-<stamp>.json

The first form measures, on the project's local Kafka (started on free ports, as
``make bench`` does), one worker as shipped (compiled engine, RocksDB, exactly-once, 8
partitions) under each count of ``--calls`` concurrent live calls. Each call sends
segments at the mean rate of the Harper Valley sample (CALLFOCUS_HARPER_VALLEY, else
../shared/data/harper-valley from the repository root; read in place), or at
``--segments-per-call-s``. Per run, over a
steady window after a warm-up: the worker's CPU (cores), its RSS, p99 of its
produced_at -> metrics-updated histogram, the series of one full /metrics scrape, and the
bytes the broker wrote per topic (the input, snapshots, nudges, the call-state
changelog); then the same window again with the console's reader running (a console
request starts it). One more run with ``per_call_series=false`` counts the series
without per-call series. In-process, the console's memory per call and per history
point (up to its 600). It writes the JSON and prints the sizing table.

The second form prints the table of a JSON written before. ``sizing_rows`` is the model
(pure): measured per-call costs in, one row per cluster size out; docs/sizing.md shows
its output and tests/unit/test_sizing.py checks that the two agree.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CLUSTER_CALLS = (500, 3_000, 10_000, 50_000)
# the call counts one worker runs under (the default of --calls); the rest is computed
MEASURED_CALLS = [1_000, 3_000, 5_000]

# -- headroom rules of the model ---------------------------------------------------------
# A worker is one Python event loop: it uses at most one core. It takes calls up to the
# count whose measured CPU (console reader included on a console-serving worker) reaches
# this share of that core, so a burst, a rebalance that hands it a failed worker's
# partitions, or a full garbage collection does not push the latency past the alerts.
CPU_TARGET_SHARE = 0.6
# Memory requests: the measured RSS times this factor (growth of a call's state over a
# long call, Python's allocator keeping freed pages, a rebalance's extra calls).
MEMORY_FACTOR = 1.5
# At least two workers: one can restart (upgrade, node drain) while the other serves.
MIN_WORKERS = 2
# Partitions: a power of two, at least the chart's default, and at least twice the
# workers, so the cluster can double its workers without new partitions (a partition
# count must not change under a running installation: keys would move).
MIN_PARTITIONS = 8
PARTITION_SCALE_OUT = 2
# Per-call series per worker stop at the worker's max_exported_calls (default).
MAX_EXPORTED_CALLS = 5_000
# One console-serving worker in each row (a console behind a load balancer is served by
# the workers it reaches; each one reads every snapshot of the cluster).
CONSOLE_WORKERS = 1
# The console keeps up to this many history points per call, one per snapshot, for at
# most console_history_seconds (default): a call longer than that holds the smaller of
# the two (the table assumes calls that long: the most a call can hold).
CONSOLE_HISTORY_POINTS = 600
CONSOLE_HISTORY_SECONDS = 900
# The compacted changelog keeps about one state per live call, plus a dirty head up to as
# large again before the cleaner runs (min.cleanable.dirty.ratio 0.5).
CHANGELOG_DIRTY_FACTOR = 2.0
MIB = 2**20


@dataclass(frozen=True)
class PerCallCosts:
    """What the model needs, derived from a sizing JSON (``per_call_costs``)."""

    segments_per_call_s: float
    cpu_base_cores: float
    cpu_cores_per_call: float
    console_cpu_base_cores: float
    console_cpu_cores_per_cluster_call: float
    rss_base_bytes: float
    rss_bytes_per_call: float
    console_bytes_per_cluster_call: float
    series_fixed: int
    series_per_call: float
    snapshots_per_call_s: float
    input_bytes_per_call_s: float
    output_bytes_per_call_s: float  # snapshots + nudges
    changelog_bytes_per_call_s: float
    console_read_bytes_per_cluster_call_s: float  # snapshots + nudges a console reader fetches
    state_record_bytes: float


@dataclass(frozen=True)
class SizingRow:
    calls: int
    workers: int
    partitions: int
    calls_per_worker: int
    console_fits: bool
    cpu_millicores: int
    console_cpu_millicores: int
    memory_mib: int
    console_memory_mib: int
    series_per_call_on: int
    series_per_call_off: int
    segments_per_s: float
    kafka_in_mib_s: float
    kafka_out_mib_s: float
    retention_gib_per_day: float
    changelog_mib: float


def fit_line(points: Mapping[int, float]) -> tuple[float, float]:
    """(intercept, slope) by least squares over ``calls -> value``. A negative intercept or
    slope (noise larger than the base or the growth) gives way to the line through 0 and
    the point with the most per call: no cost is taken as free."""
    xs, ys = list(points), list(points.values())
    if len(xs) == 1:
        return 0.0, ys[0] / xs[0]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    intercept = mean_y - slope * mean_x
    if intercept < 0 or slope < 0:
        return 0.0, max(y / x for x, y in points.items())
    return intercept, slope


def per_call_costs(result: Mapping[str, Any]) -> PerCallCosts:
    """The per-call costs of a sizing JSON: lines through its runs at each call count."""
    runs = [r for r in result["runs"] if r["per_call_series"]]
    cpu_base, cpu_slope = fit_line({r["calls"]: r["without_console"]["cpu_cores"] for r in runs})
    rss_base, rss_slope = fit_line({r["calls"]: r["without_console"]["rss_bytes"] for r in runs})
    console_base, console_slope = fit_line(
        {r["calls"]: r["with_console"]["cpu_cores"] - r["without_console"]["cpu_cores"] for r in runs}
    )
    off = next(r for r in result["runs"] if not r["per_call_series"])
    series_fixed = off["without_console"]["series"]
    series_per_call = max((r["without_console"]["series"] - series_fixed) / r["calls"] for r in runs)

    def per_call_s(topic: str) -> float:
        return max(r["without_console"]["topic_bytes_per_s"][topic] / r["calls"] for r in runs)

    snapshots_and_nudges = per_call_s("call-metrics") + per_call_s("nudges")
    snapshots_per_call_s = max(r["without_console"]["snapshots_per_s"] / r["calls"] for r in runs)
    # the console's reader, live: the RSS it added per call of the cluster (its consumer's
    # buffers included), with the few history points of the run; then every further point
    # up to what a long call holds, from the in-process measurement
    console_live = max(
        (r["with_console"]["rss_bytes"] - r["without_console"]["rss_bytes"]) / r["calls"] for r in runs
    )
    points = min(CONSOLE_HISTORY_POINTS, snapshots_per_call_s * CONSOLE_HISTORY_SECONDS)
    console_bytes = console_live + result["console_memory"]["bytes_per_point"] * points
    return PerCallCosts(
        segments_per_call_s=result["harper_valley"]["segments_per_call_s"],
        cpu_base_cores=cpu_base,
        cpu_cores_per_call=cpu_slope,
        console_cpu_base_cores=console_base,
        console_cpu_cores_per_cluster_call=console_slope,
        rss_base_bytes=rss_base,
        rss_bytes_per_call=rss_slope,
        console_bytes_per_cluster_call=console_bytes,
        series_fixed=series_fixed,
        series_per_call=series_per_call,
        snapshots_per_call_s=snapshots_per_call_s,
        input_bytes_per_call_s=per_call_s("call-events"),
        output_bytes_per_call_s=snapshots_and_nudges,
        changelog_bytes_per_call_s=per_call_s("changelog"),
        console_read_bytes_per_cluster_call_s=snapshots_and_nudges,
        state_record_bytes=result["state_record_bytes"],
    )


def calls_per_worker(costs: PerCallCosts) -> int:
    """The most calls a worker takes: its CPU under the target share of its core, and at
    most ``MAX_EXPORTED_CALLS`` so that every call has its series."""
    within_target = int((CPU_TARGET_SHARE - costs.cpu_base_cores) / costs.cpu_cores_per_call)
    return max(1, min(MAX_EXPORTED_CALLS, within_target))


def round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def sizing_row(costs: PerCallCosts, calls: int) -> SizingRow:
    """One cluster size: every worker sized like the console-serving one would be, so any
    of them can serve the console, and a row's workers hold at most ``calls_per_worker``."""
    workers = max(MIN_WORKERS, math.ceil(calls / calls_per_worker(costs)))
    per_worker = math.ceil(calls / workers)
    partitions = max(MIN_PARTITIONS, 2 ** math.ceil(math.log2(PARTITION_SCALE_OUT * workers)))
    cpu = costs.cpu_base_cores + costs.cpu_cores_per_call * per_worker
    console_cpu = cpu + costs.console_cpu_base_cores + costs.console_cpu_cores_per_cluster_call * calls
    memory = (costs.rss_base_bytes + costs.rss_bytes_per_call * per_worker) * MEMORY_FACTOR
    console_memory = memory + costs.console_bytes_per_cluster_call * calls * MEMORY_FACTOR
    exported = min(per_worker, MAX_EXPORTED_CALLS)
    series_on = workers * round(costs.series_fixed + costs.series_per_call * exported)
    series_off = workers * costs.series_fixed
    kafka_in = calls * (
        costs.input_bytes_per_call_s + costs.output_bytes_per_call_s + costs.changelog_bytes_per_call_s
    )
    kafka_out = calls * (
        costs.input_bytes_per_call_s + CONSOLE_WORKERS * costs.console_read_bytes_per_cluster_call_s
    )
    retained_per_day = calls * (costs.input_bytes_per_call_s + costs.output_bytes_per_call_s) * 86_400
    return SizingRow(
        calls=calls,
        workers=workers,
        partitions=partitions,
        calls_per_worker=per_worker,
        console_fits=console_cpu <= CPU_TARGET_SHARE,
        # requests in 100 m CPU and 64 MiB steps: what a manifest would say
        cpu_millicores=round_up(cpu * 1000, 100),
        console_cpu_millicores=round_up(console_cpu * 1000, 100),
        memory_mib=round_up(memory / MIB, 64),
        console_memory_mib=round_up(console_memory / MIB, 64),
        series_per_call_on=series_on,
        series_per_call_off=series_off,
        segments_per_s=calls * costs.segments_per_call_s,
        kafka_in_mib_s=kafka_in / MIB,
        kafka_out_mib_s=kafka_out / MIB,
        retention_gib_per_day=retained_per_day / 2**30,
        changelog_mib=calls * costs.state_record_bytes * CHANGELOG_DIRTY_FACTOR / MIB,
    )


def sizing_rows(costs: PerCallCosts, cluster_calls: Sequence[int] = CLUSTER_CALLS) -> list[SizingRow]:
    return [sizing_row(costs, calls) for calls in cluster_calls]


def _memory(mib: int) -> str:
    return f"{mib / 1024:.1f} Gi" if mib >= 1024 else f"{mib} Mi"


def _mib_s(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:,.0f}"


def markdown_table(rows: Sequence[SizingRow]) -> str:
    """The table docs/sizing.md shows, exactly."""
    lines = [
        "| concurrent calls | workers (calls each) | partitions | CPU request per worker"
        " (console-serving) | memory request per worker (console-serving) | Prometheus series,"
        " per-call on / off | segments/s | Kafka in / out (MiB/s) | topics' disk per day"
        " retained / changelog |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.calls:,} | {row.workers} ({row.calls_per_worker:,}) | {row.partitions} "
            f"| {row.cpu_millicores}m ({row.console_cpu_millicores}m{'' if row.console_fits else ' ‡'}) "
            f"| {_memory(row.memory_mib)} ({_memory(row.console_memory_mib)}) "
            f"| {row.series_per_call_on:,} / {row.series_per_call_off:,} "
            f"| {row.segments_per_s:,.0f} | {_mib_s(row.kafka_in_mib_s)} / {_mib_s(row.kafka_out_mib_s)} "
            f"| {row.retention_gib_per_day:,.1f} GiB / {row.changelog_mib:,.0f} MiB |"
        )
    return "\n".join(lines)


def quoted_figures(costs: PerCallCosts, result: Mapping[str, Any]) -> list[str]:
    """The measured figures as docs/sizing.md's text quotes them (checked by a test)."""
    return [
        f"{costs.segments_per_call_s:.3f} segments/s",
        f"{costs.cpu_base_cores * 1000:.0f}m",
        f"{costs.cpu_cores_per_call * 1e6:.0f}m per 1,000 calls",
        f"{costs.console_cpu_base_cores * 1000:.0f}m",
        f"{costs.console_cpu_cores_per_cluster_call * 1e6:.0f}m per 1,000 calls of the cluster",
        f"{costs.rss_base_bytes / MIB:.0f} MiB",
        f"{costs.rss_bytes_per_call / 1024:.1f} KiB per call",
        f"{costs.console_bytes_per_cluster_call / 1024:.0f} KiB per call of the cluster",
        f"{costs.series_fixed} series",
        f"{costs.input_bytes_per_call_s:.0f} B/s",
        f"{costs.input_bytes_per_call_s / costs.segments_per_call_s:.0f} bytes per segment",
        f"{costs.output_bytes_per_call_s:.0f} B/s",
        f"{costs.changelog_bytes_per_call_s:.0f} B/s",
        f"{costs.state_record_bytes:,.0f} bytes",
        f"{costs.snapshots_per_call_s:.2f} snapshots/s",
        f"p99 of at most {worst_p99(result) * 1000:.0f} ms",
    ]


def worst_p99(result: Mapping[str, Any]) -> float:
    """The highest p99 (seconds) of any measured window."""
    return max(
        run[window]["latency"].get("p99", 0.0)
        for run in result["runs"]
        for window in ("without_console", "with_console")
        if window in run
    )


def latest_result() -> Path:
    found = sorted(RESULTS.glob("sizing-*.json"))
    if not found:
        raise FileNotFoundError(f"no sizing-*.json in {RESULTS}: run bench/sizing.py")
    return found[-1]


# -- measurement ---------------------------------------------------------------------------


def harper_valley_rate(directory: Path) -> dict[str, float]:
    """Final segments per second of call, over the whole sample (total segments / total
    call time) and per call (the spread)."""
    from streams.tools.sources.harper_valley import read_harper_valley

    recordings = read_harper_valley(directory)
    per_call, segments, seconds = [], 0, 0.0
    for recording in recordings:
        spans = recording.segments
        length = (max(s.end_ms for s in spans) - min(s.start_ms for s in spans)) / 1000
        per_call.append(len(spans) / length)
        segments += len(spans)
        seconds += length
    per_call.sort()
    return {
        "calls": len(recordings),
        "segments": segments,
        "call_seconds": seconds,
        "segments_per_call_s": segments / seconds,
        "per_call_min": per_call[0],
        "per_call_max": per_call[-1],
    }


def topic_log_bytes(kafka_data: Path, topics: Mapping[str, str]) -> dict[str, int]:
    """Bytes of the broker's log segment files per topic (``name -> topic``): what it wrote."""
    sizes = dict.fromkeys(topics, 0)
    for name, topic in topics.items():
        for log in (kafka_data / "kraft").glob(f"{topic}-*/*.log"):
            if log.parent.name.rsplit("-", 1)[0] == topic:
                sizes[name] += log.stat().st_size
    return sizes


def console_memory(records: Sequence[Mapping[str, Any]], calls: int, points: int = 600) -> dict[str, float]:
    """Bytes a console's state holds per call with one history point, and per further
    point up to ``points`` (the cap), built from real snapshots renamed to ``calls``
    calls (tracemalloc, in-process)."""
    import tracemalloc

    from streams.console.state import ConsoleState

    state = ConsoleState(history_seconds=900.0)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    first = before
    for point in range(points):
        for i in range(calls):
            record = dict(records[(i + point) % len(records)])
            record["call_id"] = f"console-{i:06d}"
            record["media_time_ms"] = point * 1000 + 1
            record["emitted_at"] = 1_700_000_000_000 + point * 1000
            state.apply_metrics(record)
        if point == 0:
            first = tracemalloc.get_traced_memory()[0]
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {
        "calls": calls,
        "history_points": points,
        "bytes_per_call_one_point": (first - before) / calls,
        "bytes_per_point": (used - (first - before)) / calls / (points - 1),
        "bytes_per_call_full": used / calls,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The runs, on a private local broker; returns the JSON."""
    sys.path.insert(0, str(Path(__file__).parent))
    import confluent_kafka
    from load_bench import (
        LocalKafka,
        cpu_seconds,
        free_port,
        http_get,
        latency_quantiles,
        rss_bytes,
        worker_env,
        worker_samples,
    )

    from streams.settings import Settings
    from streams.tools.simulate import SimulationConfig, simulate
    from streams.tools.topics import ensure_topics
    from streams.wire.codec import AvroCodec
    from streams.wire.events import CallStarted, TranscriptSegment, event_to_record

    harper = Path(
        os.environ.get("CALLFOCUS_HARPER_VALLEY") or ROOT.parent / "shared" / "data" / "harper-valley"
    )
    rate = harper_valley_rate(harper)
    if args.segments_per_call_s:  # your own traffic's rate instead of the sample's
        rate["segments_per_call_s"] = args.segments_per_call_s
    print(f"Harper Valley: {rate['segments_per_call_s']:.3f} segments/s per call", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="callfocus-sizing-"))
    kafka_data = tmp / "kafka"
    kafka = LocalKafka(kafka_data, reuse=False)  # the bytes per topic are read from its log files
    bootstrap = kafka.bootstrap
    print(f"broker {bootstrap}, logs and data in {tmp}", flush=True)
    codec = AvroCodec()
    runs: list[dict[str, Any]] = []
    state_sizes: list[int] = []
    offsets = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "sizing-offsets"})
    metrics_records: list[dict[str, Any]] = []
    plan = [(n, True) for n in args.calls] + [(min(args.calls), False)]
    try:
        for number, (calls, per_call_series) in enumerate(plan):
            prefix = f"sizing{number}x{os.getpid()}"
            app_id = f"cf-{prefix}"
            settings = Settings(
                kafka_bootstrap=bootstrap, topic_prefix=prefix, topic_partitions=args.partitions
            )
            ensure_topics(settings)
            topics = {
                "call-events": settings.topic("call-events"),
                "call-metrics": settings.topic("call-metrics"),
                "nudges": settings.topic("nudges"),
                "call-summaries": settings.topic("call-summaries"),
                "changelog": f"{app_id}-call-state-changelog",
            }
            port = free_port()
            env = worker_env(
                bootstrap,
                prefix,
                app_id,
                port,
                tmp / prefix,
                args.partitions,
                CALLFOCUS_PER_CALL_SERIES=str(per_call_series).lower(),
            )
            worker = subprocess.Popen(
                [sys.executable, "-m", "streams.tools.cli", "worker"],
                env=env,
                stdout=(tmp / f"{prefix}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            try:
                wait_ready(port, worker, http_get)
                run = live_run(
                    calls=calls,
                    per_call_series=per_call_series,
                    segments_per_call_s=rate["segments_per_call_s"],
                    args=args,
                    bootstrap=bootstrap,
                    topics=topics,
                    kafka_data=kafka_data,
                    port=port,
                    worker=worker,
                    codec=codec,
                    producer_factory=lambda: confluent_kafka.Producer(
                        {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": 1}
                    ),
                    calls_of=lambda n, p: [
                        r
                        for _, r in simulate(SimulationConfig(calls=n, concurrency=n, minutes=4, id_prefix=p))
                    ],
                    kinds=(CallStarted, TranscriptSegment),
                    to_record=event_to_record,
                    helpers=(
                        cpu_seconds,
                        rss_bytes,
                        http_get,
                        latency_quantiles,
                        worker_samples,
                        lambda topic: end_offsets(offsets, topic, args.partitions),
                    ),
                )
                runs.append(run)
                if per_call_series and not state_sizes:
                    state_sizes = record_sizes(confluent_kafka, bootstrap, topics["changelog"], 2000)
                    metrics_records = [
                        codec.decode(value)[1]
                        for value in record_values(confluent_kafka, bootstrap, topics["call-metrics"], 200)
                    ]
            finally:
                worker.terminate()
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
    finally:
        offsets.close()
        kafka.stop()
    return {
        "command": " ".join(["python", "bench/sizing.py", *sys.argv[1:]]),
        "machine": {
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_before": args.load_before,
            "load_average_after": list(os.getloadavg()),
        },
        "partitions": args.partitions,
        "harper_valley": rate,
        "runs": runs,
        "state_record_bytes": sum(state_sizes) / max(1, len(state_sizes)),
        "console_memory": console_memory(metrics_records, args.console_calls),
    }


def wait_ready(port: int, worker: subprocess.Popen[bytes], http_get: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}")
        try:
            http_get(f"http://127.0.0.1:{port}/readyz")
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError("the worker was not ready in time")


def end_offsets(consumer: Any, topic: str, partitions: int) -> int:
    """The sum of the topic's end offsets: records written (and transaction markers)."""
    from confluent_kafka import TopicPartition

    return sum(
        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)
    )


def record_values(kafka: Any, bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"sizing-read-{topic}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(values) < count and time.monotonic() < deadline:
        for message in consumer.consume(500, 1.0):
            if message.error() is None and message.value() is not None:
                values.append(message.value())
    consumer.close()
    return values[:count]


def record_sizes(kafka: Any, bootstrap: str, topic: str, count: int) -> list[int]:
    return [len(value) for value in record_values(kafka, bootstrap, topic, count)]


def paced_events(recordings: Sequence[Any], kinds: tuple[type, type]) -> Iterator[Any]:
    """Every call's start, then its segments round-robin: each call gets the same rate."""
    started, segment = kinds
    yield from (t.event for r in recordings for t in r.events if isinstance(t.event, started))
    columns = [[t.event for t in r.events if isinstance(t.event, segment)] for r in recordings]
    for k in range(max(len(c) for c in columns)):
        yield from (c[k] for c in columns if k < len(c))


def live_run(
    *,
    calls: int,
    per_call_series: bool,
    segments_per_call_s: float,
    args: argparse.Namespace,
    bootstrap: str,
    topics: Mapping[str, str],
    kafka_data: Path,
    port: int,
    worker: subprocess.Popen[bytes],
    codec: Any,
    producer_factory: Any,
    calls_of: Any,
    kinds: tuple[type, type],
    to_record: Any,
    helpers: tuple[Any, ...],
) -> dict[str, Any]:
    """``calls`` live calls at ``segments_per_call_s`` each: a warm-up, a window without the
    console, a console request, a window with it."""
    cpu_seconds, rss_bytes, http_get, latency_quantiles, worker_samples, snapshots_written = helpers
    producer = producer_factory()
    recordings = calls_of(calls, f"c{calls}")
    events = paced_events(recordings, kinds)
    started_kind, segment_kind = kinds
    rate = calls * segments_per_call_s
    began = time.monotonic()
    sent = {"segments": 0, "skipped": 0}

    def send_until(deadline: float) -> None:
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            due = int((now - began) * rate) - sent["skipped"]
            if due - sent["segments"] > rate:
                # more than a second behind (the sender lost its core for a while): skip
                # what is overdue, so the windows measure the rate asked for, not a catch-up
                sent["skipped"] += due - sent["segments"] - int(rate)
                due = sent["segments"] + int(rate)
            while sent["segments"] < due:
                event = next(events)
                name, record = to_record(event)
                stamp = int(time.time() * 1000)
                if isinstance(event, segment_kind):
                    record["produced_at"] = stamp
                    sent["segments"] += 1
                elif isinstance(event, started_kind):
                    record["started_at"] = stamp
                producer.produce(
                    topics["call-events"], key=event.call_id.encode(), value=codec.encode(name, record)
                )
                producer.poll(0)
            producer.poll(0)
            time.sleep(0.005)

    # every call's start at once, then segments at the call's rate
    for _ in range(calls):
        event = next(events)
        name, record = to_record(event)
        record["started_at"] = int(time.time() * 1000)
        producer.produce(topics["call-events"], key=event.call_id.encode(), value=codec.encode(name, record))
        producer.poll(0)
    producer.flush(30)
    began = time.monotonic()
    send_until(began + args.warmup)

    def window(label: str, console: bool) -> dict[str, Any]:
        start_samples = worker_samples(port)
        start_bytes = topic_log_bytes(kafka_data, topics)
        start_snapshots = snapshots_written(topics["call-metrics"])
        start_cpu, start_time, start_sent = cpu_seconds(worker.pid), time.monotonic(), sent["segments"]
        end = start_time + args.window
        while time.monotonic() < end:
            send_until(min(end, time.monotonic() + 5))
            if console:  # keep the console in use, as an open page would
                http_get(f"http://127.0.0.1:{port}/api/calls?limit=50")
        elapsed = time.monotonic() - start_time
        cpu = (cpu_seconds(worker.pid) - start_cpu) / elapsed
        end_bytes = topic_log_bytes(kafka_data, topics)
        end_snapshots = snapshots_written(topics["call-metrics"])
        scrape = http_get(f"http://127.0.0.1:{port}/metrics").decode()
        series = sum(1 for line in scrape.splitlines() if line and not line.startswith("#"))
        end_samples = worker_samples(port)
        quantiles = latency_quantiles(start_samples, end_samples)

        def processed(samples: Mapping[tuple[str, Any], float]) -> float:
            return sum(v for (name, _), v in samples.items() if name == "callfocus_segments_processed_total")

        result = {
            "seconds": elapsed,
            "segments_sent_per_s": (sent["segments"] - start_sent) / elapsed,
            "segments_processed_per_s": (processed(end_samples) - processed(start_samples)) / elapsed,
            "cpu_cores": cpu,
            "rss_bytes": rss_bytes(worker.pid),
            "series": series,
            "metrics_bytes": len(scrape),
            "latency": quantiles,
            # offsets: records plus one transaction marker per partition and commit
            "snapshots_per_s": (end_snapshots - start_snapshots) / elapsed,
            "topic_bytes_per_s": {k: (end_bytes[k] - start_bytes[k]) / elapsed for k in topics},
            "load_average": list(os.getloadavg()),
        }
        print(
            f"{calls} calls ({label}, per-call series {'on' if per_call_series else 'off'}): "
            f"{result['segments_sent_per_s']:.0f} segments/s, {cpu:.3f} cores, "
            f"RSS {result['rss_bytes'] / MIB:.0f} MiB, p99 {quantiles.get('p99', 0) * 1000:.0f} ms, "
            f"{series:,} series",
            flush=True,
        )
        return result

    run: dict[str, Any] = {"calls": calls, "per_call_series": per_call_series, "target_segments_per_s": rate}
    run["without_console"] = window("no console", console=False)
    if per_call_series:
        # the first console request starts the reader and waits for it to catch up
        http_get(f"http://127.0.0.1:{port}/api/calls?limit=50")
        send_until(time.monotonic() + 5)
        run["with_console"] = window("console open", console=True)
    producer.flush(30)
    return run


def print_table(result: Mapping[str, Any]) -> None:
    costs = per_call_costs(result)
    print()
    for name, value in vars(costs).items():
        print(f"  {name:<40} {value:,.6g}")
    print()
    print(markdown_table(sizing_rows(costs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls",
        default=",".join(map(str, MEASURED_CALLS)),
        help="Concurrent live calls per run, comma-separated.",
    )
    parser.add_argument("--warmup", type=float, default=15.0, help="Seconds of traffic before measuring.")
    parser.add_argument("--window", type=float, default=20.0, help="Seconds of each measured window.")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument(
        "--segments-per-call-s",
        type=float,
        default=None,
        help="Final segments per second of one call (default: the Harper Valley sample's mean).",
    )
    parser.add_argument("--console-calls", type=int, default=2000, help="Calls of the console memory test.")
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--table", default=None, help="Print the table of this sizing JSON; measure nothing.")
    args = parser.parse_args()
    if args.table:
        import json

        print_table(json.loads(Path(args.table).read_text()))
        return
    import gc
    import json

    # the sender holds every pre-built event: Python's collections of them would take CPU
    # from the worker under test on the same cores (as in load_bench.py)
    gc.disable()
    args.calls = [int(n) for n in args.calls.split(",")]
    args.load_before = list(os.getloadavg())
    result = measure(args)
    path = Path(args.json_path or RESULTS / f"sizing-{time.strftime('%Y%m%d-%H%M%S')}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
