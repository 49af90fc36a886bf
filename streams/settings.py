"""One typed, frozen settings object for every callfocus process, with typed views of its groups.

Values come, in order of precedence, from keyword arguments, ``CALLFOCUS_*``
environment variables, and an optional YAML or TOML file named by
``CALLFOCUS_CONFIG_FILE``. Faust's own unprefixed variables (``BROKER_URL``,
``WEB_PORT`` ...) are deliberately ignored: the app is built with an empty Faust
environment, so only these settings decide.

Every setting belongs to one group (:data:`GROUPS`): ``settings.kafka`` is the Kafka
connection, ``settings.console`` the console's settings ..., each a frozen dataclass, so
code can take only the group it needs. The README's settings tables are generated from
the groups and the fields' descriptions (``python -m streams.tools.settings_doc``).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from streams.engine.config import EngineConfig
from streams.engine.lexicon import available_languages, lexicon_path
from streams.engine.trackers import TrackerFileError, load_trackers
from streams.privacy.redaction import RedactionMode, Redactor
from streams.tools.times import time_zone
from streams.wire.languages import language_problem
from streams.worker.export_labels import LabelLimits
from streams.worker.gc_policy import LongLivedObjects

# callfocus' topics, as suffixes of the topic prefix
TOPICS = ("call-events", "call-events.dlq", "call-metrics", "nudges", "call-summaries", "nudge-acks")
# topics callfocus creates with cleanup.policy=compact: the latest record per key is what counts
COMPACTED_TOPICS = frozenset({"nudge-acks"})

CONFIG_FILE_ENV = "CALLFOCUS_CONFIG_FILE"
ENV_PREFIX = "CALLFOCUS_"
# CALLFOCUS_* variables that are not settings: read by the codec, the tests and the local
# Kafka scripts, so an unknown-variable warning must not name them
OTHER_VARIABLES = frozenset(
    {CONFIG_FILE_ENV, "CALLFOCUS_SCHEMA_DIR", "CALLFOCUS_HARPER_VALLEY", "CALLFOCUS_CHROMIUM"}
)
OTHER_VARIABLE_PREFIXES = ("CALLFOCUS_LOCAL_KAFKA_",)

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
RoleCheck = Literal["off", "flag", "swap"]


# -- Groups -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SettingsView:
    """A typed, frozen view of one group of settings.

    A view's field is the setting of the same name, or of that name after one of the
    view's ``PREFIXES`` (``KafkaConnection.bootstrap`` is ``kafka_bootstrap``).
    """

    PREFIXES: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class KafkaConnection(SettingsView):
    """Where the Kafka brokers are and how every callfocus client authenticates to them."""

    PREFIXES: ClassVar[tuple[str, ...]] = ("kafka_",)
    bootstrap: str
    security_protocol: SecurityProtocol
    sasl_mechanism: SaslMechanism
    sasl_username: str | None
    sasl_password: SecretStr | None
    ssl_cafile: Path | None
    # a default: code and tests build connections without it
    connect_timeout_seconds: float = 5.0

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL")


@dataclass(frozen=True)
class TopicSettings(SettingsView):
    """The names of callfocus' topics and how ``callfocus topics`` creates them."""

    PREFIXES: ClassVar[tuple[str, ...]] = ("topic_",)
    prefix: str
    partitions: int
    replication: int
    retention_ms: dict[str, int]

    def name(self, suffix: str) -> str:
        """Full name of one of callfocus' topics, e.g. ``name("call-events")``."""
        return f"{self.prefix}.{suffix}"


@dataclass(frozen=True)
class WorkerSettings(SettingsView):
    """The worker process: its consumer group, web server, table store and guarantees."""

    app_id: str
    web_host: str
    web_port: int
    metrics_port: int | None
    data_dir: Path
    store: Literal["memory", "rocksdb"]
    processing_guarantee: Literal["at_least_once", "exactly_once"]
    table_standby_replicas: int
    session_timeout_seconds: float
    group_instance_id: str | None
    ready_broker_timeout_seconds: float
    log_level: Literal["debug", "info", "warning", "error"]
    log_repeat_interval_seconds: float


