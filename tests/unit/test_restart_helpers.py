"""Repeated Kafka-client log lines are rate-limited; broker contact for /readyz; the worker's
consumer holds input partitions until the seek after a rebalance."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams.worker.broker_contact import BrokerContact
from streams.worker.fetch import CommittedEndsConsumerThread
from streams.worker.log_rate import RepeatedLogFilter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(name: str, msg: str, level: int = logging.ERROR, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeats_are_dropped_within_the_interval_and_counted_on_the_next_line() -> None:
    clock = Clock()
    limit = RepeatedLogFilter(5.0, clock=clock)
    lines = []
    for second in range(20):  # 200 lines a second for 20 s, as in a broker outage
        for attempt in range(200):
            clock.now = 100.0 + second + attempt / 200
            r = record("aiokafka.conn", "Unable connect to node with id %s: %s", logging.ERROR, 1, "refused")
            if limit.filter(r):
                lines.append(r.getMessage())
    assert len(lines) == 4  # at 0, 5, 10, 15 s
    assert lines[0] == "Unable connect to node with id 1: refused"
    assert lines[1] == "Unable connect to node with id 1: refused (999 more in the last 5 s)"


def test_other_messages_loggers_and_levels_pass() -> None:
    clock = Clock()
    limit = RepeatedLogFilter(5.0, clock=clock)
    assert limit.filter(record("aiokafka.consumer.fetcher", "Failed fetch messages from %s"))
    assert not limit.filter(record("aiokafka.consumer.fetcher", "Failed fetch messages from %s"))
    assert limit.filter(record("aiokafka.conn", "Failed fetch messages from %s"))  # another logger
    assert limit.filter(record("aiokafka.conn", "another message"))
    assert limit.filter(record("streams.worker.agents", "x")) and limit.filter(
        record("streams.worker.agents", "x")
    )
    info = record("faust.tables", "Highwater", logging.INFO)
    assert limit.filter(info) and limit.filter(info)  # only warnings and errors are limited


def test_the_broker_is_unreachable_after_the_timeout_without_an_answer() -> None:
    clock = Clock()
    contact = BrokerContact(10.0, clock=clock)
    assert contact.reachable
    assert contact.fetched(1_000)
    clock.now += 9.0
    assert not contact.fetched(1_000)  # the same fetch response again: no news
    assert contact.reachable
    clock.now += 1.5
    assert not contact.reachable
    assert contact.fetched(2_000)
    assert contact.reachable
    clock.now += 11
    contact.answered()
    assert contact.reachable and contact.silent_for() == 0.0


def test_the_worker_consumer_holds_input_partitions_until_the_seek(monkeypatch: pytest.MonkeyPatch) -> None:
    from faust.types import TP

    from streams.settings import Settings
    from streams.worker.app import create_worker
    from streams.worker.fetch import CallfocusConsumer

    settings = Settings()
    app = create_worker(settings).app
    consumer = app.consumer
    assert isinstance(consumer, CallfocusConsumer)
    assert isinstance(consumer._new_consumer_thread(), CommittedEndsConsumerThread)
    input_tp = TP(settings.topic("call-events"), 0)
    changelog_tp = TP(f"{app.conf.id}-call-state-changelog", 0)
    monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: tp == changelog_tp)
    monkeypatch.setattr(consumer, "_active_partitions", set())
    monkeypatch.setattr(consumer, "_paused_partitions", {input_tp, changelog_tp})
    monkeypatch.setattr(consumer, "_held_partitions", set())
    assert consumer.seek_pending
    consumer.resume_partitions({input_tp, changelog_tp})
    assert consumer._paused_partitions == {input_tp}  # the changelog recovers; the input waits
    assert consumer._held_partitions == {input_tp}


def test_the_seek_releases_the_held_input_partitions_once_per_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After perform_seek of the current generation the held input resumes, and later
    resumes pass at once; a seek overtaken by a newer rebalance releases nothing."""
    from faust.transport.drivers.aiokafka import Consumer
    from faust.types import TP

    from streams.settings import Settings
    from streams.worker.app import create_worker
    from streams.worker.fetch import CallfocusConsumer

    settings = Settings()
    app = create_worker(settings).app
    consumer = app.consumer
    assert isinstance(consumer, CallfocusConsumer)
    input_tp = TP(settings.topic("call-events"), 0)
    resumed: list[set[TP]] = []
    generation = [7]
    rebalance_during_seek = [False]

    async def seek(self: Consumer) -> None:
        if rebalance_during_seek[0]:
            generation[0] += 1

    monkeypatch.setattr(Consumer, "perform_seek", seek)
    monkeypatch.setattr(Consumer, "resume_partitions", lambda self, tps: resumed.append(set(tps)))
    monkeypatch.setattr(type(app), "consumer_generation_id", property(lambda self: generation[0]))
    monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: False)
    monkeypatch.setattr(consumer, "_held_partitions", set())
    monkeypatch.setattr(consumer, "_sought_generation", None)

    consumer.resume_partitions({input_tp})
    assert resumed == [set()] and consumer._held_partitions == {input_tp}
    rebalance_during_seek[0] = True
    asyncio.run(consumer.perform_seek())
    assert consumer._held_partitions == {input_tp}, "a newer rebalance seeks again: still held"
    rebalance_during_seek[0] = False
    asyncio.run(consumer.perform_seek())
    assert resumed[-1] == {input_tp} and consumer._held_partitions == set()
    assert not consumer.seek_pending
    consumer.resume_partitions({input_tp})
    assert resumed[-1] == {input_tp}, "after the seek of this generation nothing is held"
