from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.integration.worker import WorkerProcess, stop_process


@pytest.fixture
def topics(make_env: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Create this test's topics through the real CLI; returns the environment used."""
    return create_topics(make_env())


def create_topics(env: dict[str, str]) -> dict[str, str]:
    """Run `callfocus topics` with ``env`` (it must succeed); returns ``env``."""
    done = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "topics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
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


class PrometheusServer:
    """A real Prometheus (Debian's package) on a free port, scraping the given targets every second."""

    def __init__(self, targets: list[str], workdir: Path, rule_files: Sequence[Path] = ()) -> None:
        import shutil

        from tests.conftest import free_port

        binary = shutil.which("prometheus")
        assert binary, (
            "prometheus not installed: make test installs it (deploy/local/ensure-deps.sh prometheus)"
        )
        self.port = free_port()
        config = workdir / "prometheus.yml"
        rules = "".join(f"  - {str(path)!r}\n" for path in rule_files)
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            + (f"rule_files:\n{rules}" if rules else "")
            + "scrape_configs:\n  - job_name: callfocus\n    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n"
        )
        self._log = (workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "prometheus exited; see prometheus.log"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready after {timeout:.0f} s")

    def query(self, promql: str) -> list[dict]:
        import json
        import urllib.parse
        import urllib.request

        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """Factory: a real Prometheus scraping ``targets`` every second, with optional rule files."""
    servers: list[PrometheusServer] = []

    def start(targets: list[str], rule_files: Sequence[Path] = ()) -> PrometheusServer:
        workdir = tmp_path / f"prometheus-{len(servers)}"
        workdir.mkdir()
        server = PrometheusServer(targets, workdir, rule_files)
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()
