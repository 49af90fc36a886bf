"""The package's layout: what each module is for, no import cycles, nothing built at import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "streams"
LAYERS = ("engine", "wire", "worker", "console", "tools")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports, including under ``TYPE_CHECKING`` and inside functions."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        imported |= {name for name in names if name in known}
    return imported


def test_every_module_opens_with_a_sentence_saying_what_it_is_for() -> None:
    for name, path in modules().items():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, f"{name}: no module docstring"
        first = doc.split("\n\n")[0].strip()
        assert first.endswith((".", ":")), (
            f"{name}: the docstring's first paragraph is not a sentence: {first!r}"
        )


def test_the_package_has_one_folder_per_part() -> None:
    assert all((PACKAGE / layer / "__init__.py").is_file() for layer in LAYERS)
    loose = {p.stem for p in PACKAGE.glob("*.py")}
    assert loose == {"__init__", "settings", "kafka_clients", "errors", "native"}, (
        "a new module belongs in a part's folder"
    )


def test_no_module_imports_itself_back_through_others() -> None:
    known = set(modules())
    graph = {name: imported_modules(path, known) - {name} for name, path in modules().items()}
    # a package imports nothing but what its __init__ says; the edge to a parent package
    # (implicit in Python's import of a submodule) is not a cycle of the code
    graph = {name: {d for d in deps if not name.startswith(d + ".")} for name, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_engine_and_the_wire_format_import_no_kafka_and_no_faust() -> None:
    for name, path in modules().items():
        if name.startswith(("streams.engine", "streams.wire")) or name in (
            "streams.worker.batches",
            "streams.worker.commits",
        ):
            source = path.read_text()
            for library in ("faust", "aiokafka", "kafka", "mode"):
                assert f"import {library}" not in source and f"from {library}" not in source, (name, library)


IMPORT_EVERYTHING = """
import importlib, os, socket, sys

class Watched(dict):
    read = []
    def __getitem__(self, key):
        Watched.read.append(key)
        return super().__getitem__(key)
    def get(self, key, default=None):
        Watched.read.append(key)
        return super().get(key, default)

os.environ = Watched(os.environ)

def refuse(*args, **kwargs):
    raise AssertionError("connected at import")

socket.socket.connect = refuse
for name in sys.argv[1:]:
    importlib.import_module(name)
import gc
import faust
print(sum(isinstance(o, faust.App) for o in gc.get_objects()))
print(sorted({k for k in Watched.read if k.startswith("CALLFOCUS")}))
"""


def test_importing_any_module_builds_nothing_reads_no_setting_and_connects_nowhere() -> None:
    names = sorted(modules())
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, *names],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CALLFOCUS_APP_ID": "import-test"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    apps, settings_read = done.stdout.strip().splitlines()[-2:]
    assert apps == "0", "a module built a Faust app at import"
    assert settings_read == "[]", "a module read CALLFOCUS_* settings at import"
