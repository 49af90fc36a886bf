"""The mypyc build of the per-segment modules: the tests run it, and a stale build never shadows
the sources (streams/native.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams import native

ROOT = Path(__file__).resolve().parents[2]
HARPER_VALLEY = Path(os.environ.get("CALLFOCUS_HARPER_VALLEY", ROOT.parent / "shared/data/harper-valley"))


def test_the_tests_run_the_compiled_engine() -> None:
    # make venv builds it; a missing or stale build would leave the pipeline on the slow path
    assert native.build_state() == "compiled", "build it: python streams/native.py"
    assert native.loaded_state() == "compiled"


def test_make_rebuilds_when_any_compiled_module_changes() -> None:
    line = next(x for x in (ROOT / "Makefile").read_text().splitlines() if x.startswith("ENGINE_SOURCES :="))
    listed = set(re.findall(r"[\w/]+\.py", line))
    assert {f"{name}.py" for name in native.MODULES} <= listed, "add the module to ENGINE_SOURCES"


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The package and its schemas, with the build, somewhere else."""
    shutil.copytree(ROOT / "streams", tmp_path / "streams", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    return tmp_path


def _run(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=True
    )


WHICH_ENGINE = "import streams.engine.call as c, streams.native as n; print(n.loaded_state(), c.__file__)"


def test_a_build_of_other_sources_is_not_used(tree_copy: Path) -> None:
    assert _run(tree_copy, "-c", WHICH_ENGINE).stdout.split()[0] == "compiled"
    call = tree_copy / "streams" / "engine" / "call.py"
    call.write_text(call.read_text() + "\n# edited after the build\n")
    assert native.build_state(tree_copy / "streams") == "stale"
    ran = _run(tree_copy, "-c", WHICH_ENGINE)
    state, path = ran.stdout.split()
    assert (state, Path(path)) == ("source", call)
    assert "older than their sources" in ran.stderr


def test_without_a_build_the_sources_run(tree_copy: Path) -> None:
    for built in (tree_copy / "streams").rglob("*.so"):
        built.unlink()
    assert native.build_state(tree_copy / "streams") == "source"
    ran = _run(tree_copy, "-c", WHICH_ENGINE)
    assert ran.stdout.split()[0] == "source"
    assert ran.stderr == ""


@pytest.mark.parametrize(
    ("source", "calls"),
    [
        (["--format", "harper-valley", "--limit", "40", str(HARPER_VALLEY)], 40),
        ([str(ROOT / "samples" / "calls.jsonl")], 3),
    ],
)
def test_compiled_and_source_engines_score_alike(tree_copy: Path, source: list[str], calls: int) -> None:
    for built in (tree_copy / "streams").rglob("*.so"):
        built.unlink()
    score = ["-m", "streams.tools.cli", "score", "--json", *source]
    from_sources = _run(tree_copy, *score).stdout
    compiled = _run(ROOT, *score).stdout
    assert from_sources == compiled
    assert from_sources.count('"call_id"') >= calls
