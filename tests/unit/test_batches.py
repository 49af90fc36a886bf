"""The batch applier with in-memory records and a fake clock: which outputs a batch causes."""

from __future__ import annotations

import hashlib

from tests.unit.batch_fixtures import CODEC, TOPICS, FakeClock, Input, make_applier


def test_a_record_the_codec_cannot_read_becomes_a_dead_letter_with_its_source() -> None:
    applier = make_applier(FakeClock())
    bad = Input().record(3, b"c1", b"\x00not avro")
    applied = applier.apply([bad])
    (letter,) = applied.outputs
    assert (letter.kind, letter.topic, letter.partition, letter.source) == (
        "dead_letters",
        TOPICS.dead_letters,
        3,
        bad,
    )
    assert letter.value == bad.value and letter.key == b"c1"
    assert letter.headers is not None
    assert letter.headers["source.offset"] == b"0" and letter.headers["source.partition"] == b"3"
    assert letter.headers["error.reason"] == b"unknown_format"
    assert applied.call_ids == set()


def test_a_dead_letter_too_large_for_a_record_is_cut_and_identified() -> None:
    applier = make_applier(FakeClock(), max_record_bytes=2048)
    value = b"\x00" + b"x" * 5000
    (letter,) = applier.apply([Input().record(0, b"k", value)]).outputs
    assert letter.value is not None and len(letter.value) == 2048 - 1024 - 1
    assert letter.headers is not None
    assert letter.headers["original.size"] == b"5001"
    assert letter.headers["original.sha256"] == hashlib.sha256(value).hexdigest().encode()


def test_a_changed_call_gets_one_snapshot_per_interval_in_its_last_records_transaction() -> None:
    clock = FakeClock()
    applier = make_applier(clock)
    feed = Input()
    first = [feed.started(1, "c1"), feed.segment(1, "c1", 0), feed.segment(1, "c1", 1)]
    applied = applier.apply(first)
    (snapshot,) = applied.outputs
    assert (snapshot.kind, snapshot.topic, snapshot.source) == ("metrics", TOPICS.metrics, first[-1])
    assert CODEC.decode(snapshot.value or b"")[1]["media_time_ms"] == 2000
    assert applied.call_ids == {"c1"}
    clock.now += 0.5  # within the interval: the change waits
    assert applier.apply([feed.segment(1, "c1", 2)]).outputs == []
    clock.now += 0.5
    later = feed.segment(1, "c1", 3)
    (snapshot,) = applier.apply([later]).outputs
    assert snapshot.source == later and CODEC.decode(snapshot.value or b"")[1]["media_time_ms"] == 4000


def test_an_ended_call_gets_its_last_snapshot_and_its_summary() -> None:
    applier = make_applier(FakeClock())
    feed = Input()
    applier.apply([feed.started(0, "c1"), feed.segment(0, "c1", 0)])
    end = feed.ended(0, "c1")
    outputs = applier.apply([end]).outputs
    assert [(o.kind, o.topic, o.source) for o in outputs] == [
        ("metrics", TOPICS.metrics, end),
        ("summaries", TOPICS.summaries, end),
    ]
    name, summary = CODEC.decode(outputs[1].value or b"")
    assert name == "CallSummary" and summary["call_id"] == "c1"


def test_every_changed_call_is_left_for_the_next_commit_with_its_last_record() -> None:
    applier = make_applier(FakeClock())
    feed = Input()
    batch = [feed.started(0, "a"), feed.started(1, "b"), feed.segment(0, "a", 0)]
    applier.apply(batch)
    assert applier.live_calls.unwritten.begin() == 2
    taken = {key: source for key, _, source in applier.live_calls.unwritten.take(10)}
    assert taken == {b"a": batch[2], b"b": batch[1]}
    assert applier.processed_offsets == {0: 1, 1: 0}


def test_a_quiet_call_gets_the_snapshot_of_its_last_change_outside_any_transaction() -> None:
    clock = FakeClock()
    applier = make_applier(clock)
    feed = Input()
    applier.apply([feed.started(0, "c1"), feed.segment(0, "c1", 0)])
    clock.now += 0.2
    applier.apply([feed.segment(0, "c1", 1)])  # within the interval: no snapshot yet
    assert [snapshot for _, snapshot, _ in applier.quiet_calls()] == [None]  # not quiet yet
    clock.now += 1.0
    ((call, snapshot, nudges),) = list(applier.quiet_calls())
    assert call.call_id == "c1"
    assert snapshot is not None and snapshot.source is None and nudges == []
    assert CODEC.decode(snapshot.value or b"")[1]["media_time_ms"] == 2000
    assert list(applier.quiet_calls()) == []  # nothing pending any more


def test_a_silent_call_is_ended_through_the_input_topic_once() -> None:
    clock = FakeClock()
    applier = make_applier(clock)
    feed = Input()
    applier.apply([feed.started(2, "c1"), feed.segment(2, "c1", 0)])
    assert applier.idle_call_ends(60.0) == []
    clock.now += 61
    (end,) = applier.idle_call_ends(60.0)
    assert (end.kind, end.topic, end.key, end.source) == ("idle_call_ends", TOPICS.call_events, b"c1", None)
    assert CODEC.decode(end.value or b"") == (
        "CallEnded",
        {"call_id": "c1", "ended_at": 1061000, "reason": "timeout"},
    )
    assert applier.idle_call_ends(60.0) == []  # not sent twice while it travels
