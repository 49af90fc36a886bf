"""The per-segment tallies and how /metrics exposes them (fresh registry per test)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.worker.exporter import TallyCollector
from streams.worker.tallies import BucketHistogram, LabelledCount


def exposed(segments: LabelledCount, latency: BucketHistogram) -> dict[tuple[str, tuple[str, ...]], float]:
    registry = CollectorRegistry()
    registry.register(TallyCollector(segments, latency))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(s.labels.values())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_bucket_holds_the_observations_at_most_its_bound() -> None:
    histogram = BucketHistogram((0.1, 0.25, 1.0))
    for value in (0.05, 0.1, 0.2, 0.25, 0.3, 7.0):
        histogram.observe(value)
    assert histogram.cumulative() == [2, 4, 5, 6]
    assert histogram.total == pytest.approx(7.9)


def test_bounds_that_do_not_increase_are_refused() -> None:
    with pytest.raises(ValueError, match="increase"):
        BucketHistogram((0.5, 0.1))
    with pytest.raises(ValueError, match="increase"):
        BucketHistogram((0.1, 0.1))


def test_every_label_value_is_exported_from_zero() -> None:
    segments = LabelledCount(("AGENT", "CUSTOMER", "OTHER"))
    segments.add(1)
    segments.add(1)
    got = exposed(segments, BucketHistogram((0.5,)))
    assert got[("callfocus_segments_processed_total", ("AGENT",))] == 0.0
    assert got[("callfocus_segments_processed_total", ("CUSTOMER",))] == 2.0
    assert got[("callfocus_segments_processed_total", ("OTHER",))] == 0.0
    assert segments.count("CUSTOMER") == 2


def test_the_histogram_is_exposed_with_cumulative_buckets_count_and_sum() -> None:
    latency = BucketHistogram((0.05, 0.25))
    for value in (0.01, 0.2, 0.3):
        latency.observe(value)
    got = exposed(LabelledCount(("AGENT",)), latency)
    assert got[("callfocus_processing_latency_seconds_bucket", ("0.05",))] == 1.0
    assert got[("callfocus_processing_latency_seconds_bucket", ("0.25",))] == 2.0
    assert got[("callfocus_processing_latency_seconds_bucket", ("+Inf",))] == 3.0
    assert got[("callfocus_processing_latency_seconds_count", ())] == 3.0
    assert got[("callfocus_processing_latency_seconds_sum", ())] == pytest.approx(0.51)


def test_a_scrape_of_named_samples_finds_the_tallies() -> None:
    registry = CollectorRegistry()
    segments = LabelledCount(("AGENT",))
    segments.add(0)
    registry.register(TallyCollector(segments, BucketHistogram((0.5,))))
    for name in ("callfocus_segments_processed_total", "callfocus_processing_latency_seconds_count"):
        text = generate_latest(registry.restricted_registry([name])).decode()
        assert [s.name for f in text_string_to_metric_families(text) for s in f.samples] == [name]
