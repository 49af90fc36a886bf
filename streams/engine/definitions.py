"""The version of the definitions that computed a call's values.

Snapshots and summaries carry ``definitions``: the engine's version, a digest of what
else decides the values (the engine settings, the lexicon and the nudge rules) and the
digest of the trackers in force. Two records with different strings were computed under
different definitions: compare them knowingly, never mix them silently (docs/metrics.md,
"Definitions version").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from streams.engine.config import EngineConfig
from streams.engine.lexicon import load_lexicon
from streams.engine.nudges import NudgeRule


def engine_version() -> str:
    try:
        return version("callfocus")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def _canonical(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)  # compiled dataclasses hold 90 as 90.0: the digest must not differ
    return value if isinstance(value, str | bool | type(None)) else str(value)


def definitions_digest(config: EngineConfig, rules: tuple[NudgeRule, ...]) -> str:
    """12 hex digits over the engine settings that change values, the configured language's
    lexicon (with its override file) and the nudge rules."""
    lexicon = load_lexicon(config.language, config.lexicon_file, config.lexicon_dir)
    settings = {f.name: getattr(config, f.name) for f in fields(config) if f.name not in _NOT_DEFINITIONS}
    # spelt out: asdict() of the compiled ScoreConfig leaves its components as objects
    settings["score"] = {name: [c.weight, c.best, c.worst] for name, c in config.score.components().items()}
    document = {
        "engine": settings,
        "lexicon": {f.name: getattr(lexicon, f.name) for f in fields(lexicon)},
        "nudge_rules": [asdict(rule) for rule in rules],
    }
    text = json.dumps(_canonical(document), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# where the lexicon comes from is in its digest by content; the derived fields follow the others
_NOT_DEFINITIONS = frozenset(
    {"lexicon_file", "lexicon_dir", "definitions", "score", "largest_window_ms", "horizon_ms"}
)


def with_definitions(config: EngineConfig, rules: tuple[NudgeRule, ...]) -> EngineConfig:
    """``config`` carrying its definitions version: ``callfocus-<version>+<digest>``."""
    return replace(config, definitions=f"callfocus-{engine_version()}+{definitions_digest(config, rules)}")
