from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.worker import WorkerProcess


@pytest.fixture
def topics(make_env: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Create this test's topics through the real CLI; returns the environment used."""
    env = make_env()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "topics"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return env


@pytest.fixture
def start_worker(topics: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: start real worker processes on this test's topics; all stopped at teardown."""
    workers: list[WorkerProcess] = []

    def start(**overrides: str) -> WorkerProcess:
        from tests.conftest import free_port

        env = {**topics, "CALLFOCUS_WEB_PORT": str(free_port())}
        env.update({f"CALLFOCUS_{k.upper()}": v for k, v in overrides.items()})
        worker = WorkerProcess(env, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()
