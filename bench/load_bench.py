"""Load benchmark on a real broker: callfocus worker vs. raw consumer vs. naive Faust agent.

    python bench/load_bench.py [--calls 2000] [--minutes 5] [--repeats 3]
        [--rates 200,500,1000,2000,3000,5000] [--worker-setting NAME=VALUE ...] [--json out.json]

Uses CALLFOCUS_KAFKA_BOOTSTRAP, else starts the project's local Kafka on free ports.
Every consumer reads the same pre-filled topic, in one run, so the ratios are
comparable on a shared, noisy machine: the raw consumer once, then ``--repeats`` times in
turn the naive agent, the worker on Faust's per-event stream
(``CALLFOCUS_INPUT_BATCHES=false``, what the fetched batches replace) and the worker as
shipped; medians are reported. Then, on live traffic (new calls, stamped at send),
the worker's own latency histogram gives produced_at -> metrics-updated percentiles
at each of ``--rates`` segments/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from streams.kafka_clients import KafkaUnavailableError, kafka_python_options, require_broker
from streams.settings import KafkaConnection, Settings
from streams.tools.replay import schedule
from streams.tools.simulate import SimulationConfig, simulate
from streams.tools.sources import Recording
from streams.tools.topics import ensure_topics
from streams.wire.codec import AvroCodec
from streams.wire.events import CallStarted, TranscriptSegment, event_to_record

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalKafka:
    """The broker a bench runs on: ``CALLFOCUS_KAFKA_BOOTSTRAP`` when set and ``reuse`` is
    true, else the project's local Kafka, started on free ports with its data in ``data``
    and stopped by :meth:`stop`."""

    def __init__(self, data: Path, reuse: bool = True) -> None:
        self.env = {
            **os.environ,
            "CALLFOCUS_LOCAL_KAFKA_PORT": str(free_port()),
            "CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
            "CALLFOCUS_LOCAL_KAFKA_DATA": str(data),
            "PYTHON": sys.executable,
        }
        given = os.environ.get("CALLFOCUS_KAFKA_BOOTSTRAP") if reuse else None
        self.own = not given
        if given:
            self.bootstrap = given
        else:
            started = subprocess.run(
                [str(KAFKA_SH), "start"], env=self.env, capture_output=True, text=True, check=True
            )
            self.bootstrap = started.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        if self.own:
            subprocess.run([str(KAFKA_SH), "stop"], env=self.env, capture_output=True)


def naive_agent(
    bootstrap: str, topic: str, app_id: str, port: int, partitions: int, data: Path, log: Path
) -> subprocess.Popen[bytes]:
    """The naive Faust agent (bench/naive_faust_app.py) reading ``topic``; its count of
    events read is served on ``port`` (:func:`naive_count`)."""
    env = {
        **os.environ,
        "NAIVE_BOOTSTRAP": bootstrap,
        "NAIVE_TOPIC": topic,
        "NAIVE_APP_ID": app_id,
        "NAIVE_PORT": str(port),
        "NAIVE_PARTITIONS": str(partitions),
        "NAIVE_DATADIR": str(data),
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "naive_faust_app.py"), "worker", "-l", "warn"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def worker_env(
    bootstrap: str, prefix: str, app_id: str, port: int, data: Path, partitions: int, **settings: str
) -> dict[str, str]:
    """The environment of a worker under test: this one without its CALLFOCUS_ variables,
    then durable state, exactly-once, quiet logs and ``settings`` (``CALLFOCUS_*=value``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLFOCUS_")}
    env.update(
        CALLFOCUS_KAFKA_BOOTSTRAP=bootstrap,
        CALLFOCUS_TOPIC_PREFIX=prefix,
        CALLFOCUS_APP_ID=app_id,
        CALLFOCUS_WEB_PORT=str(port),
        CALLFOCUS_DATA_DIR=str(data),
        CALLFOCUS_STORE="rocksdb",
        CALLFOCUS_PROCESSING_GUARANTEE="exactly_once",
        CALLFOCUS_LOG_LEVEL="warning",
        CALLFOCUS_TOPIC_PARTITIONS=str(partitions),
    )
    env.update(settings)
    return env


def naive_count(port: int) -> int:
    return int(json.loads(http_get(f"http://127.0.0.1:{port}/count"))["events"])


def live_calls(calls: int, minutes: float, seed: int, prefix: str) -> list[Recording]:
    """Simulated calls without their CallEnded: they stay active in the worker."""
    config = SimulationConfig(calls=calls, concurrency=calls, minutes=minutes, seed=seed, id_prefix=prefix)
    return [Recording(r.call_id, r.events[:-1]) for _, r in simulate(config)]


def encoded(recordings: list[Recording], codec: AvroCodec) -> list[tuple[bytes, bytes]]:
    return [
        (event.call_id.encode(), codec.encode(*event_to_record(event))) for _, event in schedule(recordings)
    ]


def produce(kafka: KafkaConnection, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    """Send ``messages`` (key, value) to ``topic`` with callfocus' connection settings (SASL,
    TLS); the seconds it took. :class:`KafkaUnavailableError` at once if Kafka cannot be used."""
    require_broker(kafka)
    producer = KafkaProducer(**kafka_python_options(kafka), linger_ms=20, batch_size=512 * 1024, acks=1)
    began = time.monotonic()
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    return time.monotonic() - began


async def raw_consume(bootstrap: str, topic: str, expected: int, codec: AvroCodec) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
    )
    await consumer.start()
    try:
        count, began = 0, None
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                if began is None:
                    began = time.monotonic()
                for message in messages:
                    codec.decode(message.value)
                count += len(messages)
        return expected / (time.monotonic() - (began or time.monotonic()))
    finally:
        await consumer.stop()


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


POLL_SECONDS = 2.0  # progress polls: the processed counters only (``processed``)
STARTING_POLL_SECONDS = 0.25  # until a run's first progress
FINAL_POLL_SECONDS = 0.05  # as a run nears its end: its end time to within this
# the worker under test is also scraped in full this often, as a Prometheus would be
# (three times as often as the common 15 s)
SCRAPE_SECONDS = 5.0


@dataclass(frozen=True)
class Progress:
    """A throughput run: the rate, and what the process under test spent on it."""

    events_per_s: float
    # CPU time (user + system, all threads) per event, and CPU time per wall second, both
    # between the first poll that saw progress and the last poll before the end
    cpu_us_per_event: float
    cpu_share: float


def described(progress: Progress) -> str:
    return (
        f"{progress.events_per_s:,.0f}/s, {progress.cpu_us_per_event:.1f} µs CPU per event, "
        f"{progress.cpu_share:.2f} of a core"
    )


def joined(runs: Sequence[Progress], field: str, form: str) -> str:
    return " / ".join(form.format(getattr(run, field)) for run in runs)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def polls(
    read: Callable[[], int],
    expected: int,
    timeout: float,
    process: subprocess.Popen[bytes],
    wait: Callable[[int], float] = lambda done: POLL_SECONDS,
) -> Iterator[int]:
    """``read()`` (0 while it cannot be read), then sleep ``wait(done)`` seconds, until the
    caller stops; raises if ``process`` exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            done = read()
        except OSError:
            done = 0
        yield done
        time.sleep(wait(done))
    raise TimeoutError(f"only {done} of {expected} processed in {timeout:.0f} s")


def wait_progress(
    read: Callable[[], int], expected: int, timeout: float, process: subprocess.Popen[bytes]
) -> Progress:
    """Poll ``read()`` until it reaches ``expected``; the rate from the first poll that saw
    progress to the moment the count crossed ``expected``.

    A poll that finds the run over says only that it ended since the poll before, so the
    polls close in as the end nears: every ``POLL_SECONDS`` while far off, then at half the
    time the rate so far says is left, down to ``FINAL_POLL_SECONDS``. With fixed 2 s polls
    a worker's run of about 3 s was timed up to 2 s long (36,090 instead of 50,683
    segments/s). The count read at each poll is exact, so the start needs no such care."""
    first: tuple[float, int, float] | None = None
    previous: tuple[float, int, float] | None = None

    def wait(done: int) -> float:
        if first is None or previous is None or done <= first[1]:
            return STARTING_POLL_SECONDS if first is None else FINAL_POLL_SECONDS
        rate = (done - first[1]) / max(1e-9, previous[0] - first[0])
        left = (expected - done) / rate
        return min(POLL_SECONDS, max(FINAL_POLL_SECONDS, left / 2))

    for done in polls(read, expected, timeout, process, wait):
        now, cpu = time.monotonic(), cpu_seconds(process.pid)
        if done and first is None:
            first = (now, done, cpu)
        if done >= expected:
            if first is None or previous is None or first[1] >= expected:
                raise RuntimeError("the workload ended before two polls saw it: make it larger")
            t_prev, n_prev, cpu_prev = previous
            crossed = t_prev + (expected - n_prev) / (done - n_prev) * (now - t_prev)
            cpu_used = cpu_prev - first[2]
            return Progress(
                events_per_s=(expected - first[1]) / (crossed - first[0]),
                cpu_us_per_event=cpu_used / max(1, n_prev - first[1]) * 1e6,
                cpu_share=cpu_used / max(1e-9, t_prev - first[0]),
            )
        if first is not None:
            previous = (now, done, cpu)
    raise AssertionError("polls() ends only by raising")


def wait_count(
    read: Callable[[], int], expected: int, timeout: float, process: subprocess.Popen[bytes]
) -> None:
    """Poll ``read()`` until it reaches ``expected``, with no rate: for a workload that
    may end before a second poll (the extra calls of the /metrics rows)."""
    for done in polls(read, expected, timeout, process):
        if done >= expected:
            return


def worker_samples(
    port: int, names: Sequence[str] = ()
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The worker's samples: all, or those of ``names`` only (``?name[]=``)."""
    query = urllib.parse.urlencode([("name[]", name) for name in names])
    text = http_get(f"http://127.0.0.1:{port}/metrics" + (f"?{query}" if query else "")).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


