"""``callfocus doctor``: is this deployment able to run, and if not, what to fix.

Each check is a small function from facts to :class:`Check` rows (status ``ok``, ``warn``,
``fail``, or ``skip`` when what it needs failed first); the facts are gathered at the
edges (a Kafka admin client, HTTP requests to Prometheus, the file system), so the checks'
logic is tested without a broker. The exit status says the worst: 0 nothing failed
(warnings allowed), 1 a check failed, 3 the broker could not be reached or refused us.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator, model_validator

from streams.coaching.cells import changelog_topic as scorecard_changelog
from streams.kafka_clients import broker_problem
from streams.settings import COMPACTED_TOPICS, TOPICS, KafkaConnection, Settings, nudge_rules_problem

Status = Literal["ok", "warn", "fail", "skip"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BROKER = 3

GIB = 1024**3
# Free space under the data dir: the RocksDB store holds the live calls' state (KiB per
# call) and its compaction needs room to rewrite files; below these a worker soon stops.
FREE_WARN_BYTES = 1 * GIB
FREE_FAIL_BYTES = 64 * 1024**2
CHANGELOG_SUFFIX = "-call-state-changelog"


@dataclass(frozen=True)
class Check:
    """One row of the doctor's report: what was checked, how it went, what to do."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


class SettingsAsFound(Settings):
    """The settings, with the files the doctor checks itself (lexicons, trackers, nudge
    rules) not validated while loading: a bad tracker file is one failed check among the
    others, where ``Settings`` would refuse to load at all. Values that do not parse (a
    port of 70000) are still refused, as everywhere (exit status 2)."""

    @field_validator("lexicon_dir")
    @classmethod
    def _lexicon_dir_is_a_folder(cls, value: Path | None) -> Path | None:
        return value

    @field_validator("lexicon_file")
    @classmethod
    def _lexicon_file_reads(cls, value: Path | None) -> Path | None:
        return value

    @field_validator("trackers_file")
    @classmethod
    def _trackers_file_is_valid(cls, value: Path | None) -> Path | None:
        return value

    @field_validator("nudge_rules_file")
    @classmethod
    def _nudge_rules_file_reads(cls, value: Path | None) -> Path | None:
        return value

    @model_validator(mode="after")
    def _language_has_a_lexicon(self) -> SettingsAsFound:
        return self


# -- Broker ---------------------------------------------------------------------------------
def check_broker(kafka: KafkaConnection, problem: str | None, seconds: float) -> Check:
    """The broker row: ``problem`` (from :func:`broker_problem`) names what failed and the
    setting to change; the fix line says what was tried."""
    if problem is None:
        return Check(
            "broker", "ok", f"{kafka.bootstrap} answered over {kafka.security_protocol} in {seconds:.2f} s"
        )
    tried = (
        f"CALLFOCUS_KAFKA_BOOTSTRAP={kafka.bootstrap}, "
        f"CALLFOCUS_KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}"
    )
    if kafka.uses_sasl:
        tried += f", CALLFOCUS_KAFKA_SASL_USERNAME={kafka.sasl_username}"
    return Check("broker", "fail", problem, f"tried {tried}")