@dataclass(frozen=True)
class CallSettings(SettingsView):
    """When calls start and end, and the outputs written for them."""

    snapshot_interval_seconds: float
    idle_timeout_seconds: float
    implicit_start: bool
    ended_call_memory_seconds: float
    max_record_bytes: int


@dataclass(frozen=True)
class EngineSettings(SettingsView):
    """What the metric engine measures: windows, language and lexicons, late segments, trackers."""

    windows_seconds: tuple[int, ...]
    language: str
    lexicon_file: Path | None
    lexicon_dir: Path | None
    late_tolerance_seconds: int
    trackers_file: Path | None
    trackers_reload_seconds: float
    role_check: RoleCheck


@dataclass(frozen=True)
class ExportSettings(SettingsView):
    """What the worker exports to Prometheus, and the bounds on its series."""

    max_exported_calls: int
    per_call_series: bool
    export_grace_seconds: float
    max_exported_teams: int
    max_exported_queues: int
    exported_teams: tuple[str, ...] | None
    exported_queues: tuple[str, ...] | None
    exported_label_grace_seconds: float


@dataclass(frozen=True)
class NudgeSettings(SettingsView):
    """The nudge rules and where their nudges go besides the nudges topic."""

    PREFIXES: ClassVar[tuple[str, ...]] = ("nudges_", "nudge_")
    enabled: bool
    rules_file: Path | None
    snippets: bool
    webhook_url: str | None
    webhook_timeout_seconds: float
    webhook_retries: int


@dataclass(frozen=True)
class PrivacySettings(SettingsView):
    """Personal data in transcripts: redacted at ingest, before it reaches anything kept (docs/privacy.md)."""

    redaction_mode: RedactionMode
    redaction_hash_key: SecretStr | None
    dead_letter_original: bool

    def redactor(self) -> Redactor:
        key = self.redaction_hash_key.get_secret_value().encode() if self.redaction_hash_key else None
        return Redactor(self.redaction_mode, key)


@dataclass(frozen=True)
class ConsoleSettings(SettingsView):
    """The supervisor console: who may use it and what it reads from Kafka."""

    PREFIXES: ClassVar[tuple[str, ...]] = ("console_",)
    token: SecretStr | None
    history_seconds: float
    idle_seconds: float
    # the agent page: ended calls read from call-summaries
    summary_history_days: float
    max_summaries_per_agent: int
    max_summaries: int
    # nudge acknowledgements read from nudge-acks
    max_acks: int
    # day cells of the worker's scorecard table, read from its changelog
    max_scorecard_cells: int
    # supervisors' OIDC bearer tokens (streams/console/oidc.py): none of these set, no OIDC
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_jwks_file: Path | None = None
    oidc_teams_claim: str = "teams"
    oidc_teams_prefix: str = ""
    oidc_subject_claim: str = "sub"
    oidc_leeway_seconds: float = 30.0
    oidc_jwks_timeout_seconds: float = 5.0
    oidc_jwks_cache_seconds: float = 900.0
    oidc_jwks_refresh_seconds: float = 30.0

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_jwks_url is not None or self.oidc_jwks_file is not None


@dataclass(frozen=True)
class ScorecardSettings(SettingsView):
    """Per-agent and per-team scorecards the worker keeps in its scorecard table (docs/coaching.md)."""

    PREFIXES: ClassVar[tuple[str, ...]] = ("scorecard_",)
    days: int
    timezone: str
    max_exported_agents: int

    def zone(self) -> ZoneInfo:
        return time_zone(self.timezone)


@dataclass(frozen=True)
class TuningSettings(SettingsView):
    """Knobs measured for speed and latency; their defaults suit most deployments."""

    input_batches: bool
    fetch_max_records: int
    batch_max_events: int
    batch_max_wait_seconds: float
    commit_interval_seconds: float
    fetch_max_wait_seconds: float
    fetch_min_bytes: int
    nudge_interval_seconds: float
    gc_automatic_collections: bool
    gc_full_collection_seconds: float
    gc_young_collection_objects: int


