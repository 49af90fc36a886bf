"""Create and check callfocus' topics (kafka-python admin client)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.kafka_clients import kafka_python_options
from streams.settings import COMPACTED_TOPICS, TOPICS, Settings


@dataclass(frozen=True)
class TopicStatus:
    name: str
    partitions: int
    created: bool


def ensure_topics(settings: Settings) -> list[TopicStatus]:
    """Create missing topics; report existing ones with their partition count."""
    admin = KafkaAdminClient(client_id="callfocus-topics", **kafka_python_options(settings.kafka))
    try:
        wanted = [settings.topic(t) for t in TOPICS]
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                settings.topic(suffix),
                settings.topic_partitions,
                settings.topic_replication,
                topic_configs=_configs(settings, suffix),
            )
            for suffix in TOPICS
            if settings.topic(suffix) not in existing
        ]
        if missing:
            # another worker or the Helm job may create them at the same time
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
        # kafka-python 2.x names the field "topic", 3.x "name"
        described = {
            d.get("name", d.get("topic")): len(d["partitions"]) for d in admin.describe_topics(wanted)
        }
        return [TopicStatus(name, described.get(name, 0), name not in existing) for name in wanted]
    finally:
        admin.close()


def _configs(settings: Settings, suffix: str) -> dict[str, str]:
    configs = {"max.message.bytes": str(settings.topic_max_message_bytes)}
    retention = settings.topic_retention_ms.get(suffix)
    if retention is not None:
        configs["retention.ms"] = str(retention)
    if suffix in COMPACTED_TOPICS:
        configs["cleanup.policy"] = "compact"  # the latest record per key (nudge-acks: per nudge)
    return configs