# -- Topics ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicFacts:
    """What the broker says about one topic."""

    partitions: int
    leaderless: int  # partitions without a leader: unreadable and unwritable
    replication: int  # the fewest replicas of any partition
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicExpectations:
    """What callfocus' design asks of its topics, from the settings."""

    prefix: str
    partitions: int
    replication: int
    retention_ms: Mapping[str, int]
    max_message_bytes: int
    changelog: str
    scorecards_changelog: str

    @classmethod
    def of(cls, settings: Settings) -> TopicExpectations:
        return cls(
            prefix=settings.topic_prefix,
            partitions=settings.topic_partitions,
            replication=settings.topic_replication,
            retention_ms=dict(settings.topic_retention_ms),
            max_message_bytes=settings.topic_max_message_bytes,
            changelog=settings.app_id + CHANGELOG_SUFFIX,
            scorecards_changelog=scorecard_changelog(settings.app_id),
        )

    def name(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    @property
    def names(self) -> list[str]:
        return [*(self.name(s) for s in TOPICS), self.changelog, self.scorecards_changelog]

    def changelogs(self) -> list[tuple[str, str, str]]:
        """(row label, topic, what deleting it loses) of each table's changelog."""
        return [
            ("topic state changelog", self.changelog, "the state of live calls is lost"),
            (
                "topic scorecards changelog",
                self.scorecards_changelog,
                "the scorecard table starts empty; call-summaries and `callfocus report` keep the past",
            ),
        ]


UNREADABLE_CONFIGS_FIX = (
    "to check cleanup.policy, retention.ms and max.message.bytes, give the user DescribeConfigs "
    "on callfocus' topics, or run the doctor as an admin"
)


def _describe(facts: TopicFacts) -> str:
    if not facts.configs:  # the broker sends none without the DescribeConfigs ACL
        return f"{facts.partitions} partitions, configs not readable"
    policy = facts.configs.get("cleanup.policy", "?")
    retention = facts.configs.get("retention.ms", "?")
    return f"{facts.partitions} partitions, cleanup.policy={policy}, retention.ms={retention}"


def check_topics(expected: TopicExpectations, found: Mapping[str, TopicFacts | None]) -> list[Check]:
    """One row per topic callfocus uses: it exists, its partitions suit the design (the
    input and the tables' changelogs are co-partitioned), its configs are the ones expected."""
    rows = []
    events = found.get(expected.name("call-events"))
    for suffix in TOPICS:
        name = expected.name(suffix)
        label = f"topic {suffix}" + (" (dead letters)" if suffix.endswith(".dlq") else "")
        facts = found.get(name)
        if facts is None:
            rows.append(Check(label, "fail", f"{name} does not exist", "run `callfocus topics` to create it"))
            continue
        rows.append(_topic_row(label, name, suffix, facts, expected))
    for label, name, lost in expected.changelogs():
        changelog = found.get(name)
        if changelog is None:
            rows.append(Check(label, "ok", f"{name}: the first worker creates it"))
        else:
            rows.append(_changelog_row(label, name, changelog, events, lost))
    return rows


def _topic_row(label: str, name: str, suffix: str, facts: TopicFacts, expected: TopicExpectations) -> Check:
    detail = _describe(facts)
    if facts.leaderless:
        return Check(
            label, "fail", f"{detail}; {facts.leaderless} without a leader", "bring its brokers back"
        )
    if suffix == "call-events" and facts.partitions != expected.partitions:
        return Check(
            label,
            "fail",
            f"{detail}; CALLFOCUS_TOPIC_PARTITIONS is {expected.partitions}",
            f"set CALLFOCUS_TOPIC_PARTITIONS={facts.partitions}: the state table is co-partitioned with "
            "this topic, and existing topics are never changed",
        )
    if not facts.configs:
        return Check(label, "warn", detail, UNREADABLE_CONFIGS_FIX)
    if suffix in COMPACTED_TOPICS:
        return _compacted_row(label, name, detail, facts, expected)
    if "compact" in facts.configs.get("cleanup.policy", "delete"):
        status: Status = "fail" if suffix == "call-events" else "warn"
        return Check(
            label,
            status,
            f"{detail}: compaction keeps only the last record of each call",
            f"kafka-configs.sh --alter --entity-type topics --entity-name {name} "
            "--add-config cleanup.policy=delete",
        )
    wanted = expected.retention_ms.get(suffix)
    if wanted is not None and facts.configs.get("retention.ms") != str(wanted):
        return Check(
            label,
            "warn",
            f"{detail}; CALLFOCUS_TOPIC_RETENTION_MS asks for {wanted}",
            f"kafka-configs.sh --alter --entity-type topics --entity-name {name} "
            f"--add-config retention.ms={wanted} (existing topics are never changed)",
        )
    limit = facts.configs.get("max.message.bytes")
    if limit is not None and limit.isdigit() and int(limit) < expected.max_message_bytes:
        return Check(
            label,
            "warn",
            f"{detail}; max.message.bytes={limit} refuses records callfocus may write",
            f"kafka-configs.sh --alter --entity-type topics --entity-name {name} "
            f"--add-config max.message.bytes={expected.max_message_bytes}",
        )
    return _replication_row(label, detail, facts, expected)


def _replication_row(label: str, detail: str, facts: TopicFacts, expected: TopicExpectations) -> Check:
    """The last check of every topic: as many replicas as the setting asks."""
    if facts.replication < expected.replication:
        return Check(
            label,
            "warn",
            f"{detail}; {facts.replication} replicas, CALLFOCUS_TOPIC_REPLICATION is {expected.replication}",
            "reassign its partitions to more brokers (kafka-reassign-partitions.sh)",
        )
    return Check(label, "ok", detail)


def _compact_fix(name: str) -> str:
    return (
        f"kafka-configs.sh --alter --entity-type topics --entity-name {name} "
        "--add-config cleanup.policy=compact"
    )


def _compacted_row(
    label: str, name: str, detail: str, facts: TopicFacts, expected: TopicExpectations
) -> Check:
    """A topic read as the latest record per key (nudge-acks): compacted, or it loses them."""
    if "compact" not in facts.configs.get("cleanup.policy", ""):
        return Check(
            label,
            "warn",
            f"{detail}: not compacted, its records go after retention.ms and the console forgets them",
            _compact_fix(name),
        )
    return _replication_row(label, detail, facts, expected)


def _changelog_row(label: str, name: str, facts: TopicFacts, events: TopicFacts | None, lost: str) -> Check:
    detail = f"{name}: {_describe(facts)}"
    if events is not None and facts.partitions != events.partitions:
        return Check(
            label,
            "fail",
            f"{detail}; call-events has {events.partitions}",
            "a table must have the input's partitions: with the workers stopped, delete the "
            f"changelog ({lost}) and let the next worker create it",
        )
    if not facts.configs:
        return Check(label, "warn", detail, UNREADABLE_CONFIGS_FIX)
    if "compact" not in facts.configs.get("cleanup.policy", ""):
        return Check(
            label,
            "fail",
            f"{detail}: not compacted, a restore reads every record ever written",
            _compact_fix(name),
        )
    return Check(label, "ok", detail)


UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION error code: the topic does not exist


class TopicsUnreadableError(Exception):
    """The broker answered but would not describe callfocus' topics."""


def topic_facts(admin: Any, names: Sequence[str]) -> dict[str, TopicFacts | None]:
    """What a kafka-python admin client says about ``names`` (None: no such topic)."""
    from kafka.admin import ConfigResource, ConfigResourceType

    found: dict[str, TopicFacts | None] = dict.fromkeys(names)
    described = {}
    for topic in admin.describe_topics(list(names)):
        # kafka-python 2.x names the field "topic", 3.x "name"
        name = topic.get("name", topic.get("topic"))
        if topic["error_code"] == 0 and topic["partitions"]:
            described[name] = topic["partitions"]
        elif topic["error_code"] != UNKNOWN_TOPIC:  # e.g. 29: not authorized to describe it
            raise TopicsUnreadableError(f"{name}: Kafka error code {topic['error_code']}")
    if not described:
        return found
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in described]
    configs = admin.describe_configs(resources, config_filter="all").get("topic", {})
    for name, partitions in described.items():
        found[name] = TopicFacts(
            partitions=len(partitions),
            leaderless=sum(1 for p in partitions if p["leader_id"] < 0),
            replication=min(len(p["replica_nodes"]) for p in partitions),
            configs={key: str(entry["value"]) for key, entry in configs.get(name, {}).items()},
        )
    return found


