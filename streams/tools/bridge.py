"""``callfocus bridge``: a topic of ASR vendor JSON in, ``<prefix>.call-events`` out, exactly once.

Each input record is one vendor message of one call; the call id is the record key (or a
header). A record becomes the events its vendor parser makes (streams/tools/sources/asr),
written in the project's wire format; a record that cannot be read goes to the dead-letter
topic as it came, with ``error.reason``/``error.detail`` and ``source.*`` headers, as the
worker writes them. Every poll is one Kafka transaction: the events, the dead letters and
the input offsets commit together, so after a crash the bridge resumes from its last
commit and readers with ``read_committed`` see every event once. Events are a function of
the record (times from the payload, ``produced_at`` from the record timestamp), so the
records redone after a crash give the same events.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition

from streams.errors import InvalidEventError, InvalidReason
from streams.kafka_clients import kafka_python_options
from streams.settings import Settings
from streams.tools.sources.asr import ChannelRoles, VendorFormat, VendorParser, parser_for
from streams.wire.codec import AvroCodec
from streams.wire.events import event_to_record

log = logging.getLogger(__name__)
MAX_DETAIL_BYTES = 1024
DEFAULT_ROLES = ChannelRoles()


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    fmt: VendorFormat
    input_topic: str
    output_topic: str
    dead_letter_topic: str
    group_id: str
    transactional_id: str
    roles: ChannelRoles = DEFAULT_ROLES
    call_id_header: str | None = None
    wire_format: str = "avro"


@dataclass(frozen=True, slots=True)
class InputRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class OutputRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class BridgeReport:
    records: int = 0
    events: int = 0
    dead_letters: int = 0
    transactions: int = 0


@dataclass
class Converter:
    """The pure part: one input record -> its output records (events or one dead letter)."""

    config: BridgeConfig
    codec: AvroCodec = field(default_factory=AvroCodec)
    parser: VendorParser | None = None

    def __post_init__(self) -> None:
        if self.parser is None:
            self.parser = parser_for(self.config.fmt, self.config.roles)

    def convert(self, record: InputRecord) -> list[OutputRecord]:
        try:
            return self._events(record)
        except InvalidEventError as error:
            return [self.dead_letter(record, error)]
        except Exception as error:  # a parser's bug must not stop the stream: kept, and logged
            log.exception(
                "record %s/%d/%d could not be converted", record.topic, record.partition, record.offset
            )
            return [
                self.dead_letter(record, InvalidEventError(InvalidReason.INTERNAL_ERROR, repr(error)[:200]))
            ]

    def call_id(self, record: InputRecord) -> str:
        name = self.config.call_id_header
        raw = record.key if name is None else next((v for k, v in record.headers if k == name), None)
        where = "record key" if name is None else f"header {name!r}"
        if not raw:
            raise InvalidEventError(InvalidReason.MISSING_KEY, f"no call id: the {where} is empty")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidEventError(InvalidReason.INVALID_UTF8, f"the {where} is not UTF-8") from None

    def _events(self, record: InputRecord) -> list[OutputRecord]:
        call_id = self.call_id(record)
        if not record.value:
            raise InvalidEventError(InvalidReason.EMPTY, "empty record")
        try:
            message = json.loads(record.value.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidEventError(InvalidReason.INVALID_UTF8, "the record is not UTF-8") from None
        except json.JSONDecodeError as error:
            raise InvalidEventError(
                InvalidReason.INVALID_JSON, f"not JSON ({error.msg}, column {error.colno})"
            ) from None
        assert self.parser is not None
        events = self.parser.parse(message, call_id, record.timestamp)
        out = []
        for event in events:
            name, fields = event_to_record(event)
            if self.config.wire_format == "json":
                value = json.dumps({"type": name, **fields}).encode()
            else:
                value = self.codec.encode(name, fields)
            out.append(OutputRecord(self.config.output_topic, call_id.encode(), value))
        return out

    def dead_letter(self, record: InputRecord, error: InvalidEventError) -> OutputRecord:
        headers = (
            ("error.reason", error.reason.encode()),
            ("error.detail", error.detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]),
            ("source.topic", record.topic.encode()),
            ("source.partition", str(record.partition).encode()),
            ("source.offset", str(record.offset).encode()),
        )
        return OutputRecord(self.config.dead_letter_topic, record.key, record.value, headers)


def bridge_config(
    settings: Settings,
    fmt: VendorFormat,
    input_topic: str | None = None,
    roles: ChannelRoles = DEFAULT_ROLES,
    call_id_header: str | None = None,
    wire_format: str = "avro",
) -> BridgeConfig:
    """Defaults: input ``<prefix>.asr.<format>``, group and transactional id
    ``<app_id>-bridge-<format>`` (one bridge per format and input topic)."""
    topic = input_topic or settings.topic(f"asr.{fmt}")
    return BridgeConfig(
        fmt=fmt,
        input_topic=topic,
        output_topic=settings.topic("call-events"),
        dead_letter_topic=settings.topic("call-events.dlq"),
        group_id=f"{settings.app_id}-bridge-{fmt}",
        transactional_id=f"{settings.app_id}-bridge-{topic}",
        roles=roles,
        call_id_header=call_id_header,
        wire_format=wire_format,
    )


def connect(settings: Settings, config: BridgeConfig) -> tuple[KafkaConsumer, KafkaProducer]:
    """The bridge's Kafka clients: a read_committed consumer that never commits by itself
    and a transactional producer, its transactions initialised (fencing an older bridge)."""
    options = kafka_python_options(settings.kafka)
    consumer = KafkaConsumer(
        config.input_topic,
        group_id=config.group_id,
        client_id="callfocus-bridge",
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        **options,
    )
    producer = KafkaProducer(
        client_id="callfocus-bridge",
        transactional_id=config.transactional_id,
        acks="all",
        linger_ms=5,
        **options,
    )
    producer.init_transactions()
    return consumer, producer


def polled_records(polled: dict[TopicPartition, list[Any]]) -> Iterator[InputRecord]:
    for records in polled.values():
        for r in records:
            yield InputRecord(
                r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers or ())
            )


def run(settings: Settings, config: BridgeConfig, stop: threading.Event) -> BridgeReport:
    """Bridge until ``stop`` is set; each poll's output and offsets are one transaction."""
    converter = Converter(config)
    consumer, producer = connect(settings, config)
    report = BridgeReport()
    try:
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=500, max_records=500)
            if not polled:
                continue
            producer.begin_transaction()
            try:
                for record in polled_records(polled):
                    for out in converter.convert(record):
                        producer.send(out.topic, key=out.key, value=out.value, headers=list(out.headers))
                        if out.topic == config.dead_letter_topic:
                            report.dead_letters += 1
                        else:
                            report.events += 1
                    report.records += 1
                offsets = {tp: OffsetAndMetadata(rs[-1].offset + 1, "", -1) for tp, rs in polled.items()}
                producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
                producer.commit_transaction()
            except BaseException:
                producer.abort_transaction()
                raise
            report.transactions += 1
    finally:
        consumer.close()
        producer.close()
    return report


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the bridge finishes its transaction and stops."""
    stop = threading.Event()

    def handle(signum: int, _: Any) -> None:
        log.info("signal %d: stopping after the current transaction", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop
