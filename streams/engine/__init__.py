"""The customer-focus metric engine: pure Python, no Kafka, no Faust.

The worker, ``callfocus score``, the benchmarks and the tests all call this code, so
the same segments give the same metrics wherever they are computed. Built, it runs
compiled with mypyc (:mod:`streams.native`).
"""

from streams.engine.call import CallMetrics, CallState, ScorePart, SegmentOutcome, WindowMetrics
from streams.engine.config import EngineConfig, ScoreComponent, ScoreConfig

__all__ = [
    "CallMetrics",
    "CallState",
    "EngineConfig",
    "ScoreComponent",
    "ScoreConfig",
    "ScorePart",
    "SegmentOutcome",
    "WindowMetrics",
]
