"""`callfocus topics` creates every topic with the configured partitions and retention, idempotently."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from streams.settings import TOPICS


def test_topics_get_partitions_and_retention_and_a_second_run_changes_nothing(
    make_env: Callable[..., dict[str, str]], kafka_bootstrap: str, unique: str
) -> None:
    env = make_env(topic_partitions="3", topic_retention_ms='{"call-metrics": 3600000}')
    command = [sys.executable, "-m", "streams.tools.cli", "topics"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert first.stdout.count("created") == len(TOPICS)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert again.stdout.count("exists") == len(TOPICS) and "created" not in again.stdout

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_topics([f"{unique}.{t}" for t in TOPICS])
        assert {len(d["partitions"]) for d in described} == {3}
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, f"{unique}.{t}")
            for t in ("call-metrics", "nudges", "nudge-acks")
        ]
        described_configs = admin.describe_configs(resources)  # only non-default values
        configs = {
            name: entries for by_name in described_configs.values() for name, entries in by_name.items()
        }
    finally:
        admin.close()
    assert configs[f"{unique}.call-metrics"]["retention.ms"]["value"] == "3600000"
    # every topic takes a record of max_record_bytes in its batch (docs/pipeline.md, "Record sizes")
    for topic in ("call-metrics", "nudges"):
        assert configs[f"{unique}.{topic}"]["max.message.bytes"]["value"] == str(1024 * 1024 + 16 * 1024)
    assert "retention.ms" not in configs.get(f"{unique}.nudges", {})  # the broker's default
    # acknowledgements are the latest per nudge: compacted, never deleted by age
    assert configs[f"{unique}.nudge-acks"]["cleanup.policy"]["value"] == "compact"
    assert configs[f"{unique}.call-metrics"].get("cleanup.policy", {}).get("value", "delete") == "delete"