# -- Schemas --------------------------------------------------------------------------------
_PRIMITIVE_SAMPLES: dict[str, Any] = {
    "null": None,
    "boolean": True,
    "int": 1,
    "long": 1,
    "float": 1.0,
    "double": 1.0,
    "bytes": b"x",
    "string": "x",
}


def sample_datum(schema: Any, named: dict[str, Any] | None = None) -> Any:
    """A valid value of an Avro ``schema`` with one item in every array and map and the
    first non-null branch of every union, so that reading it resolves every nested type."""
    named = {} if named is None else named
    if isinstance(schema, str):
        if schema in _PRIMITIVE_SAMPLES:
            return _PRIMITIVE_SAMPLES[schema]
        return sample_datum(named[schema], named)
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"] or schema
        return sample_datum(branches[0], named)
    kind = schema["type"]
    if kind in ("record", "enum", "fixed"):
        named[schema["name"]] = schema
        if "namespace" in schema:
            named[f"{schema['namespace']}.{schema['name']}"] = schema
    if kind == "record":
        return {f["name"]: sample_datum(f["type"], named) for f in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][0]
    if kind == "fixed":
        return b"\0" * schema["size"]
    if kind == "array":
        return [sample_datum(schema["items"], named)]
    if kind == "map":
        return {"k": sample_datum(schema["values"], named)}
    return sample_datum(kind, named)  # a primitive with a logical type


