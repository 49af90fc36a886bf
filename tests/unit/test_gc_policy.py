"""The worker's garbage-collection policy: frozen survivors, a full collection per interval."""

from __future__ import annotations

import gc
import weakref

import pytest

from streams.gc_policy import LongLivedObjects, collect_young_after
from streams.settings import Settings


class Node:
    link: Node | None = None


def test_survivors_are_frozen_and_frozen_cycles_are_collected_at_the_full_interval() -> None:
    clock = [0.0]
    policy = LongLivedObjects(600.0, monotonic=lambda: clock[0])
    cycle = Node()
    cycle.link = cycle
    ref = weakref.ref(cycle)
    try:
        policy.tick()
        assert gc.get_freeze_count() > 0
        del cycle
        gc.collect()
        assert ref() is not None  # garbage in a cycle waits while frozen
        clock[0] = 599.0
        policy.tick()
        assert ref() is not None and policy.full_collections == 0
        clock[0] = 600.0
        policy.tick()
        assert ref() is None and policy.full_collections == 1
        assert gc.get_freeze_count() > 0  # what survived is frozen again
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(("seconds", "valid"), [(0.0, True), (10.0, False), (30.0, True), (600.0, True)])
def test_full_collection_interval_is_off_or_at_least_a_freeze_interval(seconds: float, valid: bool) -> None:
    if valid:
        assert Settings(gc_full_collection_seconds=seconds).gc_full_collection_seconds == seconds
    else:
        with pytest.raises(ValueError, match="gc_full_collection_seconds"):
            Settings(gc_full_collection_seconds=seconds)


@pytest.mark.parametrize(("objects", "expected"), [(50_000, 50_000), (0, 700)])
def test_the_young_generation_threshold_is_raised_and_the_older_ones_kept(
    objects: int, expected: int
) -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 11, 12)
        collect_young_after(objects)
        assert gc.get_threshold() == (expected, 11, 12)
    finally:
        gc.set_threshold(*before)


def test_the_worker_raises_the_young_threshold_by_default() -> None:
    assert Settings().gc_young_collection_objects == 10_000
