"""The customer-focus metric engine: pure Python, no Kafka, no Faust.

The worker, ``callfocus score``, the benchmarks and the tests all call this code, so
the same segments give the same metrics wherever they are computed. Built, it runs
compiled with mypyc (:mod:`streams.engine.native`).
"""

from streams.engine.native import load_sources_if_stale

load_sources_if_stale()  # before the engine's modules are imported

from streams.engine.call import CallMetrics, CallState, SegmentOutcome, WindowMetrics  # noqa: E402
from streams.engine.config import EngineConfig, ScoreComponent, ScoreConfig  # noqa: E402

__all__ = [
    "CallMetrics",
    "CallState",
    "EngineConfig",
    "ScoreComponent",
    "ScoreConfig",
    "SegmentOutcome",
    "WindowMetrics",
]