def check_schemas(schema_dir: Path) -> list[Check]:
    """The shipped Avro schemas parse, the codec builds, every record round-trips, and a
    record written with each earlier version in ``previous/`` still decodes."""
    from streams.wire.codec import PREVIOUS_DIR, AvroCodec

    try:
        codec = AvroCodec(schema_dir)
        for name in codec.names:
            raw = json.loads((schema_dir / f"{name}.avsc").read_text(encoding="utf-8"))
            record = sample_datum(raw)
            codec.decode(codec.encode(name, record))
    except Exception as error:  # any schema fault, from json, fastavro or the compiled codec
        return [
            Check(
                "schemas",
                "fail",
                f"{schema_dir}: {' '.join(str(error).split())}",
                "use the schemas of the callfocus release (unset CALLFOCUS_SCHEMA_DIR)",
            )
        ]
    rows = [Check("schemas", "ok", f"{len(codec.names)} record schemas in {schema_dir}, codec built")]
    previous = sorted((schema_dir / PREVIOUS_DIR).glob("*.avsc"))
    broken = []
    for path in previous:
        raw = json.loads(path.read_text(encoding="utf-8"))
        try:
            old = AvroCodec(schemas=[raw])
            codec.decode(old.encode(raw["name"], sample_datum(raw)))
        except Exception as error:  # CodecError, or fastavro's schema resolution errors
            broken.append(f"{path.name} ({' '.join(str(error).split())})")
    if broken:
        rows.append(
            Check(
                "schemas: earlier versions",
                "fail",
                f"records written with {', '.join(broken)} no longer decode",
                "give every field added since a default, and never change a field's type",
            )
        )
    else:
        rows.append(
            Check(
                "schemas: earlier versions", "ok", f"{len(previous)} earlier versions decode into the current"
            )
        )
    return rows


# -- Files ----------------------------------------------------------------------------------
def _size(count: int) -> str:
    return f"{count / GIB:.1f} GiB" if count >= GIB else f"{count / 1024**2:.0f} MiB"


def check_state_dir(
    path: Path,
    free_bytes: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free,
) -> Check:
    """The data dir exists or can be created, a file can be written in it, and it has room."""
    label = "state directory"
    fix = "set CALLFOCUS_DATA_DIR to a writable folder on a volume with room"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Check(label, "fail", f"{path}: {existing} is a file, not a folder", fix)
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return Check(label, "fail", f"{path}: cannot write in {existing} ({error.strerror or error})", fix)
    free = free_bytes(existing)
    where = str(path) if existing == path else f"{path} (created at start, in {existing})"
    detail = f"{where}, writable, {_size(free)} free"
    if free < FREE_FAIL_BYTES:
        return Check(label, "fail", detail, fix)
    if free < FREE_WARN_BYTES:
        return Check(label, "warn", f"{detail}, less than {_size(FREE_WARN_BYTES)}", fix)
    return Check(label, "ok", detail)


