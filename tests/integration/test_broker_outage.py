"""A worker whose broker goes away: /readyz 503 within the configured time, 200 again when
it is back, and the outage's errors logged a few times, not hundreds a second."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import KAFKA_SH, free_port
from tests.integration.worker import WorkerProcess, eventually

READY_BROKER_TIMEOUT = 5.0


def test_readyz_follows_the_broker_and_outage_errors_are_rate_limited(
    tmp_path: Path, make_env: object
) -> None:
    # a private broker: stopping the session's would break the other tests
    kafka_env = {
        **os.environ,
        "CALLFOCUS_LOCAL_KAFKA_PORT": str(free_port()),
        "CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CALLFOCUS_LOCAL_KAFKA_DATA": str(tmp_path / "kafka"),
        "PYTHON": sys.executable,
    }

    def kafka(*args: str) -> str:
        done = subprocess.run(
            [str(KAFKA_SH), *args], env=kafka_env, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    bootstrap = kafka("start", "--clean").splitlines()[-1]
    worker = None
    try:
        env = make_env(  # type: ignore[operator]
            kafka_bootstrap=bootstrap, ready_broker_timeout_seconds=str(READY_BROKER_TIMEOUT)
        )
        done = subprocess.run(
            [sys.executable, "-m", "streams.tools.cli", "topics"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        worker = WorkerProcess(env, tmp_path / "worker.log")
        worker.wait_ready()

        kafka("stop")
        stopped = time.monotonic()
        eventually(lambda: worker.get("/readyz")[0] == 503, timeout=READY_BROKER_TIMEOUT + 5, interval=0.2)
        unready_after = time.monotonic() - stopped
        status, body = worker.get("/readyz")
        assert status == 503 and json.loads(body)["broker_reachable"] is False
        lines_before = len(worker.log_path.read_text(errors="replace").splitlines())
        time.sleep(20)  # the outage
        outage_log = worker.log_path.read_text(errors="replace").splitlines()[lines_before:]
        errors = [line for line in outage_log if re.search(r"\[(ERROR|WARNING)\]", line)]
        assert worker.proc.poll() is None

        kafka("start")
        restarted = time.monotonic()
        eventually(lambda: worker.get("/readyz")[0] == 200, timeout=90, interval=0.5)
        print(
            f"503 {unready_after:.1f} s after the broker stopped; {len(errors)} warning/error lines in "
            f"20 s of outage; 200 {time.monotonic() - restarted:.1f} s after it was back"
        )
        assert unready_after <= READY_BROKER_TIMEOUT + 2
        assert len(errors) < 40, "\n".join(errors[:60])
    finally:
        if worker is not None:
            worker.stop()
        subprocess.run([str(KAFKA_SH), "stop"], env=kafka_env, capture_output=True, timeout=60)