View = TypeVar("View", bound=SettingsView)


@dataclass(frozen=True)
class Group:
    """One group of settings: the ``Settings`` attribute that views it, and its title."""

    attribute: str
    title: str
    view: type[SettingsView]


GROUPS = (
    Group("kafka", "Kafka connection", KafkaConnection),
    Group("topics", "Topics", TopicSettings),
    Group("worker", "Worker", WorkerSettings),
    Group("calls", "Calls and outputs", CallSettings),
    Group("engine", "Metrics engine", EngineSettings),
    Group("export", "Prometheus export", ExportSettings),
    Group("nudges", "Nudges", NudgeSettings),
    Group("privacy", "Privacy", PrivacySettings),
    Group("console", "Supervisor console", ConsoleSettings),
    Group("scorecards", "Scorecards", ScorecardSettings),
    Group("tuning", "Tuning", TuningSettings),
)


def setting_name(view: type[SettingsView], field_name: str) -> str:
    """The ``Settings`` field behind a view's field, e.g. ``kafka_bootstrap`` for
    ``KafkaConnection.bootstrap``."""
    for prefix in view.PREFIXES:
        if prefix + field_name in Settings.model_fields:
            return prefix + field_name
    return field_name


def group_settings(group: Group) -> list[str]:
    """The names of a group's settings, in the order of its view."""
    return [setting_name(group.view, field.name) for field in fields(group.view)]


# -- Settings file ------------------------------------------------------------------------
class SettingsFileError(ValueError):
    """The file named by ``CALLFOCUS_CONFIG_FILE`` is missing or not a mapping of settings."""


