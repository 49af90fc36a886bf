"""The metric engine compiled to C with mypyc, and the check that a build matches its sources.

The engine is plain, type-annotated Python. ``python streams/engine/native.py`` (run by
``make venv`` and the image build) compiles the modules in :data:`MODULES` with mypyc
into extension modules beside their sources, which Python then imports instead. On the
bench's calls this took a segment's apply from 28 to 16 µs and a metrics read from 35 to
21 µs (docs/pipeline.md). Without a build the sources run, with the same results.

A build writes the digest of the sources it compiled. If a source has changed since, the
build is stale: the package then loads every engine module from its source and warns,
so an edit is never shadowed by an old build.

Run as a script, this file imports nothing of ``streams``, so a build never replaces an
extension module it has loaded itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import sysconfig
import tempfile
import warnings
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parent
PACKAGE = "streams.engine"
# in import order: each imports only the ones before it (and pure modules)
MODULES = ("config", "sentiment", "text", "call")
DIGEST_FILE = ".native-sources.sha256"
_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"


def source_digest(directory: Path = ENGINE_DIR) -> str:
    digest = hashlib.sha256(sys.version.encode())
    for name in MODULES:
        digest.update((directory / f"{name}.py").read_bytes())
    return digest.hexdigest()


def build_state(directory: Path = ENGINE_DIR) -> str:
    """``compiled`` (a build of the current sources), ``stale`` (a build of other
    sources) or ``source`` (no build)."""
    if not any((directory / f"{name}{_SUFFIX}").exists() for name in MODULES):
        return "source"
    recorded = directory / DIGEST_FILE
    if recorded.exists() and recorded.read_text().strip() == source_digest(directory):
        return "compiled"
    return "stale"


def load_sources_if_stale() -> str:
    """Called by the package before it imports the engine; returns :func:`build_state`."""
    state = build_state()
    if state == "stale":
        warnings.warn(
            "the compiled metric engine is older than its sources; running the sources "
            "(rebuild: python streams/engine/native.py)",
            RuntimeWarning,
            stacklevel=3,
        )
        for name in MODULES:
            qualified = f"{PACKAGE}.{name}"
            spec = importlib.util.spec_from_file_location(qualified, ENGINE_DIR / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[qualified] = module
            spec.loader.exec_module(module)
    return state


def loaded_state() -> str:
    """``compiled`` if the running engine is the compiled one, else ``source``."""
    module = sys.modules.get(f"{PACKAGE}.call")
    return "compiled" if module is not None and str(module.__file__).endswith(_SUFFIX) else "source"


def build() -> None:
    from mypyc.build import mypycify
    from setuptools import setup

    root = ENGINE_DIR.parents[1]
    # unlinked, not overwritten: a running worker keeps its mapped copy
    for name in MODULES:
        (ENGINE_DIR / f"{name}{_SUFFIX}").unlink(missing_ok=True)
    (ENGINE_DIR.parent / f"engine__mypyc{_SUFFIX}").unlink(missing_ok=True)
    (ENGINE_DIR / DIGEST_FILE).unlink(missing_ok=True)
    digest = source_digest()
    os.chdir(root)  # build_ext --inplace places modules relative to the working directory
    with tempfile.TemporaryDirectory(prefix="callfocus-mypyc-") as tmp:
        extensions = mypycify(
            [str(ENGINE_DIR / f"{name}.py") for name in MODULES],
            opt_level="3",
            group_name=PACKAGE,
            target_dir=f"{tmp}/c",
        )
        setup(
            name="callfocus-engine",
            packages=[],
            py_modules=[],
            ext_modules=extensions,
            script_args=[
                "-q",
                "build_ext",
                "--inplace",
                "--build-temp",
                f"{tmp}/o",
                "--build-lib",
                f"{tmp}/lib",
            ],
        )
    (ENGINE_DIR / DIGEST_FILE).write_text(digest + "\n")
    print(f"compiled the metric engine ({', '.join(MODULES)}) with mypyc")


if __name__ == "__main__":
    build()
