"""The worker's trackers follow their file: valid -> invalid -> valid (streams/worker/tracker_reload.py)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from pathlib import Path

import pytest

from streams.engine.trackers import EMPTY, TrackerFileError
from streams.settings import Settings
from streams.worker.app import Worker, create_worker
from streams.worker.tracker_reload import TrackerReload

ONE = '[[trackers]]\nname = "escalation"\nphrases = ["manager"]\n'
TWO = ONE + '\n[[trackers]]\nname = "cancel"\nphrases = ["cancel"]\n'
BAD = ONE + '\n[[trackers]]\nname = "cancel"\nspeaker = "boss"\nphrases = ["cancel"]\n'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rewrite(path: Path, text: str) -> None:
    """A new version of the file, with a later modification time even on a coarse clock."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_valid_then_invalid_then_valid(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "trackers.toml"
    path.write_text(ONE)
    clock = Clock()
    reload = TrackerReload(path, interval_seconds=10, clock=clock)
    assert reload.current.names == ("escalation",)
    first = reload.current
    assert (reload.reloads_ok, reload.reloads_error, reload.tracker_count) == (0, 0, 1)

    rewrite(path, TWO)
    assert not reload.check()  # not due yet: the file is only looked at every interval
    clock.now += 10
    assert reload.check()
    assert reload.current.names == ("escalation", "cancel")
    assert (reload.reloads_ok, reload.reloads_error, reload.tracker_count) == (1, 0, 2)
    good = reload.current

    rewrite(path, BAD)
    clock.now += 10
    with caplog.at_level(logging.INFO, logger="streams.worker.tracker_reload"):
        assert not reload.check()
        clock.now += 10
        assert not reload.check()  # the same bad version: not logged again
    assert reload.current is good  # the trackers in force stay
    assert (reload.reloads_ok, reload.reloads_error) == (1, 1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert f"{path}:7: tracker 2 (cancel): speaker 'boss'" in errors[0]
    assert "the 2 in force" in errors[0] and good.digest in errors[0]
    assert reload.last_error is not None and reload.last_error.startswith(f"{path}:7:")

    rewrite(path, ONE)
    clock.now += 10
    assert reload.check()
    assert reload.current.digest == first.digest and reload.digest == first.digest
    assert (reload.reloads_ok, reload.reloads_error, reload.last_error) == (2, 1, None)


def test_the_same_content_again_is_no_reload(tmp_path: Path) -> None:
    path = tmp_path / "trackers.yaml"
    path.write_text("trackers:\n  - name: a\n    phrases: [x]\n")
    clock = Clock()
    reload = TrackerReload(path, interval_seconds=5, clock=clock)
    before = reload.current
    rewrite(path, path.read_text())  # touched: a new time, the same bytes
    clock.now += 5
    assert not reload.check()
    assert reload.current is before and reload.reloads_ok == 0


def test_a_file_that_goes_away_keeps_the_trackers_in_force(tmp_path: Path) -> None:
    path = tmp_path / "trackers.toml"
    path.write_text(ONE)
    clock = Clock()
    reload = TrackerReload(path, interval_seconds=1, clock=clock)
    path.unlink()
    clock.now += 1
    assert not reload.check()
    assert reload.current.names == ("escalation",)
    assert reload.reloads_error == 1 and "cannot read" in (reload.last_error or "")
    path.write_text(TWO)
    clock.now += 1
    assert reload.check() and reload.tracker_count == 2


def test_a_configmap_update_swaps_a_symlink(tmp_path: Path) -> None:
    """The kubelet writes a ConfigMap's new version to a new folder and repoints a symlink."""
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "trackers.toml").write_text(ONE)
    (tmp_path / "..data").symlink_to("v1")
    path = tmp_path / "trackers.toml"
    path.symlink_to("..data/trackers.toml")
    clock = Clock()
    reload = TrackerReload(path, interval_seconds=1, clock=clock)
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "trackers.toml").write_text(TWO)
    (tmp_path / "..data_tmp").symlink_to("v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    clock.now += 1
    assert reload.check()
    assert reload.current.names == ("escalation", "cancel")


def test_no_file_is_no_trackers_and_never_reads(tmp_path: Path) -> None:
    reload = TrackerReload(None, clock=Clock())
    assert reload.current is EMPTY and not reload.check() and reload.tracker_count == 0


def test_a_bad_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "trackers.toml"
    path.write_text(BAD)
    with pytest.raises(TrackerFileError, match=r"trackers\.toml:7: "):
        TrackerReload(path)
    with pytest.raises(TrackerFileError, match="cannot read"):
        TrackerReload(tmp_path / "none.toml")


def test_the_worker_holds_the_trackers_and_a_timer_reloads_them(tmp_path: Path) -> None:
    path = tmp_path / "trackers.toml"
    path.write_text(ONE)
    worker = create_worker(Settings(trackers_file=path, trackers_reload_seconds=0.01))
    assert worker.trackers.current.names == ("escalation",)
    timers = [inspect.unwrap(task) for task in worker.app._app_tasks]
    assert worker.trackers.run_check in timers
    rewrite(path, TWO)
    time.sleep(0.02)
    asyncio.run(worker.trackers.run_check())
    assert worker.trackers.current.names == ("escalation", "cancel")


def test_a_worker_without_a_trackers_file_has_none_and_no_timer(worker: Worker) -> None:
    assert worker.trackers.current is EMPTY
    assert worker.trackers.run_check not in [inspect.unwrap(task) for task in worker.app._app_tasks]
