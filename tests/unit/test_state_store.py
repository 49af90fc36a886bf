"""The call-state table's store: Faust's RocksDB store without the write-ahead log."""

from __future__ import annotations

from pathlib import Path

import faust
import rocksdict

from streams.settings import Settings
from streams.worker.app import create_worker
from streams.worker.state_store import CallStateStore


def _store(tmp_path: Path) -> CallStateStore:
    app = faust.App("cf-store-test", datadir=str(tmp_path), store="callfocus-rocksdb://")
    table = app.Table("call-state", key_type=bytes, value_type=bytes, partitions=1)
    store = table.data
    assert isinstance(store, CallStateStore)
    return store


def _log_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*.log") if f.name[0].isdigit())


def test_the_worker_opens_the_call_state_table_with_this_store(tmp_path: Path) -> None:
    worker = create_worker(Settings(store="rocksdb", data_dir=tmp_path))
    assert isinstance(worker.call_state.data, CallStateStore)


def test_puts_read_back_without_growing_the_write_ahead_log(tmp_path: Path) -> None:
    store = _store(tmp_path)
    db = store._db_for_partition(0)
    states = {f"call-{i}".encode(): bytes([i % 251]) * 6_000 for i in range(200)}
    for key, value in states.items():
        db[key] = value
    assert all(db[key] == value for key, value in states.items())
    path = store.partition_path(0)
    # 1.2 MB put; a logged write would have put all of it in the log first
    assert _log_bytes(path) < 10_000


def test_the_same_puts_with_rocksdb_defaults_do_grow_the_log(tmp_path: Path) -> None:
    # the check above can fail: RocksDB's default options log every put
    db = rocksdict.Rdict(str(tmp_path / "plain"))
    for i in range(200):
        db[f"call-{i}".encode()] = bytes([i % 251]) * 6_000
    assert _log_bytes(tmp_path / "plain") > 1_000_000
    db.close()