def check_lexicons(language: str, lexicon_file: Path | None, lexicon_dir: Path | None) -> list[Check]:
    """The configured language's lexicon loads (with the override file), and so does every
    lexicon in the lexicon folder."""
    from streams.engine.lexicon import available_languages, lexicon_path, lexicons_in, load_lexicon
    from streams.settings import lexicon_file_problem
    from streams.wire.languages import is_language_tag

    rows = []
    if lexicon_dir is not None and not lexicon_dir.is_dir():
        rows.append(
            Check(
                "lexicon folder",
                "fail",
                f"{lexicon_dir} is not a folder",
                "set CALLFOCUS_LEXICON_DIR to a folder of <language>.toml files, or unset it",
            )
        )
        lexicon_dir = None
    label = f"lexicon {language}"
    path = lexicon_path(language, lexicon_dir)
    if path is None:
        have = ", ".join(available_languages(lexicon_dir))
        rows.append(
            Check(
                label,
                "fail",
                f"no lexicon for language {language!r} (have: {have})",
                f"set CALLFOCUS_LANGUAGE to one of {have}, or add {language}.toml to CALLFOCUS_LEXICON_DIR",
            )
        )
    elif lexicon_file is not None and (problem := lexicon_file_problem(lexicon_file)) is not None:
        rows.append(Check(label, "fail", problem, "fix CALLFOCUS_LEXICON_FILE or unset it"))
    else:
        rows.append(_lexicon_row(label, path, lambda: load_lexicon(language, lexicon_file, lexicon_dir)))
    if lexicon_dir is not None:
        found = lexicons_in(lexicon_dir)
        for tag, file in sorted(found.items()):
            rows.append(
                _lexicon_row(f"lexicon {tag} (folder)", file, partial(load_lexicon, tag, None, lexicon_dir))
            )
        ignored = sorted(
            p.name
            for p in lexicon_dir.glob("*.toml")
            if not is_language_tag(p.stem) or p.stem.lower() not in found
        )
        if ignored:
            rows.append(
                Check(
                    "lexicon folder",
                    "warn",
                    f"{lexicon_dir}: ignored {', '.join(ignored)} (not <language tag>.toml in the folder)",
                    "rename each to its language tag, e.g. es-MX.toml",
                )
            )
    return rows


def _lexicon_row(label: str, path: Path, load: Callable[[], Any]) -> Check:
    try:
        lexicon = load()
    except (OSError, ValueError) as error:
        return Check(label, "fail", f"{path}: {' '.join(str(error).split())}", f"fix {path}")
    phrases = len(lexicon.open_question_openers) + len(lexicon.pitch_terms) + len(lexicon.backchannel)
    return Check(label, "ok", f"{path} loads ({phrases} question, pitch and backchannel phrases)")


def check_trackers(path: Path | None) -> Check:
    from streams.engine.trackers import TrackerFileError, load_trackers

    if path is None:
        return Check("trackers", "ok", "none (CALLFOCUS_TRACKERS_FILE not set)")
    try:
        trackers = load_trackers(path)
    except TrackerFileError as error:
        return Check(
            "trackers", "fail", str(error), "fix the file (docs/trackers.md) or unset CALLFOCUS_TRACKERS_FILE"
        )
    return Check("trackers", "ok", f"{path}: {len(trackers)} trackers (digest {trackers.digest})")


def check_nudge_rules(enabled: bool, path: Path | None) -> Check:
    if not enabled:
        return Check("nudge rules", "ok", "nudges are off (CALLFOCUS_NUDGES_ENABLED=false)")
    if path is None:
        return Check("nudge rules", "ok", "the default rules (CALLFOCUS_NUDGE_RULES_FILE not set)")
    problem = nudge_rules_problem(path)
    if problem is not None:
        return Check(
            "nudge rules",
            "fail",
            problem,
            "fix the file (docs/nudges.md) or unset CALLFOCUS_NUDGE_RULES_FILE",
        )
    return Check("nudge rules", "ok", f"{path} loads")


# -- Prometheus -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    health: str
    last_error: str = ""


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # "alerting" or "recording"
    health: str


