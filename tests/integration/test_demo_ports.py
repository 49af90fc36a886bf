"""`make demo` against the real scripts and a real Prometheus: a taken port stops it before
anything starts, with one line naming the port and its variable; the Prometheus link it
prints opens a page that exists."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import KAFKA_SH, ROOT, free_port
from tests.integration.conftest import PrometheusServer

DEMO_SH = ROOT / "deploy" / "local" / "demo.sh"
PROMETHEUS_PAGE = ROOT / "deploy" / "local" / "prometheus_page.py"


def demo_env(tmp_path: Path, **ports: int) -> dict[str, str]:
    """Free ports for everything the demo listens on, except those given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLFOCUS_", "DEMO_"))}
    for variable in (
        "CALLFOCUS_WEB_PORT",
        "CALLFOCUS_LOCAL_KAFKA_PORT",
        "CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT",
        "DEMO_PROMETHEUS_PORT",
        "DEMO_ALERTMANAGER_PORT",
    ):
        env[variable] = str(ports.get(variable, free_port()))
    env["CALLFOCUS_LOCAL_KAFKA_DATA"] = str(tmp_path / "kafka")
    env["CALLFOCUS_LOCAL_KAFKA_CACHE"] = os.environ.get(
        "CALLFOCUS_LOCAL_KAFKA_CACHE", str(ROOT / "deploy" / "local" / ".cache")
    )
    env["DEMO_SECONDS"] = "1"  # should the check let it through, it ends by itself
    return env


@pytest.mark.parametrize(
    ("variable", "label"),
    [
        ("CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT", "Kafka's controller"),
        ("CALLFOCUS_WEB_PORT", "the worker's web server"),
    ],
)
def test_the_demo_stops_before_starting_anything_on_a_taken_port(
    tmp_path: Path, held_port: int, variable: str, label: str
) -> None:
    env = demo_env(tmp_path, **{variable: held_port})
    try:
        done = subprocess.run(["bash", str(DEMO_SH)], env=env, capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run([str(KAFKA_SH), "stop"], env=env, capture_output=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"demo: port {held_port} ({label}) is already in use by another program: "
        f"stop it or set {variable} to a free port"
    ]
    assert not (tmp_path / "kafka").exists()  # Kafka was not even formatted


def test_kafka_sh_refuses_a_taken_port(tmp_path: Path, held_port: int) -> None:
    env = demo_env(tmp_path, CALLFOCUS_LOCAL_KAFKA_PORT=held_port)
    env["PYTHON"] = sys.executable
    done = subprocess.run([str(KAFKA_SH), "start"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"local-kafka: port {held_port} (Kafka) is already in use by another program: "
        "stop it or set CALLFOCUS_LOCAL_KAFKA_PORT to a free port"
    )
    assert not (tmp_path / "kafka").exists()


def test_the_prometheus_link_the_demo_prints_opens_a_page(
    start_prometheus: Callable[..., PrometheusServer],
) -> None:
    server = start_prometheus([f"127.0.0.1:{free_port()}"])
    base = f"http://127.0.0.1:{server.port}"
    done = subprocess.run(
        [sys.executable, str(PROMETHEUS_PAGE), base], capture_output=True, text=True, timeout=60, check=True
    )
    url = done.stdout.strip()
    assert url in (f"{base}/alerts", f"{base}/classic/alerts"), url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert "Alerts" in response.read().decode()
