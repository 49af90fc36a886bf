"""Chaos run against a real local Kafka: SIGKILLed workers, a broker restart, bad records.

One run, on a broker of its own (``deploy/local/kafka.sh``, free ports, a fresh data dir):

1. builds the input: ``calls`` valid simulated calls (``streams.tools.simulate``) and ``bad``
   malformed records of every kind of :data:`EXPECTED_REASONS`, interleaved at random (each
   call's own events stay in order), single-object Avro or JSON, keyed by call_id;
2. sends it to a fresh ``<prefix>.call-events`` at a steady rate while ``workers`` real
   ``callfocus worker`` processes read it, and meanwhile SIGKILLs a worker ``kills`` times at
   random moments, restarting it at once; ``restore_kills`` of the kills hit a worker that
   was just restarted and is not ready yet (table recovery, rebalance); once, the broker is
   stopped and started again on the same data dir;
3. waits until the workers have committed every input record, stops them, reads
   ``<prefix>.call-summaries`` and ``<prefix>.call-events.dlq`` with read_committed and
   compares: one summary per valid call, equal to what ``callfocus score --json`` computes
   offline from the same events; every bad record dead-lettered with its expected
   ``error.reason`` (matched by the ``source.partition``/``source.offset`` headers against
   the produce metadata); no valid record dead-lettered; no worker exit but the kills.

Bad records that refer to a call use calls of their own ("victims"): a valid call's events
are never corrupted, so its summary must be exact. ``make test`` runs a short run
(tests/chaos/test_chaos.py), ``make chaos`` a long one (``python -m tests.chaos``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.engine.call import WindowMetrics
from streams.errors import InvalidReason
from streams.tools.replay import write_jsonl
from streams.tools.simulate import SimulationConfig, simulate
from streams.tools.sources import Recording, timeline
from streams.wire.codec import SINGLE_OBJECT_MARKER, AvroCodec
from streams.wire.events import (
    MAX_SEGMENT_MS,
    MAX_TEXT_CHARS,
    CallEnded,
    CallStarted,
    HoldEnded,
    HoldStarted,
    Speaker,
    TranscriptSegment,
    event_to_record,
)
from tests.integration.worker import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"

# Every kind of bad record the run sends, and the dead-letter reason (``error.reason``) it
# must get. One place to adjust when a rule changes.
EXPECTED_REASONS: dict[str, InvalidReason] = {
    "empty_value": InvalidReason.EMPTY,
    "random_bytes": InvalidReason.UNKNOWN_FORMAT,
    "avro_unknown_fingerprint": InvalidReason.UNKNOWN_SCHEMA,
    "avro_truncated_body": InvalidReason.UNDECODABLE,
    "json_cut_short": InvalidReason.INVALID_JSON,
    "json_invalid_utf8": InvalidReason.INVALID_UTF8,
    "json_1000_deep": InvalidReason.JSON_TOO_DEEP,
    "json_without_type": InvalidReason.MISSING_TYPE,
    "json_unknown_type": InvalidReason.UNKNOWN_RECORD,
    "json_call_metrics": InvalidReason.NOT_AN_INPUT_EVENT,
    "json_segment_without_text": InvalidReason.MISSING_FIELD,
    "json_is_final_string": InvalidReason.INVALID_FIELD,
    "json_float_start_ms": InvalidReason.INVALID_FIELD,
    "json_speaker_bot": InvalidReason.UNKNOWN_ENUM_SYMBOL,
    "empty_call_id": InvalidReason.MISSING_CALL_ID,
    "empty_segment_id": InvalidReason.MISSING_SEGMENT_ID,
    "null_key": InvalidReason.MISSING_KEY,
    "key_not_call_id": InvalidReason.KEY_MISMATCH,
    "segment_call_never_started": InvalidReason.CALL_NOT_STARTED,
    "end_call_never_started": InvalidReason.CALL_NOT_STARTED,
    "segment_after_end": InvalidReason.CALL_ENDED,
    "start_after_end": InvalidReason.CALL_ENDED,
    "ended_before_started": InvalidReason.ENDED_BEFORE_START,
    "end_ms_before_start_ms": InvalidReason.END_BEFORE_START,
    "negative_start_ms": InvalidReason.NEGATIVE_TIME,
    "segment_over_10_minutes": InvalidReason.SEGMENT_TOO_LONG,
    "text_over_20000_chars": InvalidReason.TEXT_TOO_LONG,
    "negative_revision": InvalidReason.NEGATIVE_REVISION,
    "hold_negative_at_ms": InvalidReason.NEGATIVE_TIME,
    "hold_empty_hold_id": InvalidReason.INVALID_ID,
    "call_id_300_chars": InvalidReason.INVALID_ID,
    "call_id_control_char": InvalidReason.INVALID_ID,
    "team_300_chars": InvalidReason.INVALID_LABEL,
    "team_newline": InvalidReason.INVALID_LABEL,
    "language_path": InvalidReason.INVALID_LANGUAGE,
}

# Settings of every worker of a run (``--worker-setting`` adds or overrides): a killed
# worker's partitions wait for its session to time out, 60 s by default.
DEFAULT_WORKER_SETTINGS: dict[str, str] = {}

# the whole-call metrics a summary must share with `callfocus score --json` (its "call" window)
_WINDOW_FIELDS = tuple(name for name in WindowMetrics.SNAPSHOT_FIELDS if name != "window")
_CALL_FIELDS = (
    "customer_focus_score",
    "monologue_longest_seconds",
    "customer_story_longest_seconds",
    "agent_id",
    "team",
    "queue",
)


@dataclass
class ChaosConfig:
    calls: int = 40
    minutes: float = 2.0
    teams: int = 3
    bad: int = 2000
    kills: int = 5
    restore_kills: int = 1
    workers: int = 2
    partitions: int = 4
    produce_seconds: float = 40.0
    kill_gap_seconds: tuple[float, float] = (0.5, 3.0)
    outage_seconds: float = 3.0
    ready_timeout_seconds: float = 120.0
    drain_timeout_seconds: float = 120.0
    seed: int = 1
    worker_settings: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_WORKER_SETTINGS))
    skip_kinds: tuple[str, ...] = ()


@dataclass(slots=True)
class Message:
    """One input record as sent: ``role`` is "valid" (a valid call's event), "victim" (a
    valid event of a call the bad records refer to) or the bad record's kind."""

    role: str
    key: bytes | None
    value: bytes | None
    partition: int = -1
    offset: int = -1