PROCESSED = ("callfocus_segments_processed_total", "callfocus_invalid_events_total")


@contextlib.contextmanager
def scraped(port: int, interval: float = SCRAPE_SECONDS) -> Iterator[None]:
    """Full scrapes of the worker's /metrics every ``interval`` seconds while in the block."""
    done = threading.Event()

    def scrape() -> None:
        while not done.wait(interval):
            with contextlib.suppress(OSError):
                http_get(f"http://127.0.0.1:{port}/metrics")

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    try:
        yield
    finally:
        done.set()
        scraper.join()


def processed(port: int) -> int:
    # only these two counters: a full scrape with every call's series, every poll, would
    # cost the worker several times what a real Prometheus' scrape interval does
    return int(sum(v for (name, _), v in worker_samples(port, PROCESSED).items() if name in PROCESSED))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def latency_quantiles(before: dict, after: dict) -> dict[str, float]:
    buckets = sorted(
        (float(dict(labels)["le"]), after[(name, labels)] - before.get((name, labels), 0.0))
        for (name, labels) in after
        if name == "callfocus_processing_latency_seconds_bucket"
    )
    total = buckets[-1][1]
    result = {}
    for q in (0.5, 0.95, 0.99):
        rank, previous_le, previous_count = q * total, 0.0, 0.0
        for le, count in buckets:
            if count >= rank:
                if le == float("inf"):
                    result[f"p{int(q * 100)}"] = previous_le
                else:
                    share = (rank - previous_count) / max(count - previous_count, 1e-9)
                    result[f"p{int(q * 100)}"] = previous_le + share * (le - previous_le)
                break
            previous_le, previous_count = le, count
    result["observations"] = total
    return result


