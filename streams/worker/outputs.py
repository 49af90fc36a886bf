"""Output records (Avro, ``schemas/``) built from a call's metrics: snapshots and summaries."""

from __future__ import annotations

from typing import Any

from streams.engine import CallMetrics, WindowMetrics
from streams.engine.catalogue import CALL_METRICS, METRICS, Scope
from streams.engine.nudges import Nudge
from streams.worker.calls import LiveCall


def metrics_record(call: LiveCall, metrics: CallMetrics, emitted_at_ms: int) -> dict[str, Any]:
    """A ``CallMetrics`` snapshot of one call."""
    labels = call.labels
    return {
        "call_id": call.call_id,
        "agent_id": labels.agent_id,
        "team": labels.team,
        "queue": labels.queue,
        "media_time_ms": metrics.media_time_ms,
        "emitted_at": emitted_at_ms,
        "ended": call.state.ended is not None,
        "windows": [
            {name: getattr(w, name) for name in WindowMetrics.SNAPSHOT_FIELDS} for w in metrics.windows
        ],
        **{name: getattr(metrics, name) for name in _CALL_METRIC_NAMES},
        "score_components": [part.to_dict() for part in metrics.score_components],
        "tracker_hits": _tracker_hits(metrics),
        "definitions": metrics.definitions,
        "language": metrics.language,
        "lexicon_language": metrics.lexicon_language,
        "language_supported": metrics.language_supported,
        "roles_swapped_suspected": metrics.roles_swapped_suspected,
        "roles_exchanged": metrics.roles_exchanged,
    }


_CALL_METRIC_NAMES = tuple(m.name for m in CALL_METRICS)
# the summary's metrics: (name, from the whole-call window) in catalogue order
_SUMMARY_METRICS = tuple((m.name, m.scope is Scope.WINDOWS) for m in METRICS if m.in_summary)


def _tracker_hits(metrics: CallMetrics) -> list[dict[str, Any]]:
    return [{"tracker": name, "hits": hits} for name, hits in metrics.tracker_hits]


def summary_record(
    call: LiveCall, metrics: CallMetrics, nudge_ids: list[str] | None = None
) -> dict[str, Any]:
    """The ``CallSummary`` of an ended call: every whole-call metric."""
    labels = call.labels
    state = call.state
    whole = metrics.window("call")
    ended = state.ended
    started_at = state.meta.started_at if state.meta is not None else None
    return {
        "call_id": call.call_id,
        "agent_id": labels.agent_id,
        "team": labels.team,
        "queue": labels.queue,
        "started_at": started_at,
        "ended_at": ended.ended_at if ended is not None else 0,
        "end_reason": ended.reason if ended is not None else None,
        "duration_seconds": metrics.media_time_ms / 1000,
        "segments": state.segments_final,
        **{name: getattr(whole if windowed else metrics, name) for name, windowed in _SUMMARY_METRICS},
        "nudges": list(nudge_ids or ()),
        "tracker_hits": _tracker_hits(metrics),
        "definitions": metrics.definitions,
        "language": metrics.language,
        "lexicon_language": metrics.lexicon_language,
        "language_supported": metrics.language_supported,
        "roles_swapped_suspected": metrics.roles_swapped_suspected,
        "roles_exchanged": metrics.roles_exchanged,
    }


def nudge_record(call: LiveCall, nudge: Nudge, created_at_ms: int, snippet: str | None) -> dict[str, Any]:
    """The ``Nudge`` record of one raised nudge."""
    labels = call.labels
    return {
        "nudge_id": nudge.nudge_id,
        "call_id": call.call_id,
        "agent_id": labels.agent_id,
        "team": labels.team,
        "type": nudge.type,
        "severity": nudge.severity,
        "message": nudge.message,
        "evidence": nudge.evidence,
        "media_time_ms": nudge.media_time_ms,
        "created_at": created_at_ms,
        "snippet": snippet,
    }