@dataclass(frozen=True)
class PrometheusFacts:
    """What a Prometheus server said, or why it said nothing (``error``)."""

    error: str | None = None
    version: str = ""
    targets: tuple[Target, ...] = ()
    worker_jobs: frozenset[str] = frozenset()  # jobs whose targets exported callfocus series
    rules: tuple[Rule, ...] = ()


def is_callfocus_rule(rule: Rule) -> bool:
    return rule.name.startswith("Callfocus") or "callfocus" in rule.name


def check_prometheus(url: str, facts: PrometheusFacts) -> list[Check]:
    if facts.error is not None:
        return [
            Check(
                "prometheus",
                "fail",
                f"{url}: {facts.error}",
                "check the URL (--prometheus-url) and that it runs",
            ),
            Check("prometheus targets", "skip", "Prometheus did not answer"),
            Check("prometheus rules", "skip", "Prometheus did not answer"),
        ]
    rows = [Check("prometheus", "ok", f"{url}: Prometheus {facts.version}")]
    jobs = facts.worker_jobs | {"callfocus"}
    workers = [t for t in facts.targets if t.job in jobs]
    up = [t for t in workers if t.health == "up"]
    scrape_fix = "add a scrape job named callfocus for the workers' /metrics (deploy/prometheus/README.md)"
    if not workers:
        rows.append(
            Check("prometheus targets", "fail", "no scrape target exports callfocus metrics", scrape_fix)
        )
    else:
        down = [t for t in workers if t.health != "up"]
        job_names = ", ".join(sorted({t.job for t in workers}))
        detail = f"{len(up)} of {len(workers)} callfocus targets up (job {job_names})"
        if down:
            first = down[0]
            reason = f"; {first.instance}: {first.last_error or first.health}"
            rows.append(
                Check(
                    "prometheus targets",
                    "fail" if not up else "warn",
                    detail + reason,
                    "start the workers, or let Prometheus reach their /metrics port",
                )
            )
        else:
            rows.append(Check("prometheus targets", "ok", detail))
    ours = [r for r in facts.rules if is_callfocus_rule(r)]
    alerting = sum(1 for r in ours if r.kind == "alerting")
    recording = len(ours) - alerting
    rules_fix = "add deploy/prometheus/rules/*.yml to rule_files (or monitoring.prometheusRule in the chart)"
    detail = f"{alerting} callfocus alerts, {recording} recording rules loaded"
    broken = [r.name for r in ours if r.health not in ("ok", "unknown")]
    if not ours:
        rows.append(Check("prometheus rules", "warn", "no callfocus rules loaded: no alerts", rules_fix))
    elif broken:
        rows.append(
            Check("prometheus rules", "warn", f"{detail}; failing: {', '.join(broken[:3])}", rules_fix)
        )
    elif not alerting or not recording:
        rows.append(Check("prometheus rules", "warn", detail, rules_fix))
    else:
        rows.append(Check("prometheus rules", "ok", detail))
    return rows


