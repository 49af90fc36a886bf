"""One typed, frozen settings object for every callfocus process.

Values come, in order of precedence, from keyword arguments, ``CALLFOCUS_*``
environment variables, and an optional YAML or TOML file named by
``CALLFOCUS_CONFIG_FILE``. Faust's own unprefixed variables (``BROKER_URL``,
``WEB_PORT`` ...) are deliberately ignored: the app is built with an empty Faust
environment, so only these settings decide.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from streams.engine.config import EngineConfig
from streams.engine.lexicon import available_languages, lexicon_path
from streams.wire.languages import language_problem
from streams.worker.export_labels import LabelLimits
from streams.worker.gc_policy import LongLivedObjects

# callfocus' topics, as suffixes of the topic prefix
TOPICS = ("call-events", "call-events.dlq", "call-metrics", "nudges", "call-summaries")

CONFIG_FILE_ENV = "CALLFOCUS_CONFIG_FILE"
ENV_PREFIX = "CALLFOCUS_"
# CALLFOCUS_* variables that are not settings: read by the codec, the tests and the local
# Kafka scripts, so an unknown-variable warning must not name them
OTHER_VARIABLES = frozenset(
    {CONFIG_FILE_ENV, "CALLFOCUS_SCHEMA_DIR", "CALLFOCUS_HARPER_VALLEY", "CALLFOCUS_CHROMIUM"}
)
OTHER_VARIABLE_PREFIXES = ("CALLFOCUS_LOCAL_KAFKA_",)


class ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the YAML/TOML file named by ``CALLFOCUS_CONFIG_FILE``, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(CONFIG_FILE_ENV)
        if not path:
            return {}
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"{CONFIG_FILE_ENV}={path}: no such file")
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text) if file.suffix == ".toml" else yaml.safe_load(text)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of setting names to values")
        return data


class Settings(BaseSettings):
    """Everything a worker or a tool needs; see the configuration table in README.md."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # Kafka
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    topic_prefix: str = Field(
        "callfocus", description="Topics are <prefix>.call-events, <prefix>.call-metrics ..."
    )
    topic_partitions: int = Field(8, ge=1, description="Partitions of the topics callfocus creates.")
    topic_replication: int = Field(1, ge=1, description="Replication factor of the topics callfocus creates.")
    topic_retention_ms: dict[str, int] = Field(
        default_factory=dict,
        description='retention.ms per topic suffix of created topics, e.g. {"call-metrics": 86400000}.',
    )

    # Faust worker
    app_id: str = Field("callfocus", description="Faust app id: the consumer group and changelog prefix.")
    web_host: str = "0.0.0.0"
    web_port: int = Field(6066, ge=1, le=65535)
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port (on web_host) instead of web_port, e.g. to "
        "let Prometheus reach it and nothing else; none: /metrics is on web_port.",
    )

    @model_validator(mode="after")
    def _metrics_port_is_its_own(self) -> Settings:
        if self.metrics_port == self.web_port:
            raise ValueError("metrics_port is another port than web_port (or unset)")
        return self

    data_dir: Path = Field(Path("/tmp/callfocus"), description="Faust data dir (table stores).")
    store: Literal["memory", "rocksdb"] = Field(
        "rocksdb", description="Table store: rocksdb (durable) or memory."
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "exactly_once"
    table_standby_replicas: int = Field(1, ge=0, description="Standby copies of each table partition.")
    session_timeout_seconds: float = Field(
        60.0, gt=0, description="Consumer session timeout: how long a dead worker holds its partitions."
    )
    input_batches: bool = Field(
        True,
        description="Hand each fetch of the input topic to the pipeline at once, below Faust's "
        "per-message delivery (docs/pipeline.md); false: Faust's agent stream, in batches of "
        "batch_max_events.",
    )
    batch_max_events: int = Field(
        500, ge=1, description="Events per batch taken from Faust's stream (input_batches off)."
    )
    fetch_max_records: int = Field(
        500,
        ge=1,
        description="Records one fetch hands to the pipeline at most (aiokafka's "
        "max_poll_records). Unbounded, a backlog came as one batch of 30,000 records that held "
        "the event loop for seconds; 1,000 and 2,000 did not lower p99 at 5,000 segments/s "
        "(docs/pipeline.md, 'Fetched batches').",
    )
    batch_max_wait_seconds: float = Field(
        0.05, gt=0, description="Longest wait to fill a batch from Faust's stream (input_batches off)."
    )
    commit_interval_seconds: float = Field(
        2.8,
        gt=0,
        description="How often offsets commit (and, under exactly_once, transactions): the "
        "state of every call changed since the last commit is written then, once.",
    )
    fetch_max_wait_seconds: float = Field(
        0.05,
        gt=0,
        le=1.5,
        description="Longest the broker holds the worker's fetch when it has no new data (Faust "
        "fixes 1.5 s; see docs/pipeline.md, 'Fetch wait').",
    )
    fetch_min_bytes: int = Field(
        64 * 1024,
        ge=1,
        description="Data the broker gathers for a fetch of this worker before it answers, unless "
        "fetch_max_wait_seconds passes first: live input comes in fewer, larger fetches "
        "(docs/pipeline.md, 'Fetch size'). 1: answer as soon as there is any.",
    )
    gc_automatic_collections: bool = Field(
        False,
        description="Python's automatic (generational) garbage collections. Off: live, they "
        "paused the worker for 30-120 ms once or twice a second and found almost nothing; the "
        "full collection every gc_full_collection_seconds frees reference cycles "
        "(streams/worker/gc_policy.py).",
    )
    gc_full_collection_seconds: float = Field(
        600.0,
        ge=0,
        description="Python's full garbage collection of every object at most this often; "
        "in between, objects that survived are frozen every 30 s so automatic collections "
        "stay short (streams/worker/gc_policy.py). 0: Python's own schedule (automatic collections "
        "only); else at least 30.",
    )
    gc_young_collection_objects: int = Field(
        10_000,
        ge=0,
        description="With automatic collections on: Python collects its youngest generation "
        "once this many new objects survive (CPython's default: 700; 0 keeps it). Higher: "
        "fewer collections of the short-lived objects each event makes (streams/worker/gc_policy.py).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Restarts and readiness (docs/pipeline.md, "Restarts and readiness")
    group_instance_id: str | None = Field(
        None,
        description="Kafka static group membership: a name unique to this worker and kept "
        "across its restarts (the Helm chart uses the pod name). A worker restarted within "
        "session_timeout_seconds gets its partitions back without a rebalance of the group; "
        "but a stopped one is not replaced until the session timeout. None: dynamic membership.",
    )
    ready_broker_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="/readyz answers 503 once no Kafka broker has answered the worker for this "
        "long (fetches, or a metadata request when there are none).",
    )
    log_repeat_interval_seconds: float = Field(
        5.0,
        ge=0,
        description="A repeated warning or error of the Kafka clients (aiokafka, Faust) is "
        "logged at most once per interval, with the count of the repeats left out. 0: all.",
    )

    # Outputs and call lifecycle
    snapshot_interval_seconds: float = Field(
        1.0, gt=0, description="At most one metrics snapshot per call per interval."
    )
    idle_timeout_seconds: float = Field(
        900.0, gt=0, description="A call with no event this long (wall clock) ends."
    )
    implicit_start: bool = Field(
        False,
        description="A segment or CallEnded of a call that never started starts it (labels "
        "unknown). Off: it goes to the dead-letter topic as call_not_started.",
    )
    ended_call_memory_seconds: float = Field(
        3600.0,
        gt=0,
        description="How long a worker remembers a call that ended (a small marker in the "
        "call-state table), so that any later event of it is dead-lettered as call_ended and "
        "the call is never summarised twice. At least idle_timeout_seconds plus "
        "late_tolerance_seconds.",
    )
    max_record_bytes: int = Field(
        1024 * 1024,
        ge=64 * 1024,
        description="Largest record callfocus writes (the producer's max.request.size); the "
        "topics it creates take records this large plus framing (max.message.bytes). A "
        "dead letter over it is cut, with its original size and SHA-256 in headers.",
    )

    # Metrics
    windows_seconds: tuple[int, ...] = Field((60, 180), description="Rolling windows in media time.")
    max_exported_calls: int = Field(5000, ge=0, description="Per-call series are capped at this many calls.")
    per_call_series: bool = True
    export_grace_seconds: float = Field(30.0, ge=0, description="Series of an ended call stay this long.")
    max_exported_teams: int = Field(
        200,
        ge=0,
        description="At most this many distinct team values are exported as label values at a "
        'time; other teams\' calls are exported with team="other" (counted in '
        "callfocus_label_values_folded_total).",
    )
    max_exported_queues: int = Field(
        200, ge=0, description="At most this many distinct queue values are exported; the rest as other."
    )
    exported_teams: tuple[str, ...] | None = Field(
        None, description="Allow-list: only these teams are exported as themselves, the rest as other."
    )
    exported_queues: tuple[str, ...] | None = Field(
        None, description="Allow-list: only these queues are exported as themselves, the rest as other."
    )
    exported_label_grace_seconds: float = Field(
        300.0,
        ge=0,
        description="A team or queue no call in memory carries keeps its exported value (and the "
        "team its series) this long; then they go and its slot is free.",
    )

    # Nudges
    nudges_enabled: bool = Field(True, description="Run the nudge rules on every changed call.")
    nudge_interval_seconds: float = Field(
        0.5,
        ge=0,
        description="The nudge rules run on a changed call at most once per interval (each run "
        "reads all of its metrics); a change that waits is checked within the interval.",
    )
    nudge_rules_file: Path | None = Field(
        None, description="TOML file overriding nudge rule thresholds (see docs/nudges.md)."
    )
    nudge_snippets: bool = Field(
        False, description="Attach a masked transcript excerpt to nudges (off: evidence values only)."
    )
    nudge_webhook_url: str | None = Field(None, description="Slack-compatible webhook for nudges.")
    nudge_webhook_timeout_seconds: float = Field(2.0, gt=0)
    nudge_webhook_retries: int = Field(3, ge=0, description="Retries with exponential backoff.")

    # Supervisor console
    console_token: SecretStr | None = Field(
        None, description="Bearer token the console and its API require (none: open)."
    )
    console_history_seconds: float = Field(
        900.0, gt=0, description="How far back the console reads snapshots and nudges at start."
    )
    console_idle_seconds: float = Field(
        600.0,
        gt=0,
        description="The console reads Kafka only while used: its reader stops this long after "
        "the last console request with no stream open, and starts again (re-reading "
        "console_history_seconds) on the next one.",
    )

    language: str = Field(
        "en",
        description="Default lexicon language, a language tag such as en or en-US (a CallStarted "
        "language with a lexicon overrides it).",
    )
    lexicon_file: Path | None = Field(None, description="TOML file replacing lexicon lists.")
    lexicon_dir: Path | None = Field(
        None,
        description="Folder of <language>.toml lexicons, searched by language tag before the "
        "shipped folder (streams/lexicons).",
    )
    late_tolerance_seconds: int = Field(60, ge=0, description="Media time a segment may arrive late.")

    @field_validator("topic_retention_ms")
    @classmethod
    def _retention_of_known_topics(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - set(TOPICS)
        if unknown:
            raise ValueError(f"unknown topics {sorted(unknown)}; known: {list(TOPICS)}")
        if any(ms < -1 or ms == 0 for ms in value.values()):
            raise ValueError("retention.ms is a positive number of milliseconds, or -1 (forever)")
        return value

    @field_validator("gc_full_collection_seconds")
    @classmethod
    def _full_collections_after_freezes(cls, value: float) -> float:
        if 0 < value < LongLivedObjects.FREEZE_INTERVAL_SECONDS:
            raise ValueError(
                f"gc_full_collection_seconds is 0 (Python's schedule) or at least the "
                f"{LongLivedObjects.FREEZE_INTERVAL_SECONDS:.0f} s between freezes"
            )
        return value

    @model_validator(mode="after")
    def _cycles_are_collected_somehow(self) -> Settings:
        if not self.gc_automatic_collections and not self.gc_full_collection_seconds:
            raise ValueError(
                "gc_full_collection_seconds is 0 (Python's own schedule) but "
                "gc_automatic_collections is off: reference cycles would never be freed"
            )
        return self

    @model_validator(mode="after")
    def _ends_remembered_long_enough(self) -> Settings:
        needed = self.idle_timeout_seconds + self.late_tolerance_seconds
        if self.ended_call_memory_seconds < needed:
            raise ValueError(
                f"ended_call_memory_seconds {self.ended_call_memory_seconds:g} is shorter than "
                f"idle_timeout_seconds + late_tolerance_seconds ({needed:g})"
            )
        return self

    @property
    def topic_max_message_bytes(self) -> int:
        """max.message.bytes of the topics callfocus creates: a record of
        ``max_record_bytes`` in its batch, with room for the batch's framing."""
        return self.max_record_bytes + 16 * 1024

    @field_validator("language")
    @classmethod
    def _language_is_a_tag(cls, value: str) -> str:
        problem = language_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("lexicon_dir")
    @classmethod
    def _lexicon_dir_is_a_folder(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"lexicon_dir {str(value)!r} is not a folder")
        return value

    @model_validator(mode="after")
    def _language_has_a_lexicon(self) -> Settings:
        if lexicon_path(self.language, self.lexicon_dir) is None:
            have = ", ".join(available_languages(self.lexicon_dir))
            raise ValueError(f"no lexicon for language {self.language!r} (have: {have})")
        return self

    @model_validator(mode="after")
    def _allow_lists_within_caps(self) -> Settings:
        for label, allowed, cap in (
            ("teams", self.exported_teams, self.max_exported_teams),
            ("queues", self.exported_queues, self.max_exported_queues),
        ):
            if allowed is not None and len(set(allowed)) > cap:
                raise ValueError(
                    f"exported_{label} lists {len(set(allowed))} values but max_exported_{label} is "
                    f"{cap}: raise the cap to export them all"
                )
        return self

    def label_limits(self) -> LabelLimits:
        return LabelLimits(
            max_teams=self.max_exported_teams,
            max_queues=self.max_exported_queues,
            teams=None if self.exported_teams is None else frozenset(self.exported_teams),
            queues=None if self.exported_queues is None else frozenset(self.exported_queues),
            grace_seconds=self.exported_label_grace_seconds,
        )

    @field_validator("windows_seconds")
    @classmethod
    def _windows_positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(w <= 0 for w in value):
            raise ValueError("windows_seconds needs at least one positive window")
        return tuple(sorted(set(value)))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, ConfigFileSource(settings_cls))

    def topic(self, name: str) -> str:
        """Full name of one of callfocus' topics, e.g. ``topic("call-events")``."""
        return f"{self.topic_prefix}.{name}"

    @cached_property
    def window_labels(self) -> tuple[str, ...]:
        return (*(f"{w}s" for w in self.windows_seconds), "call")

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            windows_ms=tuple(w * 1000 for w in self.windows_seconds),
            language=self.language,
            lexicon_file=self.lexicon_file,
            lexicon_dir=self.lexicon_dir,
            late_tolerance_ms=self.late_tolerance_seconds * 1000,
        )

    def kafka_client_options(self) -> dict[str, Any]:
        """Security options in the keyword form kafka-python and aiokafka both accept."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        return options

    def kafka_python_options(self) -> dict[str, Any]:
        """:meth:`kafka_client_options` plus the CA file, which only kafka-python takes as a
        path (aiokafka clients get an SSL context instead)."""
        options = self.kafka_client_options()
        if self.kafka_security_protocol in ("SSL", "SASL_SSL") and self.kafka_ssl_cafile is not None:
            options["ssl_cafile"] = str(self.kafka_ssl_cafile)
        return options


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning per ``CALLFOCUS_*`` variable that no setting reads, with the closest
    setting's name: a misspelt variable is otherwise ignored without a word and its
    default silently used."""
    fields = list(Settings.model_fields)
    warnings = []
    for name in sorted(environ):
        field = name.removeprefix(ENV_PREFIX).lower()
        if (
            not name.startswith(ENV_PREFIX)
            or field in Settings.model_fields
            or name in OTHER_VARIABLES
            or name.startswith(OTHER_VARIABLE_PREFIXES)
        ):
            continue
        # compared without the prefix, which every name shares and would make all close
        closest = difflib.get_close_matches(field, fields, n=1, cutoff=0.6)
        hint = f"; did you mean {ENV_PREFIX}{closest[0].upper()}?" if closest else ""
        warnings.append(f"{name} is not a callfocus setting and is ignored{hint}")
    return warnings
