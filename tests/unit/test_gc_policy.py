"""The worker's garbage-collection policy: no automatic collections by default, frozen
survivors when they are on, a full collection per interval."""

from __future__ import annotations

import gc
import weakref

import pytest

from streams.settings import Settings
from streams.worker import gc_policy
from streams.worker.gc_policy import LongLivedObjects, collect_young_after


class Node:
    link: Node | None = None


@pytest.mark.usefixtures("python_gc")
def test_survivors_are_frozen_and_frozen_cycles_are_collected_at_the_full_interval() -> None:
    clock = [0.0]
    policy = LongLivedObjects(600.0, monotonic=lambda: clock[0])
    cycle = Node()
    cycle.link = cycle
    ref = weakref.ref(cycle)
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


@pytest.mark.usefixtures("python_gc")
def test_with_automatic_collections_off_cycles_wait_for_the_full_interval() -> None:
    clock = [0.0]
    policy = LongLivedObjects(600.0, monotonic=lambda: clock[0])
    gc_policy.apply(automatic=False, young_objects=10_000)
    assert not gc.isenabled()
    cycles = []
    for _ in range(50_000):  # far more than any young threshold: nothing collects them
        cycle = Node()
        cycle.link = cycle
        cycles.append(weakref.ref(cycle))
    del cycle
    assert all(ref() is not None for ref in cycles)
    clock[0] = 600.0
    policy.tick()
    assert all(ref() is None for ref in cycles)


@pytest.mark.parametrize(
    ("seconds", "automatic", "valid"),
    [(0.0, True, True), (0.0, False, False), (10.0, True, False), (30.0, False, True), (600.0, False, True)],
)
def test_full_collection_interval_is_at_least_a_freeze_interval_and_off_only_with_automatic_ones(
    seconds: float, automatic: bool, valid: bool
) -> None:
    settings = {"gc_full_collection_seconds": seconds, "gc_automatic_collections": automatic}
    if valid:
        assert Settings(**settings).gc_full_collection_seconds == seconds
    else:
        with pytest.raises(ValueError, match="gc_full_collection_seconds"):
            Settings(**settings)


@pytest.mark.usefixtures("python_gc")
@pytest.mark.parametrize(("objects", "expected"), [(50_000, 50_000), (0, 700)])
def test_the_young_generation_threshold_is_raised_and_the_older_ones_kept(
    objects: int, expected: int
) -> None:
    gc.set_threshold(700, 11, 12)
    collect_young_after(objects)
    assert gc.get_threshold() == (expected, 11, 12)


@pytest.mark.usefixtures("python_gc")
def test_automatic_collections_come_back_with_the_young_threshold_raised() -> None:
    gc.disable()
    gc_policy.apply(automatic=True, young_objects=50_000)
    assert gc.isenabled() and gc.get_threshold()[0] == 50_000


def test_the_worker_has_automatic_collections_off_by_default() -> None:
    settings = Settings()
    assert not settings.gc_automatic_collections
    assert settings.gc_full_collection_seconds == 600.0
