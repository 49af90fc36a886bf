"""Shared fixtures: a real Kafka broker for the session, unique names per test.

Broker, in this order: ``CALLFOCUS_KAFKA_BOOTSTRAP`` (an existing cluster) ->
testcontainers' Kafka module when a Docker engine answers -> the project's own local
broker (``deploy/local/kafka.sh``) on free ports with a throw-away data dir.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.oidc_provider import IdentityProvider

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"

# An existing cluster to test against, if one is given; then the in-process Faust app
# (streams.worker.app, imported by unit tests) is pointed at a port where nothing listens, so
# agent.test_context() can never write to a real broker (e.g. a demo's on 9092).
EXISTING_BOOTSTRAP = os.environ.pop("CALLFOCUS_KAFKA_BOOTSTRAP", None)
os.environ["CALLFOCUS_KAFKA_BOOTSTRAP"] = "127.0.0.1:9"
os.environ["CALLFOCUS_APP_ID"] = os.environ["CALLFOCUS_TOPIC_PREFIX"] = f"unit{uuid.uuid4().hex[:8]}"
os.environ["CALLFOCUS_STORE"] = "memory"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program listens on (on 127.0.0.1, as the demo's services do)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def harper_valley_dir() -> Path:
    path = Path(os.environ.get("CALLFOCUS_HARPER_VALLEY", ROOT.parent / "shared" / "data" / "harper-valley"))
    assert (path / "transcript").is_dir(), (
        f"Harper Valley sample not found at {path} (set CALLFOCUS_HARPER_VALLEY)"
    )
    return path


@pytest.fixture(scope="session")
def local_kafka_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for kafka.sh: free ports, a fresh data dir, the shared jar cache."""
    return {
        **os.environ,
        "CALLFOCUS_LOCAL_KAFKA_PORT": str(free_port()),
        "CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CALLFOCUS_LOCAL_KAFKA_DATA": str(tmp_path_factory.mktemp("kafka")),
        "PYTHON": sys.executable,
    }


@pytest.fixture(scope="session")
def kafka_bootstrap(local_kafka_env: dict[str, str]) -> Iterator[str]:
    if EXISTING_BOOTSTRAP:
        yield EXISTING_BOOTSTRAP
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    started = subprocess.run(
        [str(KAFKA_SH), "start", "--clean"], env=local_kafka_env, capture_output=True, text=True, timeout=240
    )
    assert started.returncode == 0, f"local Kafka did not start:\n{started.stderr}"
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(KAFKA_SH), "stop"], env=local_kafka_env, capture_output=True, timeout=60)


@pytest.fixture
def python_gc() -> Iterator[None]:
    """For a test that changes Python's garbage collector: afterwards it is as before
    (on or off, thresholds) and nothing is left frozen."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()
        else:
            gc.disable()


@pytest.fixture
def unique() -> str:
    """A name no other test uses: topic prefix, consumer group, app id."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_env(kafka_bootstrap: str, unique: str, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """Factory: environment for a callfocus process isolated to this test."""

    def make(**overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLFOCUS_")}
        env.update(
            CALLFOCUS_KAFKA_BOOTSTRAP=kafka_bootstrap,
            CALLFOCUS_TOPIC_PREFIX=unique,
            CALLFOCUS_APP_ID=unique,
            CALLFOCUS_TOPIC_PARTITIONS="4",
            CALLFOCUS_DATA_DIR=str(tmp_path / "worker"),
            CALLFOCUS_WEB_PORT=str(free_port()),
            CALLFOCUS_STORE="memory",
        )
        env.update({f"CALLFOCUS_{k.upper()}": v for k, v in overrides.items()})
        return env

    return make


@pytest.fixture
def provider() -> Iterator[IdentityProvider]:
    """An OIDC identity provider of the test's own: its keys and JWKS served over HTTP."""
    idp = IdentityProvider()
    idp.start()
    yield idp
    idp.stop()