@dataclass
class Plan:
    messages: list[Message]
    recordings: list[Recording]  # the valid calls, exactly as sent

    def bad(self) -> list[Message]:
        return [m for m in self.messages if m.role in EXPECTED_REASONS]


# ---------------------------------------------------------------------------------------------
# the input


class _Builder:
    """Builds the records of each bad kind, with the victim calls they need."""

    def __init__(self, codec: AvroCodec, rng: random.Random, base_ms: int) -> None:
        self.codec = codec
        self.rng = rng
        self.base_ms = base_ms
        self._ids = 0

    def new_id(self, kind: str) -> str:
        self._ids += 1
        return f"victim-{kind[:12]}-{self._ids:06d}"

    def avro(self, event: CallStarted | TranscriptSegment | CallEnded) -> bytes:
        return self.codec.encode(*event_to_record(event))

    def started(self, call_id: str, **fields: Any) -> CallStarted:
        return CallStarted(call_id, self.base_ms, agent_id="agent-victim", team="victims", **fields)

    def segment(self, call_id: str, segment_id: str, **fields: Any) -> TranscriptSegment:
        values: dict[str, Any] = {"start_ms": 1_000, "end_ms": 2_000, "text": "a bad record's text"}
        values.update(fields)
        return TranscriptSegment(call_id, segment_id, values.pop("speaker", Speaker.AGENT), **values)

    def segment_json(self, call_id: str, segment_id: str, **fields: Any) -> bytes:
        record: dict[str, Any] = {
            "type": "TranscriptSegment",
            "call_id": call_id,
            "segment_id": segment_id,
            "speaker": "AGENT",
            "start_ms": 1_000,
            "end_ms": 2_000,
            "text": "a bad record's text",
        }
        record.update(fields)
        return json.dumps({k: v for k, v in record.items() if v is not _DROP}).encode()

    # a bad record for an open victim call (``host``): the segment-level kinds
    def on_host(self, kind: str, host: str, n: int) -> Message:
        sid = f"bad-{n:06d}"
        key: bytes | None = host.encode()
        value: bytes
        if kind == "json_segment_without_text":
            value = self.segment_json(host, sid, text=_DROP)
        elif kind == "json_is_final_string":
            value = self.segment_json(host, sid, is_final="no")
        elif kind == "json_float_start_ms":
            value = self.segment_json(host, sid, start_ms=1.5)
        elif kind == "json_speaker_bot":
            value = self.segment_json(host, sid, speaker="BOT")
        elif kind == "empty_segment_id":
            value = self.avro(self.segment(host, ""))
        elif kind == "null_key":
            key, value = None, self.avro(self.segment(host, sid))
        elif kind == "key_not_call_id":
            key, value = f"other-{n:06d}".encode(), self.avro(self.segment(host, sid))
        elif kind == "end_ms_before_start_ms":
            value = self.avro(self.segment(host, sid, start_ms=5_000, end_ms=4_000))
        elif kind == "negative_start_ms":
            value = self.avro(self.segment(host, sid, start_ms=-5, end_ms=1_000))
        elif kind == "segment_over_10_minutes":
            value = self.avro(self.segment(host, sid, start_ms=1_000, end_ms=1_000 + MAX_SEGMENT_MS + 1))
        elif kind == "text_over_20000_chars":
            value = self.avro(self.segment(host, sid, text="word " * (MAX_TEXT_CHARS // 5 + 1)))
        elif kind == "negative_revision":
            value = self.avro(self.segment(host, sid, revision=-1))
        elif kind == "hold_negative_at_ms":
            value = self.codec.encode(*event_to_record(HoldStarted(host, sid, -5)))
        elif kind == "hold_empty_hold_id":
            value = self.codec.encode(*event_to_record(HoldEnded(host, "", 1_000)))
        else:  # pragma: no cover - the kinds are listed in HOSTED_KINDS
            raise ValueError(kind)
        return Message(kind, key, value)

    # a bad record that needs no call, or a call of its own
    def alone(self, kind: str) -> list[Message]:
        rng = self.rng
        call_id = self.new_id(kind)
        key = call_id.encode()
        if kind == "empty_value":
            return [Message(kind, key, b"")]
        if kind == "random_bytes":
            # neither the Avro marker nor JSON: a byte that is not "{", whitespace or 0xC3 first
            return [Message(kind, key, b"\x00" + rng.randbytes(rng.randint(1, 200)))]
        if kind == "avro_unknown_fingerprint":
            unknown = rng.getrandbits(64).to_bytes(8, "little")
            return [Message(kind, key, SINGLE_OBJECT_MARKER + unknown + rng.randbytes(30))]
        if kind == "avro_truncated_body":
            # cut inside the text (the last field but three one-byte ones): the body ends early
            whole = self.avro(self.segment(call_id, "s1", text="a segment cut short " * 2))
            return [Message(kind, key, whole[: len(whole) - rng.randint(6, 30)])]
        if kind == "json_cut_short":
            return [Message(kind, key, b'{"type":')]
        if kind == "json_invalid_utf8":
            value = b'{"type":"TranscriptSegment","call_id":"' + call_id.encode() + b'","text":"\xff\xfe"}'
            return [Message(kind, key, value)]
        if kind == "json_1000_deep":
            nested = b"[" * 1000 + b"]" * 1000
            return [Message(kind, key, b'{"type":"TranscriptSegment","x":' + nested + b"}")]
        if kind == "json_without_type":
            return [Message(kind, key, self.segment_json(call_id, "s1", type=_DROP))]
        if kind == "json_unknown_type":
            return [Message(kind, key, self.segment_json(call_id, "s1", type="TranscriptSegmentV9"))]
        if kind == "json_call_metrics":
            metrics = {
                "type": "CallMetrics",
                "call_id": call_id,
                "agent_id": "agent-victim",
                "team": "victims",
                "queue": "inbound",
                "media_time_ms": 1_000,
                "emitted_at": self.base_ms,
            }
            return [Message(kind, key, json.dumps(metrics).encode())]
        if kind == "empty_call_id":
            return [Message(kind, b"", self.avro(self.segment("", "s1")))]
        if kind == "segment_call_never_started":
            return [Message(kind, key, self.avro(self.segment(call_id, "s1")))]
        if kind == "end_call_never_started":
            return [Message(kind, key, self.avro(CallEnded(call_id, self.base_ms + 60_000, "hangup")))]
        if kind == "ended_before_started":
            # the bad end, then the call's real end (valid: the call is still live)
            return [
                Message("victim", key, self.avro(self.started(call_id))),
                Message(kind, key, self.avro(CallEnded(call_id, self.base_ms - 60_000, "hangup"))),
                Message("victim", key, self.avro(CallEnded(call_id, self.base_ms + 60_000, "hangup"))),
            ]
        if kind == "call_id_300_chars":
            long_id = (call_id + "-" + "x" * 300)[:300]
            return [Message(kind, long_id.encode(), self.avro(self.started(long_id)))]
        if kind == "call_id_control_char":
            odd_id = call_id + "\x07"
            return [Message(kind, odd_id.encode(), self.avro(self.started(odd_id)))]
        if kind == "team_300_chars":
            return [Message(kind, key, self.avro(CallStarted(call_id, self.base_ms, team="t" * 300)))]
        if kind == "team_newline":
            return [Message(kind, key, self.avro(CallStarted(call_id, self.base_ms, team="victims\nevil")))]
        if kind == "language_path":
            bad = CallStarted(call_id, self.base_ms, language="../../../../tmp/x/evil")
            return [Message(kind, key, self.avro(bad))]
        raise ValueError(f"no builder for the bad kind {kind!r}")  # pragma: no cover

    def hosted(self, kinds: list[str], first: int) -> list[Message]:
        """An open victim call and bad segment-level records for it, then its end."""
        host = self.new_id("host")
        key = host.encode()
        body = [self.on_host(kind, host, first + i) for i, kind in enumerate(kinds)]
        return [
            Message("victim", key, self.avro(self.started(host))),
            *body,
            Message("victim", key, self.avro(CallEnded(host, self.base_ms + 600_000, "hangup"))),
        ]

    def after_end(self, kinds: list[str], first: int) -> list[Message]:
        """A whole victim call, then records that come after its end."""
        call_id = self.new_id("ended")
        key = call_id.encode()
        stream = [
            Message("victim", key, self.avro(self.started(call_id))),
            Message("victim", key, self.avro(self.segment(call_id, "s1"))),
            Message("victim", key, self.avro(CallEnded(call_id, self.base_ms + 60_000, "hangup"))),
        ]
        for i, kind in enumerate(kinds):
            if kind == "segment_after_end":
                late = self.segment(call_id, f"late-{first + i:06d}", start_ms=2_500, end_ms=3_000)
                stream.append(Message(kind, key, self.avro(late)))
            else:
                stream.append(Message(kind, key, self.avro(self.started(call_id))))
        return stream


_DROP: Any = object()  # a JSON field left out
_EXCEPTION_LINE = re.compile(r"^([\w.]*(?:Error|Exception|Exit|Interrupt))\b")


HOSTED_KINDS = frozenset(
    {
        "json_segment_without_text",
        "json_is_final_string",
        "json_float_start_ms",
        "json_speaker_bot",
        "empty_segment_id",
        "null_key",
        "key_not_call_id",
        "end_ms_before_start_ms",
        "negative_start_ms",
        "segment_over_10_minutes",
        "text_over_20000_chars",
        "negative_revision",
        "hold_negative_at_ms",
        "hold_empty_hold_id",
    }
)
AFTER_END_KINDS = frozenset({"segment_after_end", "start_after_end"})
_PER_HOST = 30
_PER_ENDED_CALL = 8


def stamped(recording: Recording, started_at_ms: int) -> Recording:
    """The call with wall-clock start and end times (media times unchanged)."""
    events = []
    for timed in recording.events:
        event = timed.event
        if isinstance(event, CallStarted):
            event = event.replace(started_at=started_at_ms)
        elif isinstance(event, CallEnded):
            event = event.replace(ended_at=started_at_ms + event.ended_at)
        events.append(event)
    return timeline(recording.call_id, events)


def build_plan(config: ChaosConfig, codec: AvroCodec | None = None) -> Plan:
    codec = codec or AvroCodec()
    rng = random.Random(config.seed)
    base_ms = int(time.time() * 1000)
    teams = tuple(f"team-{i:05d}" for i in range(config.teams))
    sim = SimulationConfig(
        calls=config.calls, concurrency=config.calls, minutes=config.minutes, seed=config.seed, teams=teams
    )
    recordings = [stamped(r, base_ms + i) for i, (_, r) in enumerate(simulate(sim))]
    streams: list[list[Message]] = [
        [Message("valid", r.call_id.encode(), codec.encode(*event_to_record(t.event))) for t in r.events]
        for r in recordings
    ]

    kinds = [k for k in EXPECTED_REASONS if k not in config.skip_kinds]
    sequence = [kinds[i % len(kinds)] for i in range(config.bad)]
    rng.shuffle(sequence)
    builder = _Builder(codec, rng, base_ms)
    hosted = [k for k in sequence if k in HOSTED_KINDS]
    after_end = [k for k in sequence if k in AFTER_END_KINDS]
    for i in range(0, len(hosted), _PER_HOST):
        streams.append(builder.hosted(hosted[i : i + _PER_HOST], i))
    for i in range(0, len(after_end), _PER_ENDED_CALL):
        streams.append(builder.after_end(after_end[i : i + _PER_ENDED_CALL], i))
    for kind in sequence:
        if kind not in HOSTED_KINDS and kind not in AFTER_END_KINDS:
            streams.append(builder.alone(kind))

    # a uniformly random interleaving that keeps the order within each stream
    placed: list[tuple[float, int, Message]] = []
    for stream in streams:
        ranks = sorted(rng.random() for _ in stream)
        placed += [
            (rank, len(placed) + n, message)
            for n, (rank, message) in enumerate(zip(ranks, stream, strict=True))
        ]
    placed.sort(key=lambda item: (item[0], item[1]))
    return Plan([message for _, _, message in placed], recordings)


# ---------------------------------------------------------------------------------------------
# broker, workers, producer


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """The run's own single-node Kafka (kafka.sh), stopped and started on the same data dir."""

    def __init__(self, workdir: Path) -> None:
        self.env = {
            **os.environ,
            "CALLFOCUS_LOCAL_KAFKA_PORT": str(free_port()),
            "CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
            "CALLFOCUS_LOCAL_KAFKA_DATA": str(workdir / "kafka"),
            "PYTHON": sys.executable,
        }
        self.bootstrap = ""

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [str(KAFKA_SH), *args], env=self.env, capture_output=True, text=True, timeout=240
        )
        if done.returncode != 0:
            raise RuntimeError(f"kafka.sh {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start(self, clean: bool = False) -> str:
        out = self._run("start", *(["--clean"] if clean else []))
        self.bootstrap = out.strip().splitlines()[-1]
        return self.bootstrap

    def stop(self) -> None:
        self._run("stop")


@dataclass
class Kill:
    slot: int
    at_seconds: float  # since the run began
    during_restore: bool  # the worker had not been ready since its start
    ready_after_seconds: float | None = None  # until the restarted worker's /readyz said 200
    ready_timed_out: bool = False  # not ready within the run's ready timeout


@dataclass
class SelfExit:
    slot: int
    at_seconds: float
    returncode: int | None
    log_tail: str

    @property
    def cause(self) -> str:
        """The exception the worker's log names last (e.g. ``RecursionError``), else its last line."""
        lines = self.log_tail.strip().splitlines()
        for line in reversed(lines):
            match = _EXCEPTION_LINE.match(line)
            if match:
                return match.group(1).rsplit(".", 1)[-1]
        return lines[-1][:120] if lines else "?"


class Slot:
    """One worker position (a pod): a worker process, SIGKILLed and started again."""

    def __init__(self, index: int, env: dict[str, str], logdir: Path) -> None:
        self.index = index
        # as a StatefulSet pod: the same name (static group membership, as the Helm chart
        # sets it) and the same web port at every start
        self.env = {
            "CALLFOCUS_GROUP_INSTANCE_ID": f"chaos-{index}",
            "CALLFOCUS_WEB_PORT": str(free_port()),
            **env,
        }
        self.logdir = logdir
        self.starts = 0
        self.worker: WorkerProcess | None = None
        self.started_monotonic = 0.0
        self.been_ready = False

    def start(self) -> None:
        self.starts += 1
        self.worker = WorkerProcess(self.env, self.logdir / f"worker-{self.index}.{self.starts}.log")
        self.started_monotonic = time.monotonic()
        self.been_ready = False

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self.worker is not None
        return self.worker.proc

    def readyz(self) -> int | None:
        """The /readyz status, or None if the web server does not answer."""
        assert self.worker is not None
        try:
            status, _ = self.worker.get("/readyz")
        except OSError:
            return None
        if status == 200:
            self.been_ready = True
        return status

    def sigkill(self) -> None:
        assert self.worker is not None
        self.worker.proc.send_signal(signal.SIGKILL)
        self.worker.proc.wait(timeout=30)
        self.worker.stop()  # closes its log

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()


class Producer(threading.Thread):
    """Sends the plan's messages at a steady rate; holding ``gate`` pauses it between chunks
    (around the broker restart). Each message gets its partition and offset."""

    CHUNK = 200

    def __init__(self, bootstrap: str, topic: str, messages: list[Message], seconds: float) -> None:
        super().__init__(daemon=True, name="chaos-producer")
        self.bootstrap = bootstrap
        self.topic = topic
        self.messages = messages
        self.seconds = seconds
        self.gate = threading.Lock()
        self.error: BaseException | None = None
        self.sent = 0

    def run(self) -> None:
        try:
            self._send_all()
        except BaseException as error:  # reported by the run
            self.error = error

    def _send_all(self) -> None:
        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="chaos-producer",
            acks="all",
            linger_ms=5,
            max_in_flight_requests_per_connection=1,  # a call's events stay in order
            max_request_size=2 * 1024 * 1024,
        )
        began = time.monotonic()
        total = max(1, len(self.messages))
        try:
            for start in range(0, len(self.messages), self.CHUNK):
                chunk = self.messages[start : start + self.CHUNK]
                with self.gate:
                    futures = [producer.send(self.topic, key=m.key, value=m.value) for m in chunk]
                    producer.flush(timeout=120)
                    for message, future in zip(chunk, futures, strict=True):
                        metadata = future.get(timeout=60)
                        message.partition, message.offset = metadata.partition, metadata.offset
                    self.sent += len(chunk)
                delay = began + (start + len(chunk)) * self.seconds / total - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        finally:
            producer.close()


# ---------------------------------------------------------------------------------------------
# reading and comparing


def read_committed(bootstrap: str, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every committed record of ``topic`` (read_committed), up to its end offsets."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    records: list[Any] = []
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records += batch
            if all(consumer.position(tp) >= ends[tp] for tp in partitions):
                break
    finally:
        consumer.close()
    return records


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in range(partitions)}
    finally:
        consumer.close()


def offline_scores(recordings: list[Recording], workdir: Path) -> dict[str, dict[str, Any]]:
    """``callfocus score --json`` of the valid calls, by call_id (default settings)."""
    path = workdir / "valid-calls.jsonl"
    write_jsonl(recordings, path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLFOCUS_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "score", str(path), "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return {call["call_id"]: call for call in json.loads(done.stdout)}


def summary_differences(summary: dict[str, Any], offline: dict[str, Any], segments: int) -> list[str]:
    """Fields of a summary that differ from the offline score of the same events."""
    expected: dict[str, Any] = {name: offline[name] for name in _CALL_FIELDS}
    expected.update({name: offline["windows"]["call"][name] for name in _WINDOW_FIELDS})
    expected["duration_seconds"] = offline["media_time_ms"] / 1000
    expected["segments"] = segments
    expected["end_reason"] = "hangup"
    return [
        f"{name}: {summary.get(name)!r} != {value!r}"
        for name, value in expected.items()
        if summary.get(name) != value
    ]


def _header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode("utf-8", "replace")
    return None


@dataclass
class KindResult:
    kind: str
    expected_reason: str
    sent: int = 0
    dead_lettered: int = 0
    right_reason: int = 0
    other_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class ChaosReport:
    config: dict[str, Any]
    seconds: float = 0.0
    kills: list[Kill] = field(default_factory=list)
    broker_outages: list[float] = field(default_factory=list)  # seconds from stop to ready again
    self_exits: list[SelfExit] = field(default_factory=list)
    valid_calls: int = 0
    valid_events: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    different: dict[str, list[str]] = field(default_factory=dict)
    kinds: list[KindResult] = field(default_factory=list)
    valid_in_dlq: dict[str, int] = field(default_factory=dict)  # reason -> valid records
    valid_in_dlq_examples: list[str] = field(default_factory=list)
    other_summaries: int = 0  # summaries of calls that are not valid calls (victims)
    unmatched_dead_letters: int = 0  # dead letters of records the run did not send
    drained: bool = False
    producer_error: str | None = None

    @property
    def restore_kills(self) -> int:
        return sum(1 for k in self.kills if k.during_restore)

    def ready_times(self) -> list[float]:
        return [k.ready_after_seconds for k in self.kills if k.ready_after_seconds is not None]

    def failures(self) -> list[str]:
        """What this run shows to be wrong, one line each (empty: all as required)."""
        out = []
        if self.producer_error:
            out.append(f"the producer failed: {self.producer_error}")
        if not self.drained:
            out.append("the workers did not commit every input record in time")
        if self.lost:
            out.append(f"{len(self.lost)} valid calls without a summary (lost), e.g. {self.lost[:3]}")
        if self.doubled:
            out.append(f"{len(self.doubled)} valid calls with more than one summary, e.g. {self.doubled[:3]}")
        for call_id, diffs in list(self.different.items())[:3]:
            out.append(f"summary of {call_id} differs from callfocus score: {diffs[:4]}")
        if len(self.different) > 3:
            out.append(f"... {len(self.different)} summaries differ in all")
        for kind in self.kinds:
            if kind.right_reason < kind.sent:
                out.append(
                    f"{kind.kind}: {kind.right_reason}/{kind.sent} dead-lettered as "
                    f"{kind.expected_reason!r} ({kind.sent - kind.dead_lettered} not dead-lettered, "
                    f"other reasons {kind.other_reasons})"
                )
        if self.valid_in_dlq:
            out.append(
                f"{sum(self.valid_in_dlq.values())} valid records in the dead-letter topic "
                f"{self.valid_in_dlq}, e.g. {self.valid_in_dlq_examples[:3]}"
            )
        late = [k for k in self.kills if k.ready_timed_out]
        if late:
            times = ", ".join(f"{k.at_seconds:.0f} s" for k in late)
            out.append(
                f"{len(late)} restarted workers not ready within "
                f"{self.config['ready_timeout_seconds']:.0f} s of the kill (at {times})"
            )
        if self.self_exits:
            causes = Counter(exit_.cause for exit_ in self.self_exits)
            first = self.self_exits[0]
            out.append(
                f"{len(self.self_exits)} worker exits without a kill: "
                + ", ".join(f"{cause} x{n}" for cause, n in causes.most_common())
                + f" (the first at {first.at_seconds:.0f} s, worker {first.slot}, code {first.returncode})"
            )
        return out

    def table(self) -> str:
        times = self.ready_times()
        ready = (
            f"min {min(times):.1f} s, median {statistics.median(times):.1f} s, max {max(times):.1f} s "
            f"({len(times)} of {len(self.kills)} kills; the others: killed again before ready, "
            "or not ready in time)"
            if times
            else "-"
        )
        bad_sent = sum(k.sent for k in self.kinds)
        lines = [
            f"chaos run of {self.seconds:.0f} s, {self.config['workers']} workers, "
            f"{self.config['partitions']} partitions",
            f"  SIGKILLs                  {len(self.kills)} "
            f"({self.restore_kills} during restore, before /readyz)",
            f"  broker outages            {len(self.broker_outages)} "
            f"({', '.join(f'{s:.1f} s' for s in self.broker_outages)} from stop to ready)",
            f"  worker exits (not killed) {len(self.self_exits)}",
            f"  time to ready after kill  {ready}",
            f"  valid calls               {self.valid_calls} ({self.valid_events} events, "
            f"{self.config['teams']} teams)",
            f"  lost / doubled / different  {len(self.lost)} / {len(self.doubled)} / {len(self.different)}",
            f"  valid records in the DLQ  {sum(self.valid_in_dlq.values())} {self.valid_in_dlq or ''}",
            f"  bad records               {bad_sent}, "
            f"{sum(k.right_reason for k in self.kinds)} dead-lettered with the right reason",
            f"  summaries of victim calls {self.other_summaries}; dead letters of records not sent by "
            f"the run {self.unmatched_dead_letters}",
            "",
            f"  {'kind':<28} {'expected reason':<20} {'sent':>6} {'in DLQ':>7} {'right':>6}  other reasons",
        ]
        for k in self.kinds:
            mark = "" if k.right_reason == k.sent else "  <-"
            others = ", ".join(f"{r} {n}" for r, n in sorted(k.other_reasons.items())) or "-"
            lines.append(
                f"  {k.kind:<28} {k.expected_reason:<20} {k.sent:>6} {k.dead_lettered:>7} "
                f"{k.right_reason:>6}  {others}{mark}"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        times = self.ready_times()
        data["ready_seconds"] = (
            {"min": min(times), "median": statistics.median(times), "max": max(times)} if times else None
        )
        data["failures"] = self.failures()
        return data


# ---------------------------------------------------------------------------------------------
# the run


class ChaosRun:
    def __init__(self, config: ChaosConfig, workdir: Path, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.workdir = workdir
        self.log = log
        self.rng = random.Random(config.seed + 1)
        self.broker = Broker(workdir)
        self.prefix = f"chaos{uuid.uuid4().hex[:8]}"
        self.slots: list[Slot] = []
        self.began = time.monotonic()
        self.report = ChaosReport(config=asdict(config))

    def since(self) -> float:
        return time.monotonic() - self.began

    # -- workers --------------------------------------------------------------------------

    def worker_env(self, index: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLFOCUS_")}
        env.update(
            PYTHONPATH=str(ROOT),
            CALLFOCUS_KAFKA_BOOTSTRAP=self.broker.bootstrap,
            CALLFOCUS_TOPIC_PREFIX=self.prefix,
            CALLFOCUS_APP_ID=self.prefix,
            CALLFOCUS_TOPIC_PARTITIONS=str(self.config.partitions),
            CALLFOCUS_DATA_DIR=str(self.workdir / f"worker-{index}"),
            CALLFOCUS_LOG_LEVEL="warning",
        )
        env.update({f"CALLFOCUS_{k.upper()}": v for k, v in self.config.worker_settings.items()})
        return env

    def check_exits(self) -> None:
        """A worker that exited although not killed: noted, and started again."""
        for slot in self.slots:
            if slot.proc.poll() is not None:
                assert slot.worker is not None
                self.report.self_exits.append(
                    SelfExit(slot.index, self.since(), slot.proc.returncode, slot.worker.log_tail(30))
                )
                self.log(f"  worker {slot.index} exited by itself (code {slot.proc.returncode}); restarting")
                slot.stop()
                slot.start()

    def pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.check_exits()
            time.sleep(min(0.2, max(0.0, until - time.monotonic())))

    def wait_ready(self, slot: Slot, timeout: float) -> float | None:
        """Seconds until ``slot``'s worker answers /readyz 200 (None: not in ``timeout``)."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            self.check_exits()
            if slot.readyz() == 200:
                return time.monotonic()
            time.sleep(0.1)
        return None

    def kill(self, slot: Slot) -> Kill:
        during_restore = not slot.been_ready and slot.readyz() != 200
        kill = Kill(slot.index, self.since(), during_restore)
        slot.sigkill()
        slot.start()
        self.report.kills.append(kill)
        self.log(
            f"  {kill.at_seconds:6.1f} s  SIGKILL worker {slot.index}"
            + (" during restore (not ready since its start)" if during_restore else "")
        )
        return kill

    def kill_and_wait(self, slot: Slot) -> None:
        kill = self.kill(slot)
        killed_at = time.monotonic()
        ready = self.wait_ready(slot, self.config.ready_timeout_seconds)
        if ready is not None:
            kill.ready_after_seconds = ready - killed_at
            self.log(f"           worker {slot.index} ready {kill.ready_after_seconds:.1f} s after the kill")
        else:
            kill.ready_timed_out = True
            self.log(
                f"           worker {slot.index} not ready {self.config.ready_timeout_seconds:.0f} s after"
            )

    def kill_during_restore(self, slot: Slot) -> None:
        """Kill ``slot``, then kill its new worker again while it starts (up, not ready)."""
        first = self.kill(slot)
        deadline = time.monotonic() + self.config.ready_timeout_seconds
        while time.monotonic() < deadline:  # until its web server answers
            self.check_exits()
            if slot.readyz() is not None:
                break
            time.sleep(0.05)
        self.pause(self.rng.uniform(0.0, 1.0))
        self.kill_and_wait(slot)
        first.ready_after_seconds = None

    def restart_broker(self, producer: Producer) -> None:
        with producer.gate:
            began = time.monotonic()
            self.log(f"  {self.since():6.1f} s  broker stop")
            self.broker.stop()
            self.pause(self.config.outage_seconds)
            self.broker.start()
            outage = time.monotonic() - began
            self.report.broker_outages.append(outage)
            self.log(f"  {self.since():6.1f} s  broker ready again after {outage:.1f} s")

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> ChaosReport:
        config = self.config
        report = self.report
        codec = AvroCodec()
        plan = build_plan(config, codec)
        report.valid_calls = len(plan.recordings)
        report.valid_events = sum(1 for m in plan.messages if m.role == "valid")
        self.log(
            f"chaos: {report.valid_calls} valid calls ({report.valid_events} events), "
            f"{len(plan.bad())} bad records, {len(plan.messages)} records in all; work dir {self.workdir}"
        )
        self.broker.start(clean=True)
        try:
            self._run(plan, codec)
        finally:
            for slot in self.slots:
                slot.stop()
            self.broker.stop()
        report.seconds = self.since()
        return report

    def _run(self, plan: Plan, codec: AvroCodec) -> None:
        config, report = self.config, self.report
        topic = f"{self.prefix}.call-events"
        env = self.worker_env(0)
        done = subprocess.run(
            [sys.executable, "-m", "streams.tools.cli", "topics"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"callfocus topics failed:\n{done.stderr}")
        self.slots = [Slot(i, self.worker_env(i), self.workdir) for i in range(config.workers)]
        for slot in self.slots:
            slot.start()
        for slot in self.slots:
            if self.wait_ready(slot, config.ready_timeout_seconds) is None:
                raise RuntimeError(
                    f"worker {slot.index} not ready:\n{slot.worker and slot.worker.log_tail()}"
                )
        self.log(f"  {self.since():6.1f} s  {config.workers} workers ready; sending")

        producer = Producer(self.broker.bootstrap, topic, plan.messages, config.produce_seconds)
        producer.start()
        # the kills that hit a restarting worker, spread over the run (the first as the second
        # kill); the broker restart halfway
        spacing = max(2, config.kills // max(1, config.restore_kills))
        restore_from = [1 + i * spacing for i in range(config.restore_kills)]
        broker_after = config.kills // 2
        while len(report.kills) < config.kills:
            if not report.broker_outages and len(report.kills) >= broker_after:
                self.pause(self.rng.uniform(*config.kill_gap_seconds))
                self.restart_broker(producer)
                for slot in self.slots:
                    self.wait_ready(slot, config.ready_timeout_seconds)
            self.pause(self.rng.uniform(*config.kill_gap_seconds))
            slot = self.rng.choice(self.slots)
            due = (
                report.restore_kills < config.restore_kills
                and len(report.kills) >= restore_from[report.restore_kills]
                and config.kills - len(report.kills) >= 2
            )
            if due:
                self.kill_during_restore(slot)
            else:
                self.kill_and_wait(slot)
        if not report.broker_outages:  # no kills asked for
            self.restart_broker(producer)

        while producer.is_alive():
            self.pause(0.5)
        if producer.error is not None:
            report.producer_error = repr(producer.error)
            return
        self.log(f"  {self.since():6.1f} s  all {len(plan.messages)} records sent; waiting for the commits")
        report.drained = self.drain(plan, topic)
        self.check_exits()
        for slot in self.slots:
            slot.stop()
        self.log(f"  {self.since():6.1f} s  workers stopped; reading the outputs")
        self.compare(plan, topic, codec)

    def drain(self, plan: Plan, topic: str) -> bool:
        """Wait until the workers' group has committed past every record the run sent."""
        needed: dict[int, int] = {}
        for message in plan.messages:
            needed[message.partition] = max(needed.get(message.partition, 0), message.offset + 1)
        deadline = time.monotonic() + self.config.drain_timeout_seconds
        while time.monotonic() < deadline:
            committed = committed_offsets(self.broker.bootstrap, self.prefix, topic, self.config.partitions)
            if all(committed.get(p, 0) >= end for p, end in needed.items()):
                return True
            self.pause(1.0)
        return False

    def compare(self, plan: Plan, topic: str, codec: AvroCodec) -> None:
        report = self.report
        bootstrap = self.broker.bootstrap
        summaries: dict[str, list[dict[str, Any]]] = {}
        for record in read_committed(bootstrap, f"{self.prefix}.call-summaries"):
            summaries.setdefault(record.key.decode("utf-8", "replace"), []).append(
                codec.decode(record.value)[1]
            )
        offline = offline_scores(plan.recordings, self.workdir)
        valid_ids = {r.call_id for r in plan.recordings}
        for recording in plan.recordings:
            got = summaries.get(recording.call_id, [])
            if not got:
                report.lost.append(recording.call_id)
                continue
            if len(got) > 1:
                report.doubled.append(recording.call_id)
            segments = len({s.segment_id for s in recording.segments if s.is_final})
            diffs = [d for s in got for d in summary_differences(s, offline[recording.call_id], segments)]
            if diffs:
                report.different[recording.call_id] = diffs
        report.other_summaries = sum(len(v) for k, v in summaries.items() if k not in valid_ids)

        by_source = {(m.partition, m.offset): m for m in plan.messages}
        reasons: dict[int, list[str]] = {}  # id of a bad message -> its dead letters' reasons
        valid_in_dlq: Counter[str] = Counter()
        for record in read_committed(bootstrap, f"{self.prefix}.call-events.dlq"):
            reason = _header(record, "error.reason") or "?"
            partition, offset = _header(record, "source.partition"), _header(record, "source.offset")
            message = None
            if _header(record, "source.topic") == topic and partition is not None and offset is not None:
                message = by_source.get((int(partition), int(offset)))
            if message is None:
                report.unmatched_dead_letters += 1
            elif message.role in ("valid", "victim"):
                valid_in_dlq[reason] += 1
                if len(report.valid_in_dlq_examples) < 10:
                    detail = _header(record, "error.detail") or ""
                    report.valid_in_dlq_examples.append(f"{message.role} {reason}: {detail[:160]}")
            else:
                reasons.setdefault(id(message), []).append(reason)
        report.valid_in_dlq = dict(valid_in_dlq)
        results = {
            kind: KindResult(kind, reason.value)
            for kind, reason in EXPECTED_REASONS.items()
            if kind not in self.config.skip_kinds
        }
        for message in plan.bad():
            result = results[message.role]
            result.sent += 1
            got_reasons = reasons.get(id(message), [])
            if got_reasons:
                result.dead_lettered += 1
            if result.expected_reason in got_reasons:
                result.right_reason += 1
            else:
                for reason in set(got_reasons):
                    result.other_reasons[reason] = result.other_reasons.get(reason, 0) + 1
        report.kinds = list(results.values())


def run_chaos(
    config: ChaosConfig, workdir: Path | None = None, log: Callable[[str], None] = print
) -> ChaosReport:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="callfocus-chaos-"))
    return ChaosRun(config, workdir, log).run()


def _worker_setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE (a callfocus setting)")
    return name.lower(), value


def _iter_kinds(text: str) -> Iterator[str]:
    for kind in filter(None, (k.strip() for k in text.split(","))):
        if kind not in EXPECTED_REASONS:
            raise argparse.ArgumentTypeError(f"unknown bad kind {kind!r}")
        yield kind


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="Valid calls.")
    parser.add_argument("--minutes", type=float, default=1.0, help="Media length of each valid call.")
    parser.add_argument("--teams", type=int, default=3000, help="Distinct teams among the valid calls.")
    parser.add_argument("--bad", type=int, default=10_000, help="Bad records, of every kind in turn.")
    parser.add_argument("--kills", type=int, default=15, help="SIGKILLs of a worker.")
    parser.add_argument("--restore-kills", type=int, default=3, help="Of the kills: during restore.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--produce-seconds", type=float, default=150.0, help="Time to send the input over.")
    parser.add_argument(
        "--outage-seconds", type=float, default=5.0, help="Broker down this long (plus stop/start)."
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--worker-setting",
        action="append",
        default=[],
        type=_worker_setting,
        metavar="NAME=VALUE",
        help=f"A setting of every worker (repeatable); defaults {DEFAULT_WORKER_SETTINGS}.",
    )
    parser.add_argument(
        "--skip-kinds",
        default="",
        help="Bad kinds not to send, comma-separated (e.g. one that stops the worker on this version).",
    )
    parser.add_argument(
        "--json", dest="json_path", default=None, help="Default bench/results/chaos-<time>.json."
    )
    args = parser.parse_args()
    try:
        skip = tuple(_iter_kinds(args.skip_kinds))
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    config = ChaosConfig(
        calls=args.calls,
        minutes=args.minutes,
        teams=args.teams,
        bad=args.bad,
        kills=args.kills,
        restore_kills=args.restore_kills,
        workers=args.workers,
        partitions=args.partitions,
        produce_seconds=args.produce_seconds,
        outage_seconds=args.outage_seconds,
        seed=args.seed,
        worker_settings={**DEFAULT_WORKER_SETTINGS, **dict(args.worker_setting)},
        skip_kinds=skip,
        ready_timeout_seconds=180.0,
        drain_timeout_seconds=300.0,
    )
    # stopped by a signal, the run still stops its workers and its broker
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    report = run_chaos(config, log=lambda line: print(line, flush=True))
    print()
    print(report.table())
    failures = report.failures()
    print()
    print("\n".join(["failures:", *(f"  - {f}" for f in failures)]) if failures else "no failures")
    path = Path(args.json_path or ROOT / "bench" / "results" / f"chaos-{time.strftime('%Y%m%d-%H%M%S')}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.as_dict(), indent=2, default=str))
    print(f"\nwritten {path}")
    sys.exit(1 if failures else 0)
