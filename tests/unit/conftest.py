"""Fixtures of the unit tests: a worker built in this process (no broker), its consumer and input topic."""

from __future__ import annotations

import pytest

from streams.settings import Settings
from streams.worker.app import Worker, create_worker
from streams.worker.fetch import BatchingConsumer


@pytest.fixture
def worker() -> Worker:
    """A worker from the test environment's settings: built, not started."""
    return create_worker(Settings())


@pytest.fixture
def consumer(worker: Worker) -> BatchingConsumer:
    """The worker's own consumer (built, not started: no broker)."""
    built = worker.app.consumer
    assert isinstance(built, BatchingConsumer)
    return built


@pytest.fixture
def input_topic(worker: Worker) -> str:
    return worker.settings.topic("call-events")
