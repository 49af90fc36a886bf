"""Redaction in the worker's path: state, snippets, metrics, dead letters; and metrics over
the sample calls identical with redaction on and off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from streams.engine import EngineConfig
from streams.privacy.dead_letters import masked_bytes
from streams.privacy.recordings import redact_recording
from streams.privacy.redaction import KINDS, Redactor
from streams.tools.scoring import score_recording
from streams.tools.sources import Recording, TimedEvent, read_recordings
from streams.wire.events import TranscriptSegment
from streams.worker.batches import BatchApplier, OutputTiming
from streams.worker.calls import CallProcessor, LiveCalls
from streams.worker.exporter import PipelineMetrics
from streams.worker.output_kinds import OutputKind
from tests.unit.batch_fixtures import CODEC, TOPICS, Record

ROOT = Path(__file__).resolve().parents[2]
CARD_TEXT = "my card is four one one one one one one one one one one one one one one one thanks"


def applier(redactor: Redactor, original: bool = False) -> BatchApplier:
    metrics = PipelineMetrics(CollectorRegistry())
    calls = LiveCalls(EngineConfig())
    processor = CallProcessor(CODEC, calls, metrics, nudge_rules=(), redactor=redactor)
    timing = OutputTiming(1.0, 0.5, 1024 * 1024, nudge_snippets=True)
    return BatchApplier(
        processor, CODEC, calls, metrics, TOPICS, timing, redactor=redactor, dead_letter_original=original
    )


def segment(call_id: str, text: str) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "segment_id": "s1",
        "speaker": "CUSTOMER",
        "start_ms": 0,
        "end_ms": 1000,
        "text": text,
    }


def records(call_id: str, text: str) -> list[Record]:
    started = CODEC.encode("CallStarted", {"call_id": call_id, "started_at": 1})
    value = CODEC.encode("TranscriptSegment", segment(call_id, text))
    return [Record(0, 0, call_id.encode(), started), Record(0, 1, call_id.encode(), value)]


def test_segment_text_is_redacted_before_the_state_and_counted() -> None:
    applied = applier(Redactor("mask"))
    applied.apply(records("c1", CARD_TEXT))
    call = applied.live_calls.get("c1")
    assert call is not None
    assert call.last_text == "my card is [card] thanks"  # what nudge snippets are made of
    assert b"four one one" not in call.to_bytes()
    registry = applied.metrics.registry
    assert registry.get_sample_value("callfocus_redactions_total", {"kind": "card"}) == 1.0
    for kind in KINDS:  # every kind's series exists from the start
        assert registry.get_sample_value("callfocus_redactions_total", {"kind": kind}) is not None


def test_redaction_off_keeps_the_text() -> None:
    applied = applier(Redactor("off"))
    applied.apply(records("c1", CARD_TEXT))
    call = applied.live_calls.get("c1")
    assert call is not None and call.last_text == CARD_TEXT


def dead_letter(applied: BatchApplier, record: Record) -> Any:
    outputs = applied.apply([record]).outputs
    (letter,) = [o for o in outputs if o.kind is OutputKind.DEAD_LETTERS]
    return letter


def test_dead_letter_of_a_decodable_record_is_the_redacted_event() -> None:
    # a segment of a call never started: dead-lettered as call_not_started
    value = CODEC.encode("TranscriptSegment", segment("c2", "ssn 123-45-6789 and a@b.com"))
    letter = dead_letter(applier(Redactor("mask")), Record(0, 5, b"c2", value))
    assert letter.headers["error.reason"] == b"call_not_started"
    assert letter.headers["redaction"] == b"event"
    name, record = CODEC.decode(letter.value)
    assert (name, record["text"], record["call_id"]) == ("TranscriptSegment", "ssn [ssn] and [email]", "c2")


def test_dead_letter_of_undecodable_bytes_has_every_digit_masked() -> None:
    raw = b"garbage card 4111 1111 1111 1111 mail john@example.com id 42 \xff"
    letter = dead_letter(applier(Redactor("mask")), Record(0, 6, b"c3", raw))
    assert letter.headers["redaction"] == b"masked"
    assert letter.value == b"garbage card [card] mail [email] id ## \xff"
    assert letter.value == masked_bytes(Redactor("mask"), raw)


def test_dead_letter_keeps_the_original_only_when_allowed() -> None:
    value = CODEC.encode("TranscriptSegment", segment("c4", CARD_TEXT))
    letter = dead_letter(applier(Redactor("mask"), original=True), Record(0, 7, b"c4", value))
    assert letter.value == value and "redaction" not in letter.headers
    letter = dead_letter(applier(Redactor("off")), Record(0, 7, b"c4", value))
    assert letter.value == value and "redaction" not in letter.headers


# -- Metrics over the sample calls --------------------------------------------------------
# The metrics that read how many words a segment has: a number spoken in ten words becomes
# one token ("[phone]"), so words per minute and the sentiment (a mean over the words) move,
# and with them the nudges raised on them. Every other metric is identical.
OVER_WORDS = ("words_per_minute", "sentiment")


def metrics_of(recordings: list[Any], redactor: Redactor) -> list[dict[str, Any]]:
    return [score_recording(redact_recording(redactor, r)[0]).as_dict() for r in recordings]


def not_over_words(metrics: dict[str, Any]) -> dict[str, Any]:
    flat = flatten(metrics)
    return {k: v for k, v in flat.items() if not k.endswith(OVER_WORDS) and k != "nudges"}


def test_sample_calls_identical_with_redaction_on_and_off() -> None:
    recordings = read_recordings(ROOT / "samples/calls.jsonl", "jsonl")
    off = metrics_of(recordings, Redactor("off"))
    assert metrics_of(recordings, Redactor("mask")) == off  # nothing to redact in them
    assert metrics_of(recordings, Redactor("hash", b"k")) == off


def test_harper_valley_metrics_not_over_words_identical_with_redaction_on_and_off(
    harper_valley_dir: Path,
) -> None:
    recordings = read_recordings(harper_valley_dir, "harper-valley")
    redacted = [redact_recording(Redactor("mask"), r)[1] for r in recordings]
    assert sum(sum(counts.values()) for counts in redacted) > 0  # its callers give phone numbers
    off = [not_over_words(m) for m in metrics_of(recordings, Redactor("off"))]
    for redactor in (Redactor("mask"), Redactor("hash", b"k")):
        assert [not_over_words(m) for m in metrics_of(recordings, redactor)] == off


def test_planted_numbers_change_only_metrics_over_words() -> None:
    """Only the metrics over words move (OVER_WORDS); times, turns, questions, references,
    pitch and interruptions stay as they were."""
    recording = read_recordings(ROOT / "samples/calls.jsonl", "jsonl")[0]
    events = []
    for timed in recording.events:
        event = timed.event
        if isinstance(event, TranscriptSegment):
            text = f"{event.text} my number is five five five one two three four five six seven"
            event = TranscriptSegment(
                event.call_id, event.segment_id, event.speaker, event.start_ms, event.end_ms, text
            )
        events.append(TimedEvent(timed.at_ms, event))
    planted = Recording(recording.call_id, tuple(events))
    assert redact_recording(Redactor("mask"), planted)[1] == {"phone": len(planted.segments)}
    off = flatten(metrics_of([planted], Redactor("off"))[0])
    masked = flatten(metrics_of([planted], Redactor("mask"))[0])
    assert off.keys() == masked.keys()
    differing = {key for key in off if off[key] != masked[key]}
    assert differing and all(key.endswith(OVER_WORDS) or key == "nudges" for key in differing), differing


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}
