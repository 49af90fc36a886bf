"""docs/kafka-providers.md and deploy/helm/callfocus/examples: each provider's values render,
and the ACLs of the doc cover every Kafka resource the code uses.

The list of resources is derived from the code (the topics of the settings, the Faust
app's tables and its assignment topic, every ``settings.topic(...)`` in streams/), so a new
topic or table fails here until the doc's ACL table, its commands and the Strimzi
KafkaUser have it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.test_helm_chart import CHART, KUBE_VERSION, NAMESPACE, RELEASE, ROOT, helm_binary

DOC = ROOT / "docs" / "kafka-providers.md"
EXAMPLES = CHART / "examples"
SECRET_ENV = "CALLFOCUS_KAFKA_SASL_PASSWORD"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Recipe:
    """What each provider's values must render to."""

    port: int
    protocol: str
    mechanism: str | None
    password_secret: str
    ca_secret: str | None  # None: the image's system CAs (a public CA)


RECIPES = {
    "aws-msk-values.yaml": Recipe(9096, "SASL_SSL", "SCRAM-SHA-512", "callfocus-kafka", None),
    "confluent-cloud-values.yaml": Recipe(9092, "SASL_SSL", "PLAIN", "callfocus-kafka", None),
    "strimzi-values.yaml": Recipe(9093, "SASL_SSL", "SCRAM-SHA-512", "callfocus", "events-cluster-ca-cert"),
    "apache-kafka-values.yaml": Recipe(
        9094, "SASL_SSL", "SCRAM-SHA-512", "callfocus-kafka", "callfocus-kafka-ca"
    ),
}


def test_every_example_has_a_recipe() -> None:
    assert {p.name for p in EXAMPLES.glob("*-values.yaml")} == set(RECIPES)


# --- rendering ---------------------------------------------------------------------------------