def librdkafka_options(kafka: KafkaConnection) -> dict[str, str]:
    """confluent-kafka's (librdkafka's) names for callfocus' connection settings."""
    options = {"bootstrap.servers": kafka.bootstrap, "security.protocol": kafka.security_protocol}
    if kafka.uses_sasl:
        options["sasl.mechanisms"] = kafka.sasl_mechanism
        options["sasl.username"] = kafka.sasl_username or ""
        options["sasl.password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    if kafka.uses_tls and kafka.ssl_cafile is not None:
        options["ssl.ca.location"] = str(kafka.ssl_cafile)
    return options


def live_latency(
    kafka: KafkaConnection,
    topic: str,
    codec: AvroCodec,
    port: int,
    rate: int,
    seconds: float,
    repeat: int = 0,
) -> dict[str, float]:
    """Send new calls at ``rate`` segments/s for ``seconds``; percentiles of the worker's
    produced_at -> metrics-updated histogram over that run (the histogram tops at 10 s).
    ``repeat``: how many runs at this rate came before, whose calls these must not reuse.

    The sender is librdkafka's (confluent-kafka): kafka-python's pure-Python producer took
    56 % of a core at 5,000 records/s, on a 2-core machine that the broker and the worker
    under test share.
    """
    before = worker_samples(port)
    producer = confluent_kafka.Producer(
        {**librdkafka_options(kafka), "linger.ms": 2, "acks": 1, "partitioner": "murmur2_random"}
    )
    prefix = f"lat{rate}" if repeat == 0 else f"lat{rate}r{repeat}"
    calls = live_calls(max(1, rate // 2), 3.0, seed=rate + repeat, prefix=prefix)
    stream = [(event, *event_to_record(event)) for _, event in schedule(calls)]
    began, sent = time.monotonic(), 0
    while time.monotonic() - began < seconds and sent < len(stream):
        due = int((time.monotonic() - began) * rate)
        while sent < min(due, len(stream)):
            event, name, record = stream[sent]
            now_ms = int(time.time() * 1000)
            if isinstance(event, TranscriptSegment):
                record["produced_at"] = now_ms
            elif isinstance(event, CallStarted):
                record["started_at"] = now_ms
            producer.produce(topic, key=event.call_id.encode(), value=codec.encode(name, record))
            sent += 1
        producer.poll(0)
        time.sleep(0.001)
    producer.flush(30)
    achieved = sent / (time.monotonic() - began)
    time.sleep(3)
    quantiles = latency_quantiles(before, worker_samples(port))
    print(f"live {rate}/s: p99 {quantiles.get('p99', 0) * 1000:.0f} ms", flush=True)
    return {"target_segments_per_s": rate, "achieved_events_per_s": achieved, **quantiles}


def worker_setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or name not in Settings.model_fields:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE with NAME a callfocus setting")
    return f"CALLFOCUS_{name.upper()}", value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--calls", type=int, default=2000, help="Concurrent live calls in the throughput run."
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=5.0,
        help="Call length in the throughput run: enough events for the worker to run many polls.",
    )
    parser.add_argument(
        "--total-calls", type=int, default=5000, help="Active calls for the /metrics render test."
    )
    parser.add_argument(
        "--rates",
        default="200,500,1000,2000,3000,5000",
        help="Segments/s of the live latency runs, comma-separated (one run each; a rate may repeat).",
    )
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument(
        "--repeats", type=int, default=3, help="Alternating naive/worker throughput runs (medians reported)."
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--worker-setting",
        action="append",
        default=[],
        type=worker_setting,
        metavar="NAME=VALUE",
        help="A setting of every worker run, e.g. fetch_max_records=1000 (repeatable): to "
        "measure a setting against its default in two runs.",
    )
    parser.add_argument(
        "--json", dest="json_path", default=str(ROOT / "bench" / "results" / "load_bench.json")
    )
    args = parser.parse_args()
    # stopped by a signal, the bench still stops its workers and its broker (below): left
    # running, an orphaned naive agent took two thirds of a core from the next runs
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # the bench holds the pre-built events and calls, about a million objects: Python's
    # full collections of them took 130-490 ms of this process's CPU every second or so
    # in the live runs, on the cores the worker under test shares, and stalled the sender
    gc.disable()

    tmp = Path(tempfile.mkdtemp(prefix="callfocus-bench-"))
    print(f"logs and data: {tmp}", flush=True)
    if args.worker_setting:
        print(f"worker settings: {dict(args.worker_setting)}", flush=True)
    kafka = LocalKafka(tmp / "kafka")
    bootstrap = kafka.bootstrap
    processes: list[subprocess.Popen[bytes]] = []
    try:
        codec = AvroCodec()
        prefix = f"bench{uuid.uuid4().hex[:6]}"
        settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, topic_partitions=args.partitions)
        require_broker(settings.kafka)
        ensure_topics(settings)
        topic = settings.topic("call-events")
        recordings = live_calls(args.calls, args.minutes, seed=1, prefix="bench")
        messages = encoded(recordings, codec)
        segments = sum(len(r.segments) for r in recordings)
        produce_seconds = produce(settings.kafka, topic, messages)
        print(
            f"pre-filled {topic}: {len(messages)} events ({segments} segments) of {args.calls} calls "
            f"in {produce_seconds:.1f} s",
            flush=True,
        )

        raw_rate = asyncio.run(raw_consume(bootstrap, topic, len(messages), codec))
        print(f"raw aiokafka consume+decode: {raw_rate:,.0f} events/s", flush=True)

        def naive_run(run: int) -> Progress:
            naive_port = free_port()
            naive = naive_agent(
                bootstrap,
                topic,
                f"naive-{prefix}-{run}",
                naive_port,
                args.partitions,
                tmp / f"naive-{run}",
                tmp / f"naive-{run}.log",
            )
            processes.append(naive)
            progress = wait_progress(lambda: naive_count(naive_port), len(messages), 900, naive)
            naive.terminate()
            naive.wait(30)
            print(f"naive Faust agent (table update per event), run {run}: {described(progress)}", flush=True)
            return progress

        def worker_run(run: int, stream: bool = False) -> tuple[subprocess.Popen[bytes], int, Progress]:
            port = free_port()
            name = f"worker-stream-{run}" if stream else f"worker-{run}"
            env = worker_env(
                bootstrap,
                prefix,
                f"cf-{prefix}-{name}",
                port,
                tmp / name,
                args.partitions,
                CALLFOCUS_INPUT_BATCHES=str(not stream).lower(),
                **dict(args.worker_setting),
            )
            worker = subprocess.Popen(
                [sys.executable, "-m", "streams.tools.cli", "worker"],
                env=env,
                stdout=(tmp / f"{name}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            processes.append(worker)
            with scraped(port):
                progress = wait_progress(lambda: processed(port), segments, 1800, worker)
            path = "Faust's event stream" if stream else "fetched batches"
            print(
                f"callfocus worker (all metrics, durable state, exactly-once, {path}), run {run}: "
                f"{described(progress)}",
                flush=True,
            )
            return worker, port, progress

        # alternating runs on the same topic; the medians go in the table (a shared,
        # noisy machine moved single runs by a third)
        naive_runs: list[Progress] = []
        pipeline_runs: list[Progress] = []
        stream_runs: list[Progress] = []
        for run in range(1, args.repeats + 1):
            naive_runs.append(naive_run(run))
            stream_worker, _, progress = worker_run(run, stream=True)
            stream_runs.append(progress)
            stream_worker.terminate()
            stream_worker.wait(30)
            worker, port, progress = worker_run(run)
            pipeline_runs.append(progress)
            if run < args.repeats:
                worker.terminate()
                worker.wait(30)
        naive_rates = [p.events_per_s for p in naive_runs]
        pipeline_rates = [p.events_per_s for p in pipeline_runs]
        stream_rates = [p.events_per_s for p in stream_runs]
        naive_rate = statistics.median(naive_rates)
        pipeline_rate = statistics.median(pipeline_rates)
        stream_rate = statistics.median(stream_rates)

        def render_seconds() -> float:
            began = time.monotonic()
            http_get(f"http://127.0.0.1:{port}/metrics")
            return time.monotonic() - began

        rss_at = {args.calls: rss_bytes(worker.pid)}
        render_at = {args.calls: min(render_seconds() for _ in range(5))}
        extra = args.total_calls - args.calls
        if extra > 0:
            more = live_calls(extra, 0.5, seed=2, prefix="more")
            more_segments = sum(len(r.segments) for r in more)
            produce(settings.kafka, topic, encoded(more, codec))
            wait_count(lambda: processed(port), segments + more_segments, 1800, worker)
            segments += more_segments
            rss_at[args.total_calls] = rss_bytes(worker.pid)
            render_at[args.total_calls] = min(render_seconds() for _ in range(5))

        # live traffic at each rate, produced_at stamped at send time
        rates = [int(r) for r in args.rates.split(",")]
        live_runs = [
            live_latency(
                settings.kafka, topic, codec, port, rate, args.latency_seconds, rates[:i].count(rate)
            )
            for i, rate in enumerate(rates)
        ]

        results: dict[str, Any] = {
            "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
            "throughput_run": {"calls": args.calls, "events": len(messages)},
            "raw_consumer_events_per_s": raw_rate,
            "naive_faust_events_per_s": naive_rate,
            "pipeline_segments_per_s": pipeline_rate,
            "pipeline_on_faust_stream_segments_per_s": stream_rate,
            "naive_faust_runs": naive_rates,
            "pipeline_runs": pipeline_rates,
            "cpu_us_per_event": {
                "naive_faust": [p.cpu_us_per_event for p in naive_runs],
                "pipeline": [p.cpu_us_per_event for p in pipeline_runs],
                "pipeline_on_faust_stream": [p.cpu_us_per_event for p in stream_runs],
            },
            "cpu_share": {
                "naive_faust": [p.cpu_share for p in naive_runs],
                "pipeline": [p.cpu_share for p in pipeline_runs],
                "pipeline_on_faust_stream": [p.cpu_share for p in stream_runs],
            },
            "pipeline_on_faust_stream_runs": stream_rates,
            "pipeline_vs_raw": pipeline_rate / raw_rate,
            "pipeline_vs_naive": pipeline_rate / naive_rate,
            "pipeline_vs_faust_stream": pipeline_rate / stream_rate,
            "latency_runs": live_runs,
            "rss_bytes": rss_at,
            "rss_per_call_bytes": (rss_at[max(rss_at)] - rss_at[min(rss_at)])
            / max(1, max(rss_at) - min(rss_at))
            if len(rss_at) > 1
            else None,
            "metrics_render_seconds": render_at,
            "worker_settings": dict(args.worker_setting),
        }
        print()
        print(f"{'measure':<52} {'value':>14}")
        print("-" * 67)
        rows = [
            ("raw aiokafka consume + Avro decode (events/s)", f"{raw_rate:,.0f}"),
            ("naive Faust agent, table update per event (events/s)", f"{naive_rate:,.0f}"),
            ("callfocus worker, EOS + rocksdb + all metrics (seg/s)", f"{pipeline_rate:,.0f}"),
            ("  the same on Faust's event stream (seg/s)", f"{stream_rate:,.0f}"),
            ("  single runs, naive", " / ".join(f"{r:,.0f}" for r in naive_rates)),
            ("  single runs, worker", " / ".join(f"{r:,.0f}" for r in pipeline_rates)),
            # a slow run that spent the same CPU per segment got less of the CPU
            ("  CPU per event, naive (µs)", joined(naive_runs, "cpu_us_per_event", "{:.0f}")),
            ("  CPU per segment, worker (µs)", joined(pipeline_runs, "cpu_us_per_event", "{:.0f}")),
            ("  CPU share, worker (of one core)", joined(pipeline_runs, "cpu_share", "{:.2f}")),
            ("  single runs, worker on Faust's stream", " / ".join(f"{r:,.0f}" for r in stream_rates)),
            ("pipeline / raw consumer", f"{pipeline_rate / raw_rate:.1%}"),
            ("pipeline / naive Faust", f"{pipeline_rate / naive_rate:.1f}x"),
            ("pipeline / the same on Faust's stream", f"{pipeline_rate / stream_rate:.1f}x"),
        ]
        for live in live_runs:
            rows.append(
                (
                    f"live {live['target_segments_per_s']}/s ({live['achieved_events_per_s']:,.0f}/s sent): "
                    "p50/p95/p99 ms",
                    f"{live.get('p50', 0) * 1000:.0f} / {live.get('p95', 0) * 1000:.0f} / "
                    f"{live.get('p99', 0) * 1000:.0f}",
                )
            )
        for calls, seconds in sorted(render_at.items()):
            rows.append((f"/metrics render with {calls} active calls (ms)", f"{seconds * 1000:.0f}"))
        for calls, rss in sorted(rss_at.items()):
            rows.append((f"worker RSS with {calls} active calls (MiB)", f"{rss / 2**20:.0f}"))
        if results["rss_per_call_bytes"] is not None:
            rows.append(
                ("worker RSS per additional active call (KiB)", f"{results['rss_per_call_bytes'] / 1024:.1f}")
            )
        for name, value in rows:
            print(f"{name:<52} {value:>14}")
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwritten to {args.json_path}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        kafka.stop()


if __name__ == "__main__":
    try:
        main()
    except KafkaUnavailableError as error:  # as the CLI says it: one line, exit status 3
        print(f"callfocus: {error.message}", file=sys.stderr)
        sys.exit(3)