def _get_json(url: str, timeout_s: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise ValueError(f"{url}: {body.get('error', body)}")
    return body["data"]


def prometheus_facts(url: str, timeout_s: float) -> PrometheusFacts:
    """Ask the Prometheus at ``url`` its version, targets, which jobs scrape callfocus
    workers (their ``callfocus_engine_info`` of the last hour) and its rules."""
    base = url.rstrip("/")
    try:
        version = _get_json(f"{base}/api/v1/status/buildinfo", timeout_s).get("version", "?")
        targets = _get_json(f"{base}/api/v1/targets?state=active", timeout_s)["activeTargets"]
        query = urllib.parse.urlencode(
            {"query": "group by (job) (last_over_time(callfocus_engine_info[1h]))"}
        )
        workers = _get_json(f"{base}/api/v1/query?{query}", timeout_s)["result"]
        groups = _get_json(f"{base}/api/v1/rules", timeout_s)["groups"]
    except urllib.error.HTTPError as error:
        return PrometheusFacts(error=f"HTTP {error.code} from {error.url}: is this Prometheus' URL?")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        reason = getattr(error, "reason", None) or error
        return PrometheusFacts(error=f"no answer within {timeout_s:g} s ({reason})")
    return PrometheusFacts(
        version=str(version),
        targets=tuple(
            Target(
                t["labels"].get("job", ""),
                t["labels"].get("instance", ""),
                t.get("health", ""),
                t.get("lastError", ""),
            )
            for t in targets
        ),
        worker_jobs=frozenset(r["metric"].get("job", "") for r in workers),
        rules=tuple(
            Rule(r.get("name", ""), r.get("type", ""), r.get("health", ""))
            for g in groups
            for r in g.get("rules", [])
        ),
    )


# -- The report -----------------------------------------------------------------------------
def exit_status(checks: Iterable[Check]) -> int:
    """3 when the broker failed, else 1 when any check failed, else 0."""
    checks = list(checks)
    if any(c.name == "broker" and c.status == "fail" for c in checks):
        return EXIT_BROKER
    return EXIT_FAILED if any(c.status == "fail" for c in checks) else EXIT_OK


def render_table(checks: Sequence[Check]) -> str:
    """The checks as an aligned table; the fix of a check that is not ok on the line below."""
    name_w = max(len("check"), *(len(c.name) for c in checks))
    status_w = len("status")
    lines = [f"{'check':<{name_w}}  {'status':<{status_w}}  detail"]
    for check in checks:
        lines.append(f"{check.name:<{name_w}}  {check.status:<{status_w}}  {check.detail}")
        if check.fix is not None and check.status != "ok":
            lines.append(f"{'':<{name_w}}  {'':<{status_w}}  fix: {check.fix}")
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("ok", "warn", "fail", "skip")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines.append(f"\n{summary}: exit status {exit_status(checks)}")
    return "\n".join(lines)


def render_json(checks: Sequence[Check]) -> str:
    return json.dumps({"checks": [asdict(c) for c in checks], "exit_status": exit_status(checks)}, indent=2)


def run_doctor(
    settings: Settings,
    prometheus_url: str | None = None,
    timeout_s: float = 5.0,
    probe: Callable[[KafkaConnection, float], str | None] = broker_problem,
) -> list[Check]:
    """Every check, in the order of the report. ``probe`` says why the broker cannot be used."""
    from streams.wire.codec import default_schema_dir

    started = time.monotonic()
    problem = probe(settings.kafka, timeout_s)
    checks = [check_broker(settings.kafka, problem, time.monotonic() - started)]
    expected = TopicExpectations.of(settings)
    if problem is None:
        try:
            found = _topic_facts_of(settings.kafka, expected.names, timeout_s)
        except Exception as error:  # TopicsUnreadableError, or any kafka-python error of the describes
            checks.append(
                Check(
                    "topics",
                    "fail",
                    f"cannot describe the topics ({' '.join(str(error).split()) or type(error).__name__})",
                    "give callfocus' user Describe and DescribeConfigs on its topics "
                    "(docs/kafka-providers.md, ACLs)",
                )
            )
        else:
            checks += check_topics(expected, found)
    else:
        checks.append(Check("topics", "skip", "the broker cannot be used"))
    checks += check_schemas(default_schema_dir())
    checks.append(check_state_dir(settings.data_dir))
    checks += check_lexicons(settings.language, settings.lexicon_file, settings.lexicon_dir)
    checks.append(check_trackers(settings.trackers_file))
    checks.append(check_nudge_rules(settings.nudges_enabled, settings.nudge_rules_file))
    if prometheus_url is not None:
        url = prometheus_url if "://" in prometheus_url else f"http://{prometheus_url}"  # host:port
        checks += check_prometheus(url, prometheus_facts(url, timeout_s))
    return checks


def _topic_facts_of(
    kafka: KafkaConnection, names: Sequence[str], timeout_s: float
) -> dict[str, TopicFacts | None]:
    from kafka import KafkaAdminClient

    from streams.kafka_clients import kafka_python_options

    timeout_ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(
        client_id="callfocus-doctor",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
        **kafka_python_options(kafka),
    )
    try:
        return topic_facts(admin, names)
    finally:
        admin.close()