def helm_template(values: Path, *sets: str) -> subprocess.CompletedProcess[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    args += ["--values", str(values)]
    for item in sets:
        args += ["--set", item]
    return subprocess.run(
        [helm_binary(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@cache
def rendered(name: str) -> tuple[Manifest, ...]:
    result = helm_template(EXAMPLES / name)
    assert result.returncode == 0, f"helm template -f examples/{name} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def one(manifests: tuple[Manifest, ...], kind: str) -> Manifest:
    [found] = [m for m in manifests if m["kind"] == kind]
    return found


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    return dict(manifest["spec"]["template"]["spec"])


def env_of(manifest: Manifest) -> dict[str, dict[str, Any]]:
    [container] = pod_spec(manifest)["containers"]
    return {e["name"]: e for e in container["env"]}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.mark.parametrize("name", list(RECIPES))
def test_example_is_valid_against_the_chart_schema(name: str) -> None:
    schema = yaml.safe_load((CHART / "values.schema.json").read_text(encoding="utf-8"))
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    example = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    jsonschema.validate(deep_merge(defaults, example), schema)


@pytest.mark.parametrize("name", list(RECIPES))
def test_example_renders_valid_manifests(name: str) -> None:
    errors = []
    for m in rendered(name):
        try:
            kubernetes_validate.validate(m, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{m['kind']}/{m['metadata']['name']}: {error.message}")
    assert not errors, "\n".join(errors)
    assert {m["kind"] for m in rendered(name)} >= {"StatefulSet", "Job", "NetworkPolicy"}


@pytest.mark.parametrize("name", list(RECIPES))
def test_example_connects_as_its_provider_with_credentials_from_secrets(name: str) -> None:
    recipe = RECIPES[name]
    manifests = rendered(name)
    for workload in (one(manifests, "StatefulSet"), one(manifests, "Job")):
        env = env_of(workload)
        assert env["CALLFOCUS_KAFKA_SECURITY_PROTOCOL"]["value"] == recipe.protocol
        assert env["CALLFOCUS_KAFKA_SASL_MECHANISM"]["value"] == recipe.mechanism
        assert env["CALLFOCUS_TOPIC_REPLICATION"]["value"] == "3"
        bootstrap = env["CALLFOCUS_KAFKA_BOOTSTRAP"]["value"]
        assert {int(server.rsplit(":", 1)[1]) for server in bootstrap.split(",")} == {recipe.port}
        # the password only ever from a Secret, never a literal value
        password = env[SECRET_ENV]
        assert "value" not in password
        assert password["valueFrom"]["secretKeyRef"]["name"] == recipe.password_secret
        user = env["CALLFOCUS_KAFKA_SASL_USERNAME"]
        if "valueFrom" in user:
            assert user["valueFrom"]["secretKeyRef"]["name"] == recipe.password_secret
        secrets = {
            volume["secret"]["secretName"] for volume in pod_spec(workload)["volumes"] if "secret" in volume
        }
        if recipe.ca_secret is None:
            assert "CALLFOCUS_KAFKA_SSL_CAFILE" not in env and not secrets
        else:
            assert secrets == {recipe.ca_secret}
            assert env["CALLFOCUS_KAFKA_SSL_CAFILE"]["value"].endswith("/ca.crt")


@pytest.mark.parametrize("name", list(RECIPES))
def test_example_network_policy_opens_the_bootstrap_port_only(name: str) -> None:
    policy = one(rendered(name), "NetworkPolicy")["spec"]
    kafka_rule = policy["egress"][0]
    assert kafka_rule["ports"] == [{"port": RECIPES[name].port, "protocol": "TCP"}]


def test_render_fails_when_the_policy_does_not_open_the_bootstrap_port() -> None:
    result = helm_template(EXAMPLES / "aws-msk-values.yaml", "networkPolicy.egress.kafka.ports={9092,9094}")
    assert result.returncode != 0
    assert "does not allow port 9096" in result.stderr
    assert "b-1.callfocus" in result.stderr
    # the same values without the policy render: the check belongs to the policy
    assert helm_template(EXAMPLES / "aws-msk-values.yaml", "networkPolicy.enabled=false").returncode == 0


def test_render_fails_for_a_bootstrap_server_without_a_port() -> None:
    result = helm_template(
        EXAMPLES / "apache-kafka-values.yaml", "kafka.bootstrapServers=kafka-0.example.internal"
    )
    assert result.returncode != 0
    assert "has no port" in result.stderr


def test_msk_external_secret_fills_the_secret_the_values_name() -> None:
    values = yaml.safe_load((EXAMPLES / "aws-msk-values.yaml").read_text(encoding="utf-8"))["kafka"]["sasl"]
    external = yaml.safe_load((EXAMPLES / "aws-msk-externalsecret.yaml").read_text(encoding="utf-8"))
    assert external["kind"] == "ExternalSecret"
    assert external["spec"]["target"]["name"] == values["existingSecret"]
    keys = {item["secretKey"] for item in external["spec"]["data"]}
    assert keys == {values["usernameKey"], values["passwordKey"]}
    assert {item["remoteRef"]["key"] for item in external["spec"]["data"]} == {"AmazonMSK_callfocus"}


def test_strimzi_values_read_the_kafka_users_copied_secret() -> None:
    values = yaml.safe_load((EXAMPLES / "strimzi-values.yaml").read_text(encoding="utf-8"))["kafka"]
    user = yaml.safe_load((EXAMPLES / "strimzi-kafkauser.yaml").read_text(encoding="utf-8"))
    assert user["kind"] == "KafkaUser"
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    # Strimzi names the Secret after the user; the replicator copies it under that name
    assert values["sasl"]["existingSecret"] == values["sasl"]["username"] == user["metadata"]["name"]
    annotations = user["spec"]["template"]["secret"]["metadata"]["annotations"]
    assert annotations["replicator.v1.mittwald.de/replicate-to"] == NAMESPACE
    cluster = user["metadata"]["labels"]["strimzi.io/cluster"]
    assert values["tls"]["caSecret"] == f"{cluster}-cluster-ca-cert"
    assert f"{cluster}-kafka-bootstrap." in values["bootstrapServers"]


# --- ACLs --------------------------------------------------------------------------------------

# (resource type, pattern, name with <prefix>/<app_id>) -> operations
Acls = dict[tuple[str, str, str], frozenset[str]]
PREFIX, APP_ID = "<prefix>", "<app_id>"


def resources_of_the_code() -> dict[tuple[str, str, str], str]:
    """Every Kafka resource callfocus' code uses, named with placeholders, and why."""
    from streams.settings import TOPICS, Settings
    from streams.worker.app import create_worker

    settings = Settings()
    worker = create_worker(settings)
    app = worker.app

    def placeholder(name: str) -> str:
        if name.startswith(f"{settings.topic_prefix}."):
            return PREFIX + name[len(settings.topic_prefix) :]
        assert name.startswith(f"{settings.app_id}-"), name
        return APP_ID + name[len(settings.app_id) :]

    resources = {("Topic", "literal", placeholder(settings.topic(suffix))): "topic" for suffix in TOPICS}
    assert worker.call_state in app.tables.values()
    for table in app.tables.values():
        resources["Topic", "literal", placeholder(table.changelog_topic.get_topic_name())] = "changelog"
    leader_topic = app._leader_assignor._leader_topic_name
    resources["Topic", "literal", placeholder(leader_topic)] = "assignment"
    resources["Group", "literal", APP_ID] = "consumer group"  # Faust's group is the app id
    assert app.conf.id == settings.app_id
    if settings.processing_guarantee == "exactly_once":
        # Faust's transactional ids: <app id>-<topic group>-<partition>
        resources["TransactionalId", "prefixed", f"{APP_ID}-"] = "transactions"
        resources["Cluster", "literal", "kafka-cluster"] = "idempotent producer"
    return resources


def test_every_topic_named_in_the_code_is_a_settings_topic() -> None:
    from streams.settings import TOPICS

    named = set()
    for path in (ROOT / "streams").rglob("*.py"):
        named |= set(re.findall(r"\.topic\(\s*\"([^\"]+)\"", path.read_text(encoding="utf-8")))
    assert named, "no settings.topic(...) call found: the pattern is out of date"
    assert named <= set(TOPICS), f"topics used in streams/ but not in settings.TOPICS: {named - set(TOPICS)}"


def doc_acl_table() -> Acls:
    """The ACL table of docs/kafka-providers.md."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## ACLs\n", 1)[1].split("\n#", 1)[0]
    acls: Acls = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] not in ("Topic", "Group", "TransactionalId", "Cluster"):
            continue
        resource, pattern, name, operations = cells[0], cells[1], cells[2].strip("`"), cells[3]
        acls[resource, pattern, name] = frozenset(op.strip() for op in operations.split(","))
    assert acls, "no ACL table under '## ACLs' in docs/kafka-providers.md"
    return acls


# the operations each kind of resource needs, by what the code does with it
NEEDED = {
    "consumed": {"Read", "Describe"},
    "produced": {"Write", "Describe"},
    "created": {"Create"},
}


def test_the_doc_acl_table_lists_every_resource_of_the_code_and_nothing_else() -> None:
    table = doc_acl_table()
    code = resources_of_the_code()
    assert set(table) == set(code), (
        f"in the code, not in the doc's ACL table: {sorted(set(code) - set(table))}; "
        f"in the doc only: {sorted(set(table) - set(code))}"
    )
    for (kind, _, name), operations in table.items():
        if kind == "Topic":
            # every topic is created by the job or the workers, and used
            assert "Create" in operations and "Describe" in operations, name
            assert operations & {"Read", "Write"}, name
    assert table["Topic", "literal", f"{PREFIX}.call-events"] >= NEEDED["consumed"]
    for output in ("call-events.dlq", "call-metrics", "nudges", "call-summaries", "nudge-acks"):
        assert table["Topic", "literal", f"{PREFIX}.{output}"] >= NEEDED["produced"], output
    for console_reads in ("call-metrics", "nudges", "call-summaries", "nudge-acks"):
        assert "Read" in table["Topic", "literal", f"{PREFIX}.{console_reads}"]
    assert table["Topic", "literal", f"{APP_ID}-call-state-changelog"] >= (
        NEEDED["consumed"] | NEEDED["produced"] | NEEDED["created"]
    )
    assert (
        table["Topic", "literal", f"{APP_ID}-__assignor-__leader"] >= NEEDED["consumed"] | NEEDED["created"]
    )
    assert table["Group", "literal", APP_ID] == {"Read"}
    assert table["TransactionalId", "prefixed", f"{APP_ID}-"] == {"Write", "Describe"}
    assert table["Cluster", "literal", "kafka-cluster"] == {"IdempotentWrite"}


def concrete(table: Acls) -> Acls:
    """The table with prefix and app id "callfocus", as the commands and examples name them."""
    return {
        (kind, pattern, name.replace(PREFIX, "callfocus").replace(APP_ID, "callfocus")): ops
        for (kind, pattern, name), ops in table.items()
    }


def code_blocks(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"\n### {heading}", 1)[1].split("\n#", 1)[0]
    return "\n".join(re.findall(r"```bash\n(.*?)```", section, flags=re.S))


def add(acls: dict[tuple[str, str, str], set[str]], key: tuple[str, str, str], operations: set[str]) -> None:
    acls.setdefault(key, set()).update(operations)


def test_kafka_acls_commands_match_the_table() -> None:
    commands: dict[tuple[str, str, str], set[str]] = {}
    for line in code_blocks("kafka-acls.sh").splitlines():
        if not line.startswith("$acls "):
            continue
        words = shlex.split(line)[1:]
        options: dict[str, list[str]] = {}
        flags = set()
        i = 0
        while i < len(words):
            if words[i] == "--cluster":
                flags.add("cluster")
                i += 1
            else:
                options.setdefault(words[i], []).append(words[i + 1])
                i += 2
        pattern = options.pop("--resource-pattern-type", ["literal"])[0]
        operations = set(options.pop("--operation"))
        if "cluster" in flags:
            key = ("Cluster", pattern, "kafka-cluster")
        else:
            [(flag, [name])] = options.items()
            kind = {"--topic": "Topic", "--group": "Group", "--transactional-id": "TransactionalId"}[flag]
            key = (kind, pattern, name)
        add(commands, key, operations)
    assert commands == concrete(doc_acl_table())


CONFLUENT_OPERATIONS = {"idempotent-write": "IdempotentWrite"}


def test_confluent_cli_commands_match_the_table() -> None:
    commands: dict[tuple[str, str, str], set[str]] = {}
    for line in code_blocks("Confluent CLI").splitlines():
        if not line.startswith("confluent kafka acl create"):
            continue
        words = shlex.split(line)[4:]
        assert "--allow" in words and "--service-account" in words, line
        operations = {
            CONFLUENT_OPERATIONS.get(op, op.capitalize())
            for op in words[words.index("--operations") + 1].split(",")
        }
        pattern = "prefixed" if "--prefix" in words else "literal"
        if "--cluster-scope" in words:
            key = ("Cluster", pattern, "kafka-cluster")
        else:
            [(kind, name)] = [
                (kind, words[words.index(flag) + 1])
                for flag, kind in (
                    ("--topic", "Topic"),
                    ("--consumer-group", "Group"),
                    ("--transactional-id", "TransactionalId"),
                )
                if flag in words
            ]
            key = (kind, pattern, name)
        add(commands, key, operations)
    assert commands == concrete(doc_acl_table())


STRIMZI_TYPES = {
    "topic": "Topic",
    "group": "Group",
    "transactionalId": "TransactionalId",
    "cluster": "Cluster",
}


def test_strimzi_kafka_user_acls_match_the_table() -> None:
    user = yaml.safe_load((EXAMPLES / "strimzi-kafkauser.yaml").read_text(encoding="utf-8"))
    assert user["spec"]["authorization"]["type"] == "simple"
    acls: dict[tuple[str, str, str], set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        kind = STRIMZI_TYPES[resource["type"]]
        pattern = {"literal": "literal", "prefix": "prefixed"}[resource.get("patternType", "literal")]
        add(acls, (kind, pattern, resource.get("name", "kafka-cluster")), set(acl["operations"]))
    assert acls == concrete(doc_acl_table())
