"""The Gridspace-Stanford Harper Valley corpus layout: ``metadata/<sid>.json`` + ``transcript/<sid>.json``.

Mapping: ``agent`` -> AGENT, ``caller`` -> CUSTOMER; segment times are the corpus'
``start_ms`` / ``start_ms + duration_ms`` (ms from conversation start); the call starts
at ``start_time_ms`` and ends at ``end_time_ms``. The team is the recording session,
the queue the caller's first task. Non-speech markup (``[noise]``, ``<unk>`` ...) is
dropped; a segment left without words carries no speech and is skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.tools.sources import Recording, timeline
from streams.wire.events import CallEnded, CallStarted, Event, Speaker, TranscriptSegment

_MARKUP = re.compile(r"\[[^\]]*\]|<[^>]*>")
_ROLES = {"agent": Speaker.AGENT, "caller": Speaker.CUSTOMER}


def clean_text(text: str) -> str:
    return " ".join(_MARKUP.sub(" ", text).split())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


@dataclass(frozen=True, slots=True)
class CorpusSegment:
    """One corpus segment with the labels the evaluation compares against."""

    segment: TranscriptSegment
    dialog_acts: tuple[str, ...]
    emotion: dict[str, float]


@dataclass(frozen=True, slots=True)
class CorpusCall:
    recording: Recording
    segments: tuple[CorpusSegment, ...]
    caller_rating: float | None


def read_corpus_call(directory: Path, sid: str, transcript: str = "human") -> CorpusCall:
    if transcript not in ("human", "asr"):
        raise ValueError(f"transcript must be 'human' or 'asr', not {transcript!r}")
    meta: dict[str, Any] = json.loads((directory / "metadata" / f"{sid}.json").read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = json.loads(
        (directory / "transcript" / f"{sid}.json").read_text(encoding="utf-8")
    )
    tasks = meta.get("tasks") or [{}]
    started = CallStarted(
        call_id=sid,
        started_at=int(meta["start_time_ms"]),
        agent_id=f"hv-agent-{meta['agent'].get('speaker_id', 'unknown')}",
        team=_slug(meta.get("session", "unknown")),
        queue=_slug(tasks[0].get("task_type", "unknown")),
        seller_org="harper valley national bank;harper valley",
        attributes={"corpus": "harper-valley"},
    )
    events: list[Event] = [started]
    labelled = []
    for row in rows:
        speaker = _ROLES.get(row["speaker_role"], Speaker.OTHER)
        text = clean_text(row["human_transcript"] if transcript == "human" else row["transcript"])
        if not text:
            continue
        start = int(row["start_ms"])
        segment = TranscriptSegment(
            call_id=sid,
            segment_id=str(row["index"]),
            speaker=speaker,
            start_ms=start,
            end_ms=start + int(row["duration_ms"]),
            text=text,
        )
        events.append(segment)
        labelled.append(
            CorpusSegment(segment, tuple(row.get("dialog_acts") or ()), dict(row.get("emotion") or {}))
        )
    events.append(CallEnded(call_id=sid, ended_at=int(meta["end_time_ms"]), reason="hangup"))
    survey = ((meta.get("caller") or {}).get("survey_response") or {}).get("data") or {}
    rating: str | None = survey.get("partner_rating")
    return CorpusCall(timeline(sid, events), tuple(labelled), float(rating) if rating else None)


def call_ids(directory: Path) -> list[str]:
    if not (directory / "metadata").is_dir() or not (directory / "transcript").is_dir():
        raise FileNotFoundError(
            f"{directory}: expected metadata/ and transcript/ folders (Harper Valley layout)"
        )
    return sorted(p.stem for p in (directory / "transcript").glob("*.json"))


def read_harper_valley(directory: Path, transcript: str = "human") -> list[Recording]:
    return [read_corpus_call(directory, sid, transcript).recording for sid in call_ids(directory)]