class _YamlMapping(YamlConfigSettingsSource):
    """pydantic-settings' YAML source, refusing a document that is not a mapping (a list
    or a string would otherwise fail deep inside pydantic-settings with an AttributeError)."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data = super()._read_file(file_path)
        if not isinstance(data, dict):
            raise SettingsFileError(f"{file_path}: expected a mapping of setting names to values")
        return data


def config_file_source(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource | None:
    """The YAML or TOML (by suffix) file named by ``CALLFOCUS_CONFIG_FILE``, if any."""
    path = os.environ.get(CONFIG_FILE_ENV)
    if not path:
        return None
    file = Path(path)
    if not file.is_file():  # pydantic-settings would skip a missing file without a word
        raise SettingsFileError(f"{CONFIG_FILE_ENV}={path}: no such file")
    try:
        if file.suffix == ".toml":
            return TomlConfigSettingsSource(settings_cls, toml_file=file)
        return _YamlMapping(settings_cls, yaml_file=file)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        # YAML's message spans lines (the context, then the mark): keep it on one
        problem = " ".join(str(error).split())
        raise SettingsFileError(f"{CONFIG_FILE_ENV}={path}: {problem}") from error


class Settings(BaseSettings):
    """Everything a worker or a tool needs; see the configuration table in README.md."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # Kafka connection
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    kafka_security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`."
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        "SCRAM-SHA-512", description="`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (SASL protocols only)."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (a secret, never logged).")
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="CA bundle that signed the brokers' certificates (TLS protocols); none: the system CAs.",
    )
    kafka_connect_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="How long a command, and the worker at start, waits for a Kafka broker to answer "
        "and accept its login before it exits with status 3 and says why.",
    )

    # Topics
    topic_prefix: str = Field(
        "callfocus",
        description="Topics are `<prefix>.call-events`, `.call-events.dlq`, `.call-metrics`, `.nudges`, "
        "`.call-summaries`, `.nudge-acks`.",
    )
    topic_partitions: int = Field(
        8,
        ge=1,
        description="Partitions of the topics callfocus creates (the most workers that share the work).",
    )
    topic_replication: int = Field(1, ge=1, description="Replication factor of the topics callfocus creates.")
    topic_retention_ms: dict[str, int] = Field(
        default_factory=dict,
        description="JSON object: `retention.ms` per topic suffix of the topics callfocus creates, e.g. "
        '`{"call-metrics": 86400000}`; a topic not named keeps the broker\'s default.',
    )

    # Worker
    app_id: str = Field("callfocus", description="Faust app id: the consumer group and changelog prefix.")
    web_host: str = Field("0.0.0.0", description="Address the worker's HTTP server binds.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the worker's HTTP server.")
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve `/metrics` on this port (on the web host) instead of the web port, e.g. to "
        "let Prometheus reach it and nothing else; none: `/metrics` is on the web port.",
    )
    data_dir: Path = Field(Path("/tmp/callfocus"), description="Faust data dir (table stores).")
    store: Literal["memory", "rocksdb"] = Field(
        "rocksdb",
        description="Table store: `rocksdb` (local, without RocksDB's write-ahead log: the changelog is "
        "what is durable; streams/worker/state_store.py) or `memory` (tests).",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "exactly_once",
        description="`exactly_once`: Kafka transactions for state, snapshots, summaries and dead letters; "
        "or `at_least_once` (what a restart restores under each: docs/deploy.md, Upgrades and rollback).",
    )
    table_standby_replicas: int = Field(
        1, ge=0, description="Standby copies of each call-state table partition."
    )
    session_timeout_seconds: float = Field(
        60.0, gt=0, description="Consumer session timeout: how long a dead worker holds its partitions."
    )
    group_instance_id: str | None = Field(
        None,
        description="Kafka static group membership: a name unique to this worker and kept "
        "across its restarts (the Helm chart uses the pod name). A restarted worker gets its "
        "partitions back without a rebalance (ready 2-4 s after a SIGKILL, ~72 s without); one "
        "stopped for good holds them until the session timeout. None: dynamic membership.",
    )
    ready_broker_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="`/readyz` answers 503 once no Kafka broker has answered the worker for this "
        "long (fetches, or a metadata request when there are none).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Worker log level.")
    log_repeat_interval_seconds: float = Field(
        5.0,
        ge=0,
        description="A repeated warning or error of the Kafka clients (aiokafka, Faust) is "
        "logged at most once per interval, with the count of the repeats left out. 0: all.",
    )

    # Calls and outputs
    snapshot_interval_seconds: float = Field(
        1.0, gt=0, description="At most one `call-metrics` snapshot per call per interval."
    )
    idle_timeout_seconds: float = Field(
        900.0, gt=0, description="A call with no event this long (wall clock) ends, with reason `timeout`."
    )
    implicit_start: bool = Field(
        False,
        description="A segment or `CallEnded` of a call that never started starts it (labels "
        "`unknown`). Off: it goes to the dead-letter topic as `call_not_started`.",
    )
    ended_call_memory_seconds: float = Field(
        3600.0,
        gt=0,
        description="How long a worker remembers a call that ended (a small marker in the "
        "call-state table), so that any later event of it is dead-lettered as `call_ended` and "
        "the call is never summarised twice. At least the idle timeout plus the late tolerance.",
    )
    max_record_bytes: int = Field(
        1024 * 1024,
        ge=64 * 1024,
        description="Largest record callfocus writes (the producer's `max.request.size`); the "
        "topics it creates take records this large plus 16 KiB (`max.message.bytes`). A "
        "dead letter over it is cut, with `original.size` and `original.sha256` headers.",
    )

    # Metrics engine
    windows_seconds: tuple[int, ...] = Field(
        (60, 180), description="Rolling windows in media time (plus the whole call), a JSON list."
    )
    language: str = Field(
        "en",
        description="Default lexicon, a language tag such as `en` or `en-US` that has a lexicon (a "
        "call's `CallStarted.language` picks its own; a language without one is unsupported, its lexical "
        "metrics null: docs/languages.md).",
    )
    lexicon_file: Path | None = Field(
        None,
        description="TOML file whose lists replace the default language's lexicon lists "
        "(streams/lexicons/en.toml).",
    )
    lexicon_dir: Path | None = Field(
        None,
        description="Folder of `<language>.toml` lexicons, searched by language tag before the "
        "shipped streams/lexicons/ (adds or replaces languages; a file resolving outside the folder "
        "is ignored; listed once at start).",
    )
    late_tolerance_seconds: int = Field(
        60,
        ge=0,
        description="Media time a segment may arrive late and still count exactly; later ones go to "
        "the dead-letter topic as `too_late`.",
    )
    trackers_file: Path | None = Field(
        None,
        description="TOML or YAML file of user-defined trackers: phrases counted per call "
        "(docs/trackers.md). Checked at start; the worker reloads it when it changes, and keeps "
        "the trackers in force if the new version is invalid. None: no trackers.",
    )
    trackers_reload_seconds: float = Field(
        10.0,
        gt=0,
        description="How often the worker looks at `TRACKERS_FILE` for a new version (a `stat`; "
        "the file is read only when it changed).",
    )
    role_check: RoleCheck = Field(
        "flag",
        description="Speaker-role check (docs/metrics.md, Speaker roles): `flag` marks calls whose "
        "AGENT and CUSTOMER look swapped (`roles_swapped_suspected`), `swap` also scores their later "
        "segments with the roles exchanged, `off` does neither.",
    )

    # Prometheus export
    max_exported_calls: int = Field(
        5000,
        ge=0,
        description="Per-call series are capped at this many calls per worker; the rest are counted "
        "in `callfocus_calls_unexported`.",
    )
    per_call_series: bool = Field(True, description="Per-call series; `false` exports aggregates only.")
    export_grace_seconds: float = Field(
        30.0, ge=0, description="An ended call's series stay this long, so that its final values get scraped."
    )
    max_exported_teams: int = Field(
        200,
        ge=0,
        description="At most this many distinct `team` label values are exported per worker; other "
        'teams\' calls are exported as `team="other"` (counted in '
        '`callfocus_label_values_folded_total{label="team"}`).',
    )
    max_exported_queues: int = Field(200, ge=0, description="The same for `queue`.")
    exported_teams: tuple[str, ...] | None = Field(
        None,
        description='Allow-list, JSON (`["sales", "support"]`): only these teams are exported as '
        "themselves, the rest as `other`; at most `MAX_EXPORTED_TEAMS` values.",
    )
    exported_queues: tuple[str, ...] | None = Field(None, description="The same for queues.")
    exported_label_grace_seconds: float = Field(
        300.0,
        ge=0,
        description="A team or queue no call in memory carries stays exported this long; then its "
        "slot frees and the team's nudge and score series go (a team that returns starts them at 0: "
        "a counter reset).",
    )

    # Nudges
    nudges_enabled: bool = Field(
        True, description="Run the nudge rules (docs/nudges.md) on every changed call."
    )
    nudge_rules_file: Path | None = Field(
        None, description="TOML file overriding rule thresholds, ages, cooldowns (docs/nudges.md)."
    )
    nudge_snippets: bool = Field(
        False,
        description="Attach a masked excerpt of the latest segment to each nudge (off: evidence "
        "values only).",
    )
    nudge_webhook_url: str | None = Field(None, description="Slack-compatible webhook for nudges.")
    nudge_webhook_timeout_seconds: float = Field(2.0, gt=0, description="Timeout of one webhook request.")
    nudge_webhook_retries: int = Field(
        3, ge=0, description="Retries of a failed webhook request, with exponential backoff."
    )

    # Privacy
    redaction_mode: RedactionMode = Field(
        "mask",
        description="Personal data in transcripts (card, social security, routing, account and phone "
        "numbers, e-mail addresses, birth dates) is replaced at ingest: `mask` by its kind (`[card]`), "
        "`hash` by its kind and a keyed hash (`[card:fkbmaeohjcpd]`, the same number alike across "
        "calls), `off` kept as it came (docs/privacy.md).",
    )
    redaction_hash_key: SecretStr | None = Field(
        None,
        description="The secret key of `hash` mode's HMAC-SHA256 (required by it: unkeyed hashes of "
        "card and social security numbers are reversed by trying every number).",
    )
    dead_letter_original: bool = Field(
        False,
        description="The dead-letter topic keeps refused records as they came. Off: redacted, as the "
        "worker would have kept them (docs/privacy.md); `REDACTION_MODE=off` keeps them as they came.",
    )

    # Supervisor console
    console_token: SecretStr | None = Field(
        None, description="Bearer token the console's API and feed require (a secret; none: open)."
    )
    console_history_seconds: float = Field(
        900.0, gt=0, description="How far back the console reads snapshots and nudges at start."
    )
    console_idle_seconds: float = Field(
        600.0,
        gt=0,
        description="The console reads Kafka only while used: its reader stops this long after "
        "the last console request with no stream open, and starts again (re-reading "
        "the history) on the next one.",
    )
    # Supervisor console: OIDC bearer tokens, each supervisor limited to their teams (docs/console.md)
    console_oidc_issuer: str | None = Field(
        None, description="OIDC: the `iss` a supervisor's token must carry (your identity provider's issuer)."
    )
    console_oidc_audience: str | None = Field(
        None, description="OIDC: the `aud` a supervisor's token must carry (the console's client id)."
    )
    console_oidc_jwks_url: str | None = Field(
        None,
        description="OIDC: URL of the identity provider's signing keys (JWKS), fetched when first needed, "
        "cached, re-fetched for a token naming an unknown key. Setting it (or the file) turns OIDC on.",
    )
    console_oidc_jwks_file: Path | None = Field(
        None, description="OIDC: the signing keys (JWKS) in a file instead of a URL; checked at start."
    )
    console_oidc_teams_claim: str = Field(
        "teams",
        description="OIDC: the claim listing the supervisor's teams (a JSON list, or a space or comma "
        "separated string); a dotted path (`realm_access.teams`) reaches a nested claim.",
    )
    console_oidc_teams_prefix: str = Field(
        "",
        description="OIDC: only values of the teams claim starting with this prefix are teams, the "
        "prefix removed (`callfocus-team-`: a groups claim that lists other groups too).",
    )
    console_oidc_subject_claim: str = Field(
        "sub", description="OIDC: the claim naming the supervisor in the access log (a dotted path too)."
    )
    console_oidc_leeway_seconds: float = Field(
        30.0, ge=0, le=300, description="OIDC: clock skew allowed on `exp`, `nbf` and `iat`."
    )
    console_oidc_jwks_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="OIDC: timeout of one JWKS fetch."
    )
    console_oidc_jwks_cache_seconds: float = Field(
        900.0, gt=0, description="OIDC: the keys fetched are used this long, then fetched again."
    )
    console_oidc_jwks_refresh_seconds: float = Field(
        30.0,
        gt=0,
        description="OIDC: at most one JWKS fetch per interval for tokens naming an unknown key (a "
        "rotated key is found at once; forged key ids cannot flood the identity provider).",
    )
    # Supervisor console: the agent page and nudge acknowledgements
    console_summary_history_days: float = Field(
        14.0,
        gt=0,
        description="How many days of ended calls (`<prefix>.call-summaries`) the console reads for "
        "the agent page's calls and trend; the topic's retention caps what there is to read.",
    )
    console_max_summaries_per_agent: int = Field(
        200,
        ge=1,
        description="Ended calls the console keeps per agent (the newest); older ones leave the "
        "agent page and its trend.",
    )
    console_max_summaries: int = Field(
        50_000,
        ge=1,
        description="Ended calls the console keeps in all (the oldest go first): about 1.5 KB each "
        "in a worker's memory while the console is used (docs/console.md, Sizing).",
    )
    console_max_acks: int = Field(
        20_000,
        ge=1,
        description="Nudge acknowledgements the console keeps (the latest acknowledged); it reads "
        "`<prefix>.nudge-acks`, compacted, from the beginning.",
    )
    console_max_scorecard_cells: int = Field(
        200_000,
        ge=1,
        description="Day cells of the worker's scorecard table the console keeps (the least recently "
        "written go first): about 1.5 KB each while the console is used; it reads "
        "`<app_id>-scorecards-changelog`, compacted, from the beginning (docs/coaching.md, Scorecard table).",
    )

    # Scorecards
    scorecard_days: int = Field(
        35,
        ge=1,
        le=3660,
        description="Days the scorecard table keeps each day's cards, and an agent's totals after "
        "their last call; about 1.5 KB per agent and day per input partition "
        "(docs/coaching.md, Sizing).",
    )
    scorecard_timezone: str = Field(
        "UTC",
        description="IANA time zone of the scorecard table's days (a contact center's day is local), "
        "e.g. `America/Chicago`.",
    )
    scorecard_max_exported_agents: int = Field(
        500,
        ge=0,
        description="Per-agent scorecard series are exported for at most this many agents per "
        "worker (the first by team and agent id); the others are added up in agent `other` of "
        "their team (docs/coaching.md, Series count).",
    )

    # Tuning: each description says why the default is what it is
    input_batches: bool = Field(
        True,
        description="Each fetch of the input topic goes to the pipeline at once, below Faust's "
        "per-event delivery, which cost more CPU than the metrics (docs/pipeline.md); `false`: "
        "Faust's agent stream, in batches of `BATCH_MAX_EVENTS`.",
    )
    fetch_max_records: int = Field(
        500,
        ge=1,
        description="Records one fetch hands to the pipeline at most (aiokafka's "
        "`max_poll_records`). Unbounded, a backlog came as one batch of 30,000 records that held "
        "the event loop for seconds; 1,000 and 2,000 did not lower p99 at 5,000 segments/s.",
    )
    batch_max_events: int = Field(
        500, ge=1, description="Events per batch taken from Faust's stream (`INPUT_BATCHES` off)."
    )
    batch_max_wait_seconds: float = Field(
        0.05,
        gt=0,
        description="Longest wait to fill a batch from Faust's stream (`INPUT_BATCHES` off): "
        "bounds the latency a slow input adds.",
    )
    commit_interval_seconds: float = Field(
        2.8,
        gt=0,
        description="Offsets (and, under exactly-once, transactions) commit this often, and only by "
        "time: each commit writes the state of every call changed since the last one, once, so "
        "longer intervals write less but outputs wait longer to be committed.",
    )
    fetch_max_wait_seconds: float = Field(
        0.05,
        gt=0,
        le=1.5,
        description="Longest the broker holds the worker's fetch when it has no new data: "
        "Faust's fixed 1.5 s held the input back under load (docs/pipeline.md).",
    )
    fetch_min_bytes: int = Field(
        64 * 1024,
        ge=1,
        description="Data the broker gathers for the worker's fetch before it answers early: live "
        "input in fewer, larger fetches, a fifth less CPU at 5,000 segments/s for up to the fetch "
        "wait more latency at low rates (docs/pipeline.md). 1: answer with any data.",
    )
    nudge_interval_seconds: float = Field(
        0.5,
        ge=0,
        description="The nudge rules run on a changed call at most once per interval, since each "
        "run reads all of its metrics; a change that waits is checked within the interval.",
    )
    gc_automatic_collections: bool = Field(
        False,
        description="Python's automatic garbage collections. Off: live at 5,000 segments/s they "
        "paused the worker 30-120 ms once or twice a second and found almost nothing (reference "
        "counting frees what a segment makes); the full collection below frees reference cycles "
        "(streams/worker/gc_policy.py).",
    )
    gc_full_collection_seconds: float = Field(
        600.0,
        ge=0,
        description="Python's full garbage collection at most this often, to free reference cycles "
        "(a worker holding 5,000 calls paused 420-500 ms per full collection); objects that "
        "survived are frozen every 30 s in between, so automatic collections stay short. 0: "
        "Python's own schedule, only with automatic collections on; else at least 30.",
    )
    gc_young_collection_objects: int = Field(
        10_000,
        ge=0,
        description="With automatic collections on: Python collects its youngest generation "
        "once this many new objects survive (CPython: 700, which spent 1.9-2.3 s of a 15 s backlog "
        "run collecting; pauses grow with the threshold, up to 224 ms at 50,000). 0: Python's "
        "threshold.",
    )

    @model_validator(mode="after")
    def _hash_mode_has_a_key(self) -> Settings:
        if self.redaction_mode == "hash" and not (
            self.redaction_hash_key and self.redaction_hash_key.get_secret_value()
        ):
            raise ValueError(
                "redaction_mode hash needs redaction_hash_key: unkeyed hashes of card and social "
                "security numbers are reversed by trying every number"
            )
        return self

    @model_validator(mode="after")
    def _console_oidc_is_complete(self) -> Settings:
        from streams.console.oidc import settings_problem

        problem = settings_problem(self.console)
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _metrics_port_is_its_own(self) -> Settings:
        if self.metrics_port == self.web_port:
            raise ValueError("metrics_port is another port than web_port (or unset)")
        return self

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

    @field_validator("scorecard_timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        time_zone(value)  # its TimeError is a ValueError: pydantic reports it
        return value

    @field_validator("lexicon_dir")
    @classmethod
    def _lexicon_dir_is_a_folder(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"lexicon_dir {str(value)!r} is not a folder")
        return value

    @field_validator("lexicon_file")
    @classmethod
    def _lexicon_file_reads(cls, value: Path | None) -> Path | None:
        if value is not None:
            problem = lexicon_file_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("nudge_rules_file")
    @classmethod
    def _nudge_rules_file_reads(cls, value: Path | None) -> Path | None:
        if value is not None:
            problem = nudge_rules_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("trackers_file")
    @classmethod
    def _trackers_file_is_valid(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                load_trackers(value)
            except TrackerFileError as error:
                raise ValueError(str(error)) from None
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
        file = config_file_source(settings_cls)
        return (init_settings, env_settings, *([file] if file else []))

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
            role_check=self.role_check,
        )

    # the groups' views (GROUPS), built on each use: a cached one would outlive model_copy(update=...)
    @property
    def kafka(self) -> KafkaConnection:
        return self._view(KafkaConnection)

    @property
    def topics(self) -> TopicSettings:
        return self._view(TopicSettings)

    @property
    def worker(self) -> WorkerSettings:
        return self._view(WorkerSettings)

    @property
    def calls(self) -> CallSettings:
        return self._view(CallSettings)

    @property
    def engine(self) -> EngineSettings:
        return self._view(EngineSettings)

    @property
    def export(self) -> ExportSettings:
        return self._view(ExportSettings)

    @property
    def nudges(self) -> NudgeSettings:
        return self._view(NudgeSettings)

    @property
    def privacy(self) -> PrivacySettings:
        return self._view(PrivacySettings)

    @property
    def console(self) -> ConsoleSettings:
        return self._view(ConsoleSettings)

    @property
    def scorecards(self) -> ScorecardSettings:
        return self._view(ScorecardSettings)

    @property
    def tuning(self) -> TuningSettings:
        return self._view(TuningSettings)

    def _view(self, view: type[View]) -> View:
        return view(**{field.name: getattr(self, setting_name(view, field.name)) for field in fields(view)})


def _file_problem(path: Path, error: OSError | ValueError) -> str:
    """One line for a settings file that cannot be used, naming the file once."""
    if isinstance(error, OSError):
        return f"{path}: cannot read: {error.strerror or error}"
    message = " ".join(str(error).split())
    return message if message.startswith(str(path)) else f"{path}: {message}"


def lexicon_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a lexicon override file (``LEXICON_FILE``), or None."""
    from streams.engine.lexicon import Lexicon

    try:
        lists = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        return _file_problem(path, error)
    unknown = set(lists) - {field.name for field in fields(Lexicon)} - {"language"}
    return f"{path}: unknown lexicon lists {sorted(unknown)}" if unknown else None


def nudge_rules_problem(path: Path) -> str | None:
    """Why ``path`` cannot be the nudge rules file (``NUDGE_RULES_FILE``), or None."""
    from streams.engine.nudges import load_rules

    try:
        load_rules(path)
    except (OSError, ValueError) as error:
        return _file_problem(path, error)
    return None


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
