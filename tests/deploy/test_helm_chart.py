"""deploy/helm/callfocus: lint, render and validate the chart offline.

Runs the real ``helm`` binary (``$HELM``, which the Makefile sets, else ``helm`` on PATH); a
missing binary is a failure, not a skip: ``make test`` builds the pinned one (``make helm``:
``go install helm.sh/helm/v3/cmd/helm@v3.22.0`` into ``.tools/``).

Every rendered manifest of the default values and of each ``ci/*-values.yaml`` is validated
against the Kubernetes JSON schemas of ``KUBE_VERSION`` with ``kubernetes-validate`` (offline,
strict: unknown fields fail); the prometheus-operator objects (ServiceMonitor, PrometheusRule)
are not in those schemas and are checked structurally here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "callfocus"
CI_VALUES = tuple(sorted((CHART / "ci").glob("*-values.yaml")))
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
DASHBOARDS_DIR = ROOT / "deploy" / "grafana" / "dashboards"
KUBE_VERSION = "1.29.0"
RELEASE = "callfocus"
NAMESPACE = "callfocus"

# values sets: name -> values file (None: the chart defaults)
VALUES_SETS: dict[str, Path | None] = {"default": None, **{p.name: p for p in CI_VALUES}}
PRODUCTION = "production-values.yaml"
MINIMAL = "minimal-values.yaml"

# what each values set must render (kind, name); dashboards ConfigMaps are added per JSON file
BASE_OBJECTS = {
    ("ServiceAccount", RELEASE),
    ("Service", RELEASE),
    ("Service", f"{RELEASE}-headless"),
    ("StatefulSet", RELEASE),
    ("Job", f"{RELEASE}-topics"),
    # config.nudgeRules has the thresholds by default: the nudges' TOML file
    ("ConfigMap", f"{RELEASE}-files"),
}
EXPECTED_OBJECTS: dict[str, set[tuple[str, str]]] = {
    "default": BASE_OBJECTS | {("PodDisruptionBudget", RELEASE)},
    MINIMAL: BASE_OBJECTS | {("PodDisruptionBudget", RELEASE)},
    "memory-store-values.yaml": BASE_OBJECTS,
    PRODUCTION: BASE_OBJECTS
    | {
        ("PodDisruptionBudget", RELEASE),
        ("HorizontalPodAutoscaler", RELEASE),
        ("NetworkPolicy", RELEASE),
        ("ServiceMonitor", RELEASE),
        ("PrometheusRule", RELEASE),
        ("AlertmanagerConfig", f"{RELEASE}-supervisors"),
    },
}

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
RECOMMENDED_LABELS = (
    NAME,
    INSTANCE,
    "app.kubernetes.io/version",
    COMPONENT,
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
SELECTOR_KEYS = {NAME, INSTANCE, COMPONENT}
SECRET_ENV = (
    "CALLFOCUS_KAFKA_SASL_PASSWORD",
    "CALLFOCUS_CONSOLE_TOKEN",
    "CALLFOCUS_NUDGE_WEBHOOK_URL",
    "CALLFOCUS_REDACTION_HASH_KEY",
)

Manifest = dict[str, Any]


# --- helm ------------------------------------------------------------------------------------


def helm_binary() -> str:
    candidates = [os.environ.get("HELM"), shutil.which("helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "helm is not installed: `make test` builds it (`make helm`: go install "
        "helm.sh/helm/v3/cmd/helm@v3.22.0 into .tools/); or point $HELM at a helm v3 binary"
    )


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def template_args(values: Path | None, sets: tuple[str, ...]) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    if values is not None:
        args += ["--values", str(values)]
    for item in sets:
        args += ["--set", item]
    return args


def charts_inputs_exist() -> None:
    # helm refuses to load a chart with a dangling symlink: say which input is missing
    for link in (CHART / "files" / "rules", CHART / "files" / "dashboards"):
        assert link.resolve().is_dir(), (
            f"{link.relative_to(ROOT)} -> {os.readlink(link)} does not exist: helm cannot load a chart "
            "with a dangling symlink (the link points at the single copy of the rules/dashboards)"
        )


@cache
def _render(values: Path | None, sets: tuple[str, ...]) -> tuple[Manifest, ...]:
    charts_inputs_exist()
    result = helm(*template_args(values, sets))
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(values_set: str = "default", *sets: str) -> list[Manifest]:
    """The manifests `helm template` renders for one values set (plus --set overrides)."""
    return [json.loads(json.dumps(doc)) for doc in _render(VALUES_SETS[values_set], sets)]


def render_fails(*sets: str, values_set: str = "default") -> str:
    charts_inputs_exist()
    result = helm(*template_args(VALUES_SETS[values_set], sets))
    assert result.returncode != 0, f"helm template should fail with {sets}"
    return result.stderr


def objects(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in objects(manifests, kind) if name is None or m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[m['metadata']['name'] for m in found]}"
    return found[0]


def dashboard_configmaps(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in objects(manifests, "ConfigMap") if "grafana_dashboard" in m["metadata"]["labels"]]


def statefulset(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "StatefulSet")


def topics_job(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "Job", f"{RELEASE}-topics")


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for kind in ("StatefulSet", "Job"):
        for m in objects(manifests, kind):
            yield f"{kind}/{m['metadata']['name']}", m["spec"]["template"]["spec"]


def container(workload: Manifest) -> Manifest:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(workload: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in container(workload)["env"]}


def kubelet_env(
    manifests: list[Manifest], workload: Manifest, env: dict[str, str], root: Path
) -> dict[str, str]:
    """``env`` with the workload's ConfigMap volumes written under ``root`` as the kubelet
    mounts them, and each value naming a file in such a mount pointed at the written copy."""
    spec = workload["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in container(workload).get("volumeMounts", [])}
    moved = {}
    for volume in spec.get("volumes", []):
        if "configMap" not in volume or volume["name"] not in mounts:
            continue
        data = one(manifests, "ConfigMap", volume["configMap"]["name"]).get("data", {})
        local = root / volume["name"]
        local.mkdir(parents=True)
        for key, text in data.items():
            (local / key).write_text(text, encoding="utf-8")
        moved[mounts[volume["name"]].rstrip("/") + "/"] = f"{local}/"
    rewritten = dict(env)
    for name, value in env.items():
        for mount, local_dir in moved.items():
            if value.startswith(mount):
                rewritten[name] = local_dir + value[len(mount) :]
    return rewritten


def env_value(workload: Manifest, name: str) -> str:
    entry = env_of(workload)[name]
    assert "valueFrom" not in entry, f"{name} comes from a reference, not a literal"
    return str(entry["value"])


def load_values(values_set: str) -> dict[str, Any]:
    path = VALUES_SETS[values_set]
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path else {}


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def expected_objects(values_set: str) -> set[tuple[str, str]]:
    expected = set(EXPECTED_OBJECTS[values_set])
    if load_values(values_set).get("monitoring", {}).get("dashboards", {}).get("enabled"):
        expected |= {("ConfigMap", f"{RELEASE}-dashboard-{p.stem}") for p in dashboard_files()}
    return expected


# --- structural checks of the prometheus-operator objects -------------------------------------

DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
SERVICE_MONITOR_SPEC_KEYS = {
    "endpoints",
    "selector",
    "namespaceSelector",
    "jobLabel",
    "targetLabels",
    "podTargetLabels",
    "sampleLimit",
    "attachMetadata",
}
ENDPOINT_KEYS = {
    "port",
    "targetPort",
    "path",
    "scheme",
    "interval",
    "scrapeTimeout",
    "honorLabels",
    "honorTimestamps",
    "relabelings",
    "metricRelabelings",
    "params",
    "tlsConfig",
    "bearerTokenSecret",
    "authorization",
}
RULE_KEYS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}


ALERTMANAGER_CONFIG_SPEC_KEYS = {"route", "receivers", "inhibitRules", "muteTimeIntervals"}
ROUTE_KEYS = {"receiver", "matchers", "groupBy", "groupWait", "groupInterval", "repeatInterval", "continue"}
WEBHOOK_KEYS = {"url", "urlSecret", "sendResolved", "maxAlerts", "httpConfig"}


def validate_alertmanager_config(m: Manifest) -> None:
    """The fields of prometheus-operator's AlertmanagerConfig v1alpha1 the chart uses."""
    assert m["apiVersion"] == "monitoring.coreos.com/v1alpha1", m["apiVersion"]
    assert set(m) <= {"apiVersion", "kind", "metadata", "spec"}
    assert m["metadata"]["name"] and m["metadata"]["namespace"]
    spec = m["spec"]
    assert set(spec) <= ALERTMANAGER_CONFIG_SPEC_KEYS, set(spec) - ALERTMANAGER_CONFIG_SPEC_KEYS
    route = spec["route"]
    assert set(route) <= ROUTE_KEYS, set(route) - ROUTE_KEYS
    for key in ("groupWait", "groupInterval", "repeatInterval"):
        assert DURATION.match(route[key]), f"{key}: {route[key]}"
    for matcher in route["matchers"]:
        assert set(matcher) <= {"name", "value", "matchType"} and matcher["matchType"] in (
            "=",
            "!=",
            "=~",
            "!~",
        )
    receivers = {r["name"]: r for r in spec["receivers"]}
    assert route["receiver"] in receivers
    for receiver in receivers.values():
        for webhook in receiver.get("webhookConfigs", []):
            assert set(webhook) <= WEBHOOK_KEYS, set(webhook) - WEBHOOK_KEYS
            credentials = webhook.get("httpConfig", {}).get("authorization", {}).get("credentials")
            if credentials is not None:
                assert set(credentials) == {"name", "key"}, "credentials are a Secret key selector"


def validate_prometheus_operator(m: Manifest) -> None:
    if m["kind"] == "AlertmanagerConfig":
        validate_alertmanager_config(m)
        return
    assert m["apiVersion"] == "monitoring.coreos.com/v1", m["apiVersion"]
    assert set(m) <= {"apiVersion", "kind", "metadata", "spec"}
    assert m["metadata"]["name"] and m["metadata"]["namespace"]
    spec = m["spec"]
    if m["kind"] == "ServiceMonitor":
        assert set(spec) <= SERVICE_MONITOR_SPEC_KEYS, set(spec) - SERVICE_MONITOR_SPEC_KEYS
        assert spec["selector"]["matchLabels"], "a ServiceMonitor without a selector scrapes every Service"
        assert spec["endpoints"]
        for endpoint in spec["endpoints"]:
            assert set(endpoint) <= ENDPOINT_KEYS, set(endpoint) - ENDPOINT_KEYS
            assert isinstance(endpoint["port"], str)
            for key in ("interval", "scrapeTimeout"):
                if key in endpoint:
                    assert DURATION.match(endpoint[key]), f"{key}: {endpoint[key]}"
    elif m["kind"] == "PrometheusRule":
        assert set(spec) == {"groups"}
        names = [g["name"] for g in spec["groups"]]
        assert len(names) == len(set(names)), f"duplicate group names: {names}"
        for group in spec["groups"]:
            assert set(group) <= {"name", "interval", "rules", "limit", "partial_response_strategy"}
            assert group["rules"], group["name"]
            for rule in group["rules"]:
                assert set(rule) <= RULE_KEYS, set(rule) - RULE_KEYS
                assert ("record" in rule) != ("alert" in rule), rule
                assert isinstance(rule["expr"], str) and rule["expr"].strip()
                if "for" in rule:
                    assert DURATION.match(rule["for"]), rule["for"]
    else:
        pytest.fail(f"unexpected prometheus-operator kind {m['kind']}")


# --- lint, render, validate -------------------------------------------------------------------


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_helm_lint_strict(values_set: str) -> None:
    charts_inputs_exist()
    values = VALUES_SETS[values_set]
    args = ["lint", str(CHART), "--strict", "--namespace", NAMESPACE]
    if values is not None:
        args += ["--values", str(values)]
    result = helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_values_files_exist() -> None:
    assert {p.name for p in CI_VALUES} >= {MINIMAL, PRODUCTION}
    assert set(VALUES_SETS) == set(EXPECTED_OBJECTS), "add the new ci values file to EXPECTED_OBJECTS"


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_renders_the_expected_objects(values_set: str) -> None:
    rendered = {(m["kind"], m["metadata"]["name"]) for m in render(values_set)}
    assert rendered == expected_objects(values_set)


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_every_manifest_is_valid(values_set: str) -> None:
    errors = []
    for m in render(values_set):
        if m["apiVersion"].startswith("monitoring.coreos.com/"):
            validate_prometheus_operator(m)
            continue
        try:
            kubernetes_validate.validate(m, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.absolute_path)
            errors.append(f"{m['kind']}/{m['metadata']['name']}: {error.message} at /{where}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_recommended_labels_on_every_object(values_set: str) -> None:
    for m in render(values_set):
        labels = m["metadata"].get("labels", {})
        where = f"{m['kind']}/{m['metadata']['name']}"
        for label in RECOMMENDED_LABELS:
            assert labels.get(label), f"{where} lacks {label}"
        assert labels[NAME] == "callfocus" and labels[INSTANCE] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "callfocus"
        assert labels["helm.sh/chart"] == "callfocus-0.1.0"
        assert m["metadata"].get("namespace"), f"{where} has no namespace"
    for where, _ in pod_specs(render(values_set)):
        kind, name = where.split("/")
        template_labels = one(render(values_set), kind, name)["spec"]["template"]["metadata"]["labels"]
        for label in RECOMMENDED_LABELS:
            assert template_labels.get(label), f"pods of {where} lack {label}"


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_selectors_use_only_name_instance_and_component(values_set: str) -> None:
    manifests = render(values_set)
    sts = statefulset(manifests)
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    selectors: dict[str, dict[str, str]] = {"StatefulSet": sts["spec"]["selector"]["matchLabels"]}
    assert "matchExpressions" not in sts["spec"]["selector"]
    for service in objects(manifests, "Service"):
        selectors[f"Service/{service['metadata']['name']}"] = service["spec"]["selector"]
    for kind in ("PodDisruptionBudget",):
        for m in objects(manifests, kind):
            selectors[kind] = m["spec"]["selector"]["matchLabels"]
    for m in objects(manifests, "NetworkPolicy"):
        selectors["NetworkPolicy"] = m["spec"]["podSelector"]["matchLabels"]
    for name, selector in selectors.items():
        assert set(selector) <= SELECTOR_KEYS, f"{name} selects on {set(selector) - SELECTOR_KEYS}"
        assert {NAME, INSTANCE} <= set(selector), name
        if name != "NetworkPolicy":  # the policy covers the topics job too
            assert selector == sts["spec"]["selector"]["matchLabels"], name
        assert all(pod_labels[k] == v for k, v in selector.items()), f"{name} does not match the workers"
    # the topics job's pods are no workers: no Service, PDB or HPA counts them
    job_labels = topics_job(manifests)["spec"]["template"]["metadata"]["labels"]
    assert any(job_labels.get(k) != v for k, v in sts["spec"]["selector"]["matchLabels"].items())
    for m in objects(manifests, "ServiceMonitor"):
        selector = dict(m["spec"]["selector"]["matchLabels"])
        # plus the label that tells the http Service from the headless one (no double scrape)
        assert selector.pop("callfocus.io/metrics") == "true"
        assert selector == sts["spec"]["selector"]["matchLabels"]
        scraped = [
            s
            for s in objects(manifests, "Service")
            if all(
                s["metadata"]["labels"].get(k) == v for k, v in m["spec"]["selector"]["matchLabels"].items()
            )
        ]
        assert [s["metadata"]["name"] for s in scraped] == [RELEASE]


# --- workers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_worker_probes(values_set: str) -> None:
    worker = container(statefulset(render(values_set)))
    assert worker["args"] == ["worker"]
    assert worker["ports"] == [{"name": "http", "containerPort": 6066, "protocol": "TCP"}]
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert worker["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    startup = worker["startupProbe"]
    # changelog recovery of a big table takes minutes: the startup probe waits that long
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_security_context_is_hardened(values_set: str) -> None:
    manifests = render(values_set)
    for where, spec in pod_specs(manifests):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == 10001 and pod["runAsGroup"] == 10001 and pod["fsGroup"] == 10001, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["enableServiceLinks"] is False, where
        assert spec["automountServiceAccountToken"] is False, where
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            mounts = {v["mountPath"] for v in c["volumeMounts"]}
            # the only writable paths of the image: /tmp and the data dir
            assert {"/tmp", "/var/lib/callfocus"} <= mounts, where
    for sa in objects(manifests, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_statefulset_storage_and_services() -> None:
    manifests = render("default")
    sts = statefulset(manifests)
    spec = sts["spec"]
    headless = one(manifests, "Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["replicas"] == 2
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    claim = spec["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster default
    assert "data" not in {v["name"] for v in spec["template"]["spec"]["volumes"]}
    assert "checksum/config" in spec["template"]["metadata"]["annotations"]
    http = one(manifests, "Service", RELEASE)
    assert http["spec"]["type"] == "ClusterIP"
    assert http["spec"]["ports"] == [{"name": "http", "port": 6066, "targetPort": "http", "protocol": "TCP"}]
    assert headless["spec"]["ports"][0]["name"] == "http"
    # production: storage class and size from values
    claim = statefulset(render(PRODUCTION))["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_scheduling_passthrough() -> None:
    sets = ("nodeSelector.pool=calls", "tolerations[0].key=dedicated", "tolerations[0].operator=Exists")
    pod = statefulset(render("default", *sets))["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "calls"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert "affinity" not in pod and "topologySpreadConstraints" not in pod
    pod = statefulset(render(PRODUCTION))["spec"]["template"]["spec"]
    assert pod["topologySpreadConstraints"] == load_values(PRODUCTION)["topologySpreadConstraints"]


def test_persistence_disabled_uses_an_emptydir() -> None:
    spec = statefulset(render("default", "persistence.enabled=false"))["spec"]
    assert "volumeClaimTemplates" not in spec
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["data"]["emptyDir"] == {}
    spec = statefulset(render("default", "persistence.enabled=false", "tmpSizeLimit="))["spec"]
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["tmp"]["emptyDir"] == {}
    volumes = {
        v["name"]: v
        for v in statefulset(render("memory-store-values.yaml"))["spec"]["template"]["spec"]["volumes"]
    }
    assert volumes["data"]["emptyDir"] == {"sizeLimit": "1Gi"}
    claim = statefulset(render("default", "persistence.storageClass=-"))["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == ""


def test_checksum_follows_the_config() -> None:
    def checksum(*sets: str) -> str:
        sts = statefulset(render("default", *sets))
        return str(sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum() == checksum()
    assert checksum() != checksum("config.logLevel=debug")
    assert checksum() != checksum("config.nudgeRules.monologue.threshold=120")


def test_worker_env_names_are_settings() -> None:
    """The chart only sets CALLFOCUS_* variables the settings object knows (it forbids extras)."""
    from streams.settings import Settings

    known = {f"CALLFOCUS_{name.upper()}" for name in Settings.model_fields}
    for values_set in VALUES_SETS:
        for workload in (statefulset(render(values_set)), topics_job(render(values_set))):
            names = set(env_of(workload))
            assert names <= known, f"{values_set}: unknown settings {names - known}"


def test_defaults_render_the_documented_environment() -> None:
    sts = statefulset(render("default"))
    expected = {
        "CALLFOCUS_KAFKA_BOOTSTRAP": "kafka:9092",
        "CALLFOCUS_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "CALLFOCUS_TOPIC_PREFIX": "callfocus",
        "CALLFOCUS_TOPIC_PARTITIONS": "8",
        "CALLFOCUS_TOPIC_REPLICATION": "1",
        "CALLFOCUS_TOPIC_RETENTION_MS": "{}",
        "CALLFOCUS_APP_ID": "callfocus",
        "CALLFOCUS_WEB_HOST": "0.0.0.0",
        "CALLFOCUS_WEB_PORT": "6066",
        "CALLFOCUS_DATA_DIR": "/var/lib/callfocus",
        "CALLFOCUS_STORE": "rocksdb",
        "CALLFOCUS_PROCESSING_GUARANTEE": "exactly_once",
        "CALLFOCUS_TABLE_STANDBY_REPLICAS": "1",
        "CALLFOCUS_SESSION_TIMEOUT_SECONDS": "60",
        "CALLFOCUS_LOG_LEVEL": "info",
        "CALLFOCUS_IDLE_TIMEOUT_SECONDS": "900",
        "CALLFOCUS_IMPLICIT_START": "false",
        "CALLFOCUS_ENDED_CALL_MEMORY_SECONDS": "3600",
        "CALLFOCUS_MAX_RECORD_BYTES": "1048576",
        "CALLFOCUS_MAX_EXPORTED_CALLS": "5000",
        "CALLFOCUS_PER_CALL_SERIES": "true",
        "CALLFOCUS_EXPORT_GRACE_SECONDS": "30",
        "CALLFOCUS_NUDGES_ENABLED": "true",
        "CALLFOCUS_NUDGE_SNIPPETS": "false",
        "CALLFOCUS_LANGUAGE": "en",
        "CALLFOCUS_REDACTION_MODE": "mask",
        "CALLFOCUS_DEAD_LETTER_ORIGINAL": "false",
        "CALLFOCUS_CONSOLE_SUMMARY_HISTORY_DAYS": "14",
        "CALLFOCUS_CONSOLE_MAX_SUMMARIES_PER_AGENT": "200",
        "CALLFOCUS_CONSOLE_MAX_SUMMARIES": "50000",
        "CALLFOCUS_CONSOLE_MAX_ACKS": "20000",
    }
    assert {name: env_value(sts, name) for name in expected} == expected
    for name in (*SECRET_ENV, "CALLFOCUS_KAFKA_SASL_USERNAME", "CALLFOCUS_KAFKA_SSL_CAFILE"):
        assert name not in env_of(sts)


def test_settings_accept_the_rendered_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The literal env of the production workers, with their mounted files, parses into the
    settings object."""
    from streams.settings import Settings

    manifests = render(PRODUCTION)
    sts = statefulset(manifests)
    literal = {name: str(entry.get("value", "from-a-secret")) for name, entry in env_of(sts).items()}
    for name, value in kubelet_env(manifests, sts, literal, tmp_path).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.topic_partitions == 12
    assert settings.topic_retention_ms == load_values(PRODUCTION)["kafka"]["topics"]["retentionMs"]
    assert settings.kafka_security_protocol == "SASL_SSL"


def test_console_settings_reach_the_workers_and_parse() -> None:
    from streams.settings import Settings

    sts = statefulset(
        render("default", "config.console.summaryHistoryDays=3", "config.console.maxSummaries=1000")
    )
    env = {name: env_value(sts, name) for name in env_of(sts) if name.startswith("CALLFOCUS_CONSOLE_")}
    assert env["CALLFOCUS_CONSOLE_SUMMARY_HISTORY_DAYS"] == "3"
    settings = Settings(
        kafka_bootstrap="127.0.0.1:9",
        **{name.removeprefix("CALLFOCUS_").lower(): value for name, value in env.items()},
    )
    assert (settings.console.summary_history_days, settings.console.max_summaries) == (3.0, 1000)
    assert settings.console.max_summaries_per_agent == 200 and settings.console.max_acks == 20_000


def test_extra_config_and_extra_env() -> None:
    sts = statefulset(render("default", "config.extra.BATCH_MAX_EVENTS=250", "extraEnv[0].name=TZ"))
    assert env_value(sts, "CALLFOCUS_BATCH_MAX_EVENTS") == "250"
    assert "TZ" in env_of(sts)


def test_nudge_rules_and_lexicon_are_mounted_from_a_configmap() -> None:
    manifests = render("memory-store-values.yaml", "config.lexicon=[en]")
    files = one(manifests, "ConfigMap", f"{RELEASE}-files")
    assert "[monologue]\nthreshold = 120\n" in files["data"]["nudge-rules.toml"]
    assert files["data"]["lexicon.toml"] == "[en]"
    sts = statefulset(manifests)
    mounts = {m["name"]: m["mountPath"] for m in container(sts)["volumeMounts"]}
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["files"]["configMap"]["name"] == files["metadata"]["name"]
    assert env_value(sts, "CALLFOCUS_NUDGE_RULES_FILE") == f"{mounts['files']}/nudge-rules.toml"
    assert env_value(sts, "CALLFOCUS_LEXICON_FILE") == f"{mounts['files']}/lexicon.toml"
    assert not objects(render("default", "config.nudgeRules=null"), "ConfigMap")


def render_with_trackers(tmp_path: Path, file: str) -> list[Manifest]:
    """The default render with a trackers file (a values file: its text does not survive --set)."""
    values = tmp_path / f"trackers-{len(list(tmp_path.iterdir()))}.yaml"
    values.write_text(yaml.safe_dump({"trackers": {"enabled": True, "file": file, "reloadSeconds": 5}}))
    return [json.loads(json.dumps(doc)) for doc in _render(values, ())]


def test_trackers_are_mounted_as_a_folder_and_reloaded_without_a_restart(tmp_path: Path) -> None:
    examples = ROOT / "deploy" / "trackers" / "examples.toml"
    manifests = render_with_trackers(tmp_path, examples.read_text())
    configmap = one(manifests, "ConfigMap", f"{RELEASE}-trackers")
    for m in (configmap, statefulset(manifests)):
        kubernetes_validate.validate(m, KUBE_VERSION, strict=True)
    sts = statefulset(manifests)
    mounts = {m["name"]: m for m in container(sts)["volumeMounts"]}
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["trackers"]["configMap"]["name"] == configmap["metadata"]["name"]
    # a subPath mount would never see the ConfigMap's updates
    assert "subPath" not in mounts["trackers"] and mounts["trackers"]["readOnly"] is True
    path = env_value(sts, "CALLFOCUS_TRACKERS_FILE")
    assert path == f"{mounts['trackers']['mountPath']}/trackers.toml"
    assert env_value(sts, "CALLFOCUS_TRACKERS_RELOAD_SECONDS") == "5"
    # the topics job does not load trackers: it neither mounts nor names the file
    assert "CALLFOCUS_TRACKERS_FILE" not in env_of(topics_job(manifests))
    # the file as the pod sees it is the trackers written
    from streams.engine.trackers import load_trackers

    mounted = tmp_path / "trackers.toml"
    mounted.write_text(configmap["data"]["trackers.toml"])
    assert load_trackers(mounted).digest == load_trackers(examples).digest

    def checksum(manifests: list[Manifest]) -> str:
        return str(statefulset(manifests)["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    # editing the trackers restarts no pod: the workers reload the file
    edited = render_with_trackers(tmp_path, '[[trackers]]\nname = "a"\nphrases = ["b"]\n')
    assert one(edited, "ConfigMap", f"{RELEASE}-trackers")["data"] != configmap["data"]
    assert checksum(edited) == checksum(manifests)
    default = render("default")
    assert not [m for m in objects(default, "ConfigMap") if m["metadata"]["name"].endswith("-trackers")]
    assert "trackers" not in {v["name"] for v in statefulset(default)["spec"]["template"]["spec"]["volumes"]}
    assert "CALLFOCUS_TRACKERS_FILE" not in env_of(statefulset(default))


def test_trackers_from_an_existing_configmap_in_yaml() -> None:
    manifests = render(
        "default", "trackers.enabled=true", "trackers.existingConfigMap=my-trackers", "trackers.key=t.yaml"
    )
    assert not [m for m in objects(manifests, "ConfigMap") if m["metadata"]["name"].endswith("-trackers")]
    sts = statefulset(manifests)
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["trackers"]["configMap"]["name"] == "my-trackers"
    assert env_value(sts, "CALLFOCUS_TRACKERS_FILE") == "/etc/callfocus/trackers/t.yaml"
    assert "trackers.enabled needs trackers.file" in render_fails("trackers.enabled=true")
    both = render_fails("trackers.enabled=true", "trackers.existingConfigMap=a", "trackers.file=x")
    assert "are both set" in both
    assert "/trackers/key" in render_fails("trackers.key=trackers.json")
    assert "additional properties 'files' not allowed" in render_fails("trackers.files=x")


# --- Kafka security ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sasl", "tls", "protocol"),
    [
        (False, False, "PLAINTEXT"),
        (False, True, "SSL"),
        (True, False, "SASL_PLAINTEXT"),
        (True, True, "SASL_SSL"),
    ],
)
def test_security_protocol_is_derived(sasl: bool, tls: bool, protocol: str) -> None:
    sets = [f"kafka.tls.enabled={str(tls).lower()}", f"kafka.sasl.enabled={str(sasl).lower()}"]
    if sasl:
        sets += ["kafka.sasl.existingSecret=kafka-user", "kafka.sasl.username=callfocus"]
    for workload in (statefulset(render("default", *sets)), topics_job(render("default", *sets))):
        assert env_value(workload, "CALLFOCUS_KAFKA_SECURITY_PROTOCOL") == protocol


def test_sasl_password_and_tls_ca_come_from_secrets() -> None:
    manifests = render(PRODUCTION)
    kafka = load_values(PRODUCTION)["kafka"]
    for workload in (statefulset(manifests), topics_job(manifests)):
        env = env_of(workload)
        password = env["CALLFOCUS_KAFKA_SASL_PASSWORD"]
        assert "value" not in password
        assert password["valueFrom"]["secretKeyRef"] == {
            "name": kafka["sasl"]["existingSecret"],
            "key": kafka["sasl"]["passwordKey"],
        }
        assert env_value(workload, "CALLFOCUS_KAFKA_SASL_MECHANISM") == "SCRAM-SHA-512"
        assert env_value(workload, "CALLFOCUS_KAFKA_SASL_USERNAME") == kafka["sasl"]["username"]
        cafile = Path(env_value(workload, "CALLFOCUS_KAFKA_SSL_CAFILE"))
        mounts = {m["name"]: m for m in container(workload)["volumeMounts"]}
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        mount = next(m for m in mounts.values() if m["mountPath"] == str(cafile.parent))
        assert mount["readOnly"] is True
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == kafka["tls"]["caSecret"]
        assert {"key": kafka["tls"]["caKey"], "path": cafile.name} in secret["items"]
    sts = statefulset(manifests)
    secrets = load_values(PRODUCTION)["secrets"]
    assert env_of(sts)["CALLFOCUS_CONSOLE_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": secrets["consoleToken"]["existingSecret"],
        "key": secrets["consoleToken"]["key"],
    }
    assert env_of(sts)["CALLFOCUS_NUDGE_WEBHOOK_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": secrets["nudgeWebhookUrl"]["existingSecret"],
        "key": secrets["nudgeWebhookUrl"]["key"],
    }


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_secrets_are_never_literals(values_set: str) -> None:
    for where, spec in pod_specs(render(values_set)):
        for c in spec["containers"]:
            for entry in c.get("env", []):
                if entry["name"] in SECRET_ENV:
                    assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], where


def test_sasl_username_from_the_secret() -> None:
    sets = ("kafka.sasl.enabled=true", "kafka.sasl.existingSecret=kafka-user", "kafka.sasl.usernameKey=user")
    env = env_of(statefulset(render("default", *sets)))
    assert env["CALLFOCUS_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-user",
        "key": "user",
    }
    assert env["CALLFOCUS_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-user",
        "key": "password",
    }


def test_hash_redaction_takes_its_key_from_a_secret() -> None:
    sets = ("config.privacy.redactionMode=hash", "secrets.redactionHashKey.existingSecret=pii-key")
    env = env_of(statefulset(render("default", *sets)))
    assert env["CALLFOCUS_REDACTION_MODE"]["value"] == "hash"
    assert env["CALLFOCUS_REDACTION_HASH_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "pii-key",
        "key": "key",
    }


def test_hash_redaction_without_a_key_fails() -> None:
    stderr = render_fails("config.privacy.redactionMode=hash")
    assert "secrets.redactionHashKey.existingSecret" in stderr


def test_sasl_without_a_secret_fails() -> None:
    stderr = render_fails("kafka.sasl.enabled=true", "kafka.sasl.username=callfocus")
    assert "kafka.sasl.existingSecret" in stderr


# --- topics job -------------------------------------------------------------------------------


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_topics_job_is_a_hook_with_the_topic_settings(values_set: str) -> None:
    manifests = render(values_set)
    job = topics_job(manifests)
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {
        "before-hook-creation",
        "hook-succeeded",
    }
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    c = container(job)
    sts = statefulset(manifests)
    assert c["args"] == ["topics"]
    assert c["image"] == container(sts)["image"]
    assert c["securityContext"] == container(sts)["securityContext"]
    assert (
        job["spec"]["template"]["spec"]["securityContext"]
        == sts["spec"]["template"]["spec"]["securityContext"]
    )
    # the hook runs before the chart's ServiceAccount exists
    assert job["spec"]["template"]["spec"].get("serviceAccountName") != sts["spec"]["template"]["spec"].get(
        "serviceAccountName"
    )
    topics = load_values(values_set).get("kafka", {}).get("topics", {})
    assert env_value(job, "CALLFOCUS_TOPIC_PARTITIONS") == str(topics.get("partitions", 8))
    assert env_value(job, "CALLFOCUS_TOPIC_REPLICATION") == str(topics.get("replication", 1))
    assert json.loads(env_value(job, "CALLFOCUS_TOPIC_RETENTION_MS")) == topics.get("retentionMs", {})
    # the same Kafka settings as the workers, and the same record size (max.message.bytes)
    for name in (
        "CALLFOCUS_KAFKA_BOOTSTRAP",
        "CALLFOCUS_KAFKA_SECURITY_PROTOCOL",
        "CALLFOCUS_TOPIC_PREFIX",
        "CALLFOCUS_MAX_RECORD_BYTES",
    ):
        assert env_of(job)[name] == env_of(sts)[name]


def test_production_topics() -> None:
    job = topics_job(render(PRODUCTION))
    assert env_value(job, "CALLFOCUS_TOPIC_PARTITIONS") == "12"
    assert env_value(job, "CALLFOCUS_TOPIC_REPLICATION") == "3"
    retention = json.loads(env_value(job, "CALLFOCUS_TOPIC_RETENTION_MS"))
    assert retention["call-events"] == 604800000


def test_topics_job_can_be_disabled() -> None:
    assert not objects(render("default", "kafka.topics.job.enabled=false"), "Job")


# --- PDB, HPA, partitions ---------------------------------------------------------------------


def test_pdb_on_by_default_and_can_be_disabled() -> None:
    pdb = one(render("default"), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert not objects(render("default", "podDisruptionBudget.enabled=false"), "PodDisruptionBudget")


def test_hpa_off_by_default_and_bounded_by_partitions_in_production() -> None:
    assert not objects(render("default"), "HorizontalPodAutoscaler")
    manifests = render(PRODUCTION)
    hpa = one(manifests, "HorizontalPodAutoscaler")
    sts = statefulset(manifests)
    partitions = int(env_value(sts, "CALLFOCUS_TOPIC_PARTITIONS"))
    assert partitions == 12
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": RELEASE}
    assert "replicas" not in sts["spec"], "the HPA owns the replica count"
    assert hpa["spec"]["metrics"]


def test_replicas_beyond_partitions_fail() -> None:
    stderr = render_fails("replicaCount=9")
    assert "replicaCount (9) is larger than kafka.topics.partitions (8)" in stderr
    stderr = render_fails("autoscaling.maxReplicas=13", values_set=PRODUCTION)
    assert "autoscaling.maxReplicas (13) is larger than kafka.topics.partitions (12)" in stderr
    stderr = render_fails("autoscaling.enabled=true", "autoscaling.maxReplicas=9")
    assert "autoscaling.maxReplicas (9) is larger than kafka.topics.partitions (8)" in stderr
    # at the partition count it renders
    assert statefulset(render("default", "replicaCount=8"))["spec"]["replicas"] == 8


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("replicaCont=2", "additional properties 'replicaCont' not allowed"),
        ("kafka.sasl.enabeld=true", "additional properties 'enabeld' not allowed"),
        ("monitoring.serviceMonitor.additionalLabel.release=x", "additional properties 'additionalLabel'"),
        ("config.store=redis", "/config/store"),
        ("config.processingGuarantee=maybe", "/config/processingGuarantee"),
        ("config.logLevel=trace", "/config/logLevel"),
        ("config.privacy.redactionMode=scramble", "/config/privacy/redactionMode"),
        ("kafka.sasl.mechanism=GSSAPI", "/kafka/sasl/mechanism"),
        ("kafka.topics.partitions=0", "/kafka/topics/partitions"),
        ("kafka.topics.retentionMs.call-event=1000", "call-events"),
        # unknown alerts and bad alert values
        ("monitoring.prometheusRule.alerts.CallfocusMonolog.enabled=false", "'CallfocusMonolog' not allowed"),
        ("monitoring.prometheusRule.alerts.CallfocusWorkerDown.threshold=1", "'threshold' not allowed"),
        ("monitoring.prometheusRule.alerts.CallfocusTeamScoreLow.severity=page", "severity"),
        ("monitoring.prometheusRule.alerts.CallfocusTeamScoreLow.for=10", "for"),
        ("config.nudgeRules.monolog.threshold=1", "'monolog' not allowed"),
        ("config.console.maxSummaries=0", "/config/console/maxSummaries"),
        ("config.console.maxSumaries=10", "'maxSumaries' not allowed"),
        ("monitoring.jobName=a b", "jobName"),
    ],
)
def test_schema_rejects_typos_and_bad_values(override: str, message: str) -> None:
    stderr = render_fails(override)
    assert "schema" in stderr and message in stderr, stderr


# --- NetworkPolicy ----------------------------------------------------------------------------


def test_network_policy() -> None:
    assert not objects(render("default"), "NetworkPolicy")
    policy = one(render(PRODUCTION), "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    [ingress] = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    prometheus = ingress["from"][0]
    assert prometheus["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    egress_ports = [{(p["port"], p["protocol"]) for p in rule["ports"]} for rule in policy["egress"]]
    assert {(9094, "TCP")} in egress_ports  # Kafka
    assert {(53, "UDP"), (53, "TCP")} in egress_ports  # DNS
    kafka_rule = policy["egress"][egress_ports.index({(9094, "TCP")})]
    assert kafka_rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]


# --- monitoring -------------------------------------------------------------------------------


def rule_groups_of_the_repo() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        groups += yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return groups


def test_monitoring_objects_are_off_by_default() -> None:
    manifests = render("default")
    assert not objects(manifests, "ServiceMonitor")
    assert not objects(manifests, "PrometheusRule")
    assert not objects(manifests, "AlertmanagerConfig")
    assert not dashboard_configmaps(manifests)


@pytest.mark.parametrize("toggle", ["serviceMonitor", "prometheusRule", "alertmanagerConfig", "dashboards"])
def test_each_monitoring_toggle_alone(toggle: str) -> None:
    manifests = render(
        "default",
        f"monitoring.{toggle}.enabled=true",
        f"monitoring.{toggle}.additionalLabels.team=platform",
        f"monitoring.{toggle}.namespace=monitoring",
    )
    kinds = {
        "serviceMonitor": [m for m in manifests if m["kind"] == "ServiceMonitor"],
        "prometheusRule": [m for m in manifests if m["kind"] == "PrometheusRule"],
        "alertmanagerConfig": [m for m in manifests if m["kind"] == "AlertmanagerConfig"],
        "dashboards": dashboard_configmaps(manifests),
    }
    assert kinds.pop(toggle), f"monitoring.{toggle}.enabled renders nothing"
    assert not any(kinds.values()), f"monitoring.{toggle} turned on others: {list(kinds)}"
    monitoring_kinds = ("ServiceMonitor", "PrometheusRule", "AlertmanagerConfig")
    for m in [m for kind in monitoring_kinds for m in objects(manifests, kind)]:
        assert m["metadata"]["labels"]["team"] == "platform"
        assert m["metadata"]["namespace"] == "monitoring"
    for m in dashboard_configmaps(manifests):
        assert m["metadata"]["labels"]["team"] == "platform"
        assert m["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert m["metadata"]["namespace"] == "monitoring"


def test_a_metrics_port_of_its_own_is_served_scraped_and_allowed() -> None:
    manifests = render(PRODUCTION, "metricsPort=9464")
    sts = statefulset(manifests)
    assert env_value(sts, "CALLFOCUS_METRICS_PORT") == "9464"
    assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container(sts)["ports"]
    service = one(manifests, "Service", RELEASE)
    assert {"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"} in service["spec"][
        "ports"
    ]
    [endpoint] = one(manifests, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    [ingress] = one(manifests, "NetworkPolicy")["spec"]["ingress"]
    assert {"port": "metrics", "protocol": "TCP"} in ingress["ports"]
    # without it, /metrics stays on the web port
    default = render(PRODUCTION)
    assert "CALLFOCUS_METRICS_PORT" not in env_of(statefulset(default))
    assert [p["name"] for p in container(statefulset(default))["ports"]] == ["http"]


def test_service_monitor_scrapes_metrics() -> None:
    sm = one(render(PRODUCTION), "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [endpoint] = sm["spec"]["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "15s"
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def test_prometheus_rule_is_the_single_copy_of_the_rules() -> None:
    rule = one(render(PRODUCTION), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"]["groups"] == rule_groups_of_the_repo()
    # Prometheus' templates stay templates: helm renders the rule files verbatim
    annotations = [r.get("annotations", {}) for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any("{{ $labels." in text for a in annotations for text in a.values())


def test_alertmanager_config_sends_the_supervisors_alerts_to_the_console_as_the_example_does() -> None:
    am = one(render(PRODUCTION), "AlertmanagerConfig")
    assert am["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    route, [receiver] = am["spec"]["route"], am["spec"]["receivers"]
    # the route of deploy/prometheus/alertmanager.yml, in the operator's spelling
    example = yaml.safe_load((ROOT / "deploy/prometheus/alertmanager.yml").read_text(encoding="utf-8"))
    [shipped] = [r for r in example["route"]["routes"] if r["receiver"] == "supervisors-console"]
    assert [f'{m["name"]}{m["matchType"]}"{m["value"]}"' for m in route["matchers"]] == shipped["matchers"]
    assert route["groupBy"] == shipped["group_by"]
    timings = ("group_wait", "group_interval", "repeat_interval")
    assert [route[k] for k in ("groupWait", "groupInterval", "repeatInterval")] == [
        shipped[k] for k in timings
    ]
    [example_webhook] = next(r for r in example["receivers"] if r["name"] == shipped["receiver"])[
        "webhook_configs"
    ]
    [webhook] = receiver["webhookConfigs"]
    assert (webhook["sendResolved"], webhook["maxAlerts"]) == (
        example_webhook["send_resolved"],
        example_webhook["max_alerts"],
    )
    # the release's own Service and port; the token from the workers' Secret
    service = one(render(PRODUCTION), "Service", RELEASE)
    [http_port] = [p["port"] for p in service["spec"]["ports"] if p["name"] == "http"]
    assert webhook["url"] == f"http://{RELEASE}.{NAMESPACE}.svc:{http_port}/api/alertmanager"
    secret = load_values(PRODUCTION)["secrets"]["consoleToken"]
    credentials = webhook["httpConfig"]["authorization"]["credentials"]
    assert credentials == {"name": secret["existingSecret"], "key": secret.get("key", "token")}
    # no console token: no credentials to send
    open_console = one(render("default", "monitoring.alertmanagerConfig.enabled=true"), "AlertmanagerConfig")
    assert "httpConfig" not in open_console["spec"]["receivers"][0]["webhookConfigs"][0]


ALERTS = "monitoring.prometheusRule.alerts"


def rendered_alert_rules(*sets: str) -> dict[str, dict[str, Any]]:
    rule = one(render("default", "monitoring.prometheusRule.enabled=true", *sets), "PrometheusRule")
    return {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}


def test_default_render_equals_the_shipped_rule_files() -> None:
    rule = one(render("default", "monitoring.prometheusRule.enabled=true"), "PrometheusRule")
    assert rule["spec"]["groups"] == rule_groups_of_the_repo(), (
        "the chart's default alert rules differ from deploy/prometheus/rules/callfocus-alerts.yml: "
        "change both (templates/prometheusrule.yaml renders the alerts from values)"
    )


def test_job_label_follows_monitoring_job_name() -> None:
    manifests = render(PRODUCTION, "monitoring.jobName=cf-prod")
    sm = one(manifests, "ServiceMonitor")
    assert sm["spec"]["jobLabel"] == "callfocus.io/job"
    service = one(manifests, "Service", RELEASE)
    assert service["metadata"]["labels"]["callfocus.io/job"] == "cf-prod"
    assert sm["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    exprs = [r["expr"] for g in one(manifests, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    assert not any('job="callfocus"' in e for e in exprs)
    assert sum('job="cf-prod"' in e for e in exprs) >= 8
    panels = "".join(text for m in dashboard_configmaps(manifests) for text in m["data"].values())
    assert 'job=\\"cf-prod\\"' in panels and 'job=\\"callfocus\\"' not in panels


def test_one_value_sets_a_nudge_and_its_alert() -> None:
    default = rendered_alert_rules()
    assert "> 90\n" in default["CallfocusMonologue"]["expr"] + "\n"
    manifests = render(
        "default", "monitoring.prometheusRule.enabled=true", "config.nudgeRules.monologue.threshold=120"
    )
    toml = one(manifests, "ConfigMap", f"{RELEASE}-files")["data"]["nudge-rules.toml"]
    assert "[monologue]\nthreshold = 120\n" in toml
    rules = {
        r["alert"]: r
        for g in one(manifests, "PrometheusRule")["spec"]["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    assert rules["CallfocusMonologue"]["expr"].endswith("> 120")
    assert "(alert above 120s)" in rules["CallfocusMonologue"]["annotations"]["description"]
    # no_discovery sets the alert's `for`: no question in the 180 s window for the rest of it
    rules = rendered_alert_rules("config.nudgeRules.no_discovery.threshold=420")
    assert rules["CallfocusNoDiscovery"]["for"] == "4m"
    assert default["CallfocusNoDiscovery"]["for"] == "2m"


def test_the_conversation_alerts_take_their_nudges_threshold_and_type() -> None:
    rules = rendered_alert_rules(
        "config.nudgeRules.dead_air.threshold=30",
        "config.nudgeRules.speech_rate.threshold=210",
    )
    # dead air: the nudge's seconds of its 60 s window, as the share of the exported 60 s window
    assert '(callfocus_call_dead_air_ratio{window="60s"}) > 0.5\n' in rules["CallfocusDeadAir"]["expr"]
    assert "(alert above 50 %, 30s of 60s)" in rules["CallfocusDeadAir"]["annotations"]["description"]
    assert ") > 210\n" in rules["CallfocusSpeechRateHigh"]["expr"]
    assert "(alert above 50 %)" in rules["CallfocusPitchingEarly"]["annotations"]["description"]
    from streams.engine.nudges import NUDGE_TYPES

    types = {name: rule["labels"].get("nudge_type") for name, rule in rules.items()}
    assert {t for t in types.values() if t} <= set(NUDGE_TYPES)
    assert types["CallfocusOvertalk"] == "overtalk" and types["CallfocusMonologue"] == "monologue"
    assert types["CallfocusLongHold"] is None and types["CallfocusTeamObjectionHandlingLow"] is None


def test_the_nudge_defaults_of_the_chart_are_the_workers() -> None:
    from streams.engine.nudges import DEFAULT_RULES

    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    chart = {rule: fields["threshold"] for rule, fields in values["config"]["nudgeRules"].items()}
    assert chart == {rule.type: rule.threshold for rule in DEFAULT_RULES}


def test_the_rendered_nudge_file_loads_in_the_worker(tmp_path: Path) -> None:
    from streams.engine.nudges import load_rules

    files = one(render("memory-store-values.yaml"), "ConfigMap", f"{RELEASE}-files")
    path = tmp_path / "nudge-rules.toml"
    path.write_text(files["data"]["nudge-rules.toml"], encoding="utf-8")
    rules = {rule.type: rule for rule in load_rules(path)}
    assert rules["monologue"].threshold == 120
    assert rules["interrupting"].enabled is False
    assert rules["talk_dominance"].threshold == 0.75


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "monitoring.prometheusRule.alerts.CallfocusMonologue.threshold=100",
            "config.nudgeRules.monologue.threshold",
        ),
        (
            "monitoring.prometheusRule.alerts.CallfocusCustomerNegative.threshold=0",
            "config.nudgeRules.customer_negative",
        ),
        (
            "monitoring.prometheusRule.alerts.CallfocusNoDiscovery.for=5m",
            "config.nudgeRules.no_discovery.threshold",
        ),
        (
            "monitoring.prometheusRule.alerts.CallfocusDeadAir.threshold=10",
            "config.nudgeRules.dead_air.threshold",
        ),
        ("config.nudgeRules.no_discovery.threshold=120", "must be above 180"),
    ],
)
def test_alert_overrides_of_a_nudge_threshold_fail(override: str, message: str) -> None:
    stderr = render_fails("monitoring.prometheusRule.enabled=true", override)
    assert message in stderr, stderr


def test_alert_values_change_the_rule() -> None:
    rules = rendered_alert_rules(
        "monitoring.prometheusRule.alerts.CallfocusConsumerLagGrowing.threshold=5000",
        "monitoring.prometheusRule.alerts.CallfocusConsumerLagGrowing.for=10m",
        "monitoring.prometheusRule.alerts.CallfocusLatencyP99High.severity=critical",
        "monitoring.prometheusRule.alerts.CallfocusTeamScoreLow.enabled=false",
    )
    lag = rules["CallfocusConsumerLagGrowing"]
    assert "> 5000\n" in lag["expr"] and lag["for"] == "10m"
    assert rules["CallfocusLatencyP99High"]["labels"]["severity"] == "critical"
    assert "CallfocusTeamScoreLow" not in rules
    assert len(rules) == len(rendered_alert_rules()) - 1


def ruled_series(metric: str, labels: dict[str, str]) -> str:
    return metric + "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def test_rules_of_any_release_name_fire_on_the_service_monitors_series(tmp_path: Path) -> None:
    """helm template acme-cf: promtool runs the rendered rules on series labelled as that
    ServiceMonitor makes Prometheus label them (job from jobLabel, not the Service's name)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: deploy/local/ensure-deps.sh prometheus"
    charts_inputs_exist()
    args = ["template", "acme-cf", str(CHART), "--namespace", "contact", "--kube-version", KUBE_VERSION]
    result = helm(*args, "--values", str(CHART / "ci" / PRODUCTION))
    assert result.returncode == 0, result.stderr
    manifests = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    service = one(manifests, "Service", "acme-cf-callfocus")
    sm = one(manifests, "ServiceMonitor")
    # prometheus-operator: the job is the value of the Service's jobLabel label, else its name
    job = service["metadata"]["labels"].get(sm["spec"].get("jobLabel", ""), service["metadata"]["name"])
    rules_file = tmp_path / "rules.yml"
    spec = one(manifests, "PrometheusRule")["spec"]
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # this test is about which series the rules select
    rules_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
    target = {
        "job": job,
        "namespace": "contact",
        "service": service["metadata"]["name"],
        "endpoint": sm["spec"]["endpoints"][0]["port"],
        "pod": "acme-cf-callfocus-0",
        "container": "callfocus",
        "instance": "10.1.2.3:6066",
    }
    lag = {**target, "topic": "callfocus.call-events", "partition": "0"}
    tests = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # up for 3 minutes, then the target is gone (scaled to zero)
                    {"series": ruled_series("up", target), "values": "1x3 stale"},
                    {"series": ruled_series("callfocus_consumer_lag_records", lag), "values": "500+500x10"},
                ],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "CallfocusNoWorkers", "exp_alerts": []},
                    {
                        "eval_time": "7m",
                        "alertname": "CallfocusNoWorkers",
                        "exp_alerts": [
                            {"exp_labels": {"job": job, "severity": "critical", "audience": "platform"}}
                        ],
                    },
                    {"eval_time": "3m", "alertname": "CallfocusConsumerLagGrowing", "exp_alerts": []},
                    {
                        "eval_time": "9m",
                        "alertname": "CallfocusConsumerLagGrowing",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "job": job,
                                    "topic": "callfocus.call-events",
                                    "severity": "critical",
                                    "audience": "platform",
                                }
                            }
                        ],
                    },
                ],
            },
            {
                "interval": "1m",
                "input_series": [{"series": ruled_series("up", target), "values": "0x5"}],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "CallfocusNoWorkers", "exp_alerts": []},
                    {
                        "eval_time": "5m",
                        "alertname": "CallfocusWorkerDown",
                        "exp_alerts": [
                            {"exp_labels": {**target, "severity": "critical", "audience": "platform"}}
                        ],
                    },
                ],
            },
        ],
    }
    test_file = tmp_path / "acme-cf-test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"job={job}:\n" + result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # the job is not the Service's name: rules selecting job="acme-cf-callfocus" would never fire
    assert job == "callfocus" != service["metadata"]["name"]


def test_chart_files_are_symlinks_to_the_single_copies() -> None:
    for link, target in (
        (CHART / "files" / "rules", RULES_DIR),
        (CHART / "files" / "dashboards", DASHBOARDS_DIR),
    ):
        assert link.is_symlink(), f"{link} must be a symlink to {target}"
        assert not os.path.isabs(os.readlink(link)), f"{link}: use a relative link (works in any checkout)"
        assert link.resolve() == target.resolve()


def test_one_dashboard_configmap_per_json_file() -> None:
    files = dashboard_files()
    assert files, f"no dashboards in {DASHBOARDS_DIR.relative_to(ROOT)}"
    manifests = render(PRODUCTION)
    dashboards = dashboard_configmaps(manifests)
    assert len(dashboards) == len(files)
    by_key = {key: (m, text) for m in dashboards for key, text in m["data"].items()}
    assert set(by_key) == {p.name for p in files}
    for path in files:
        m, text = by_key[path.name]
        assert len(m["data"]) == 1
        assert m["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert m["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert m["metadata"]["namespace"] == "monitoring"
        assert json.loads(text) == json.loads(path.read_text(encoding="utf-8"))


def render_notes(tmp_path: Path, *sets: str) -> str:
    """NOTES.txt as `helm install` prints it (helm template skips NOTES: render a copy as a value)."""
    charts_inputs_exist()
    chart = tmp_path / "callfocus"
    shutil.copytree(CHART, chart, symlinks=False)
    notes = (chart / "templates" / "NOTES.txt").read_text(encoding="utf-8")
    indented = "".join(f"  {line}" for line in notes.splitlines(keepends=True))
    (chart / "templates" / "zz-notes.yaml").write_text(f"notes: |\n{indented}", encoding="utf-8")
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    args += ["--show-only", "templates/zz-notes.yaml", *(a for s in sets for a in ("--set", s))]
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return str(yaml.safe_load(result.stdout)["notes"])


def test_notes_explain_console_metrics_and_partitions(tmp_path: Path) -> None:
    notes = render_notes(tmp_path / "default")
    assert f"kubectl -n {NAMESPACE} port-forward svc/{RELEASE} 6066:6066" in notes
    assert "http://127.0.0.1:6066/console" in notes
    assert "/metrics" in notes
    assert "WARNING" not in notes
    notes = render_notes(tmp_path / "at-partitions", "replicaCount=8")
    assert "WARNING: up to 8 workers for 8 partitions" in notes


# --- documentation ----------------------------------------------------------------------------


def schema_node(schema: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for key in path:
        if node is None or key not in node.get("properties", {}):
            return None
        node = node["properties"][key]
    return node


def is_leaf(node: dict[str, Any] | None) -> bool:
    """A value documented as a whole: no sub-keys in the schema, or a label selector."""
    if node is None:
        return False
    properties = node.get("properties", {})
    return not properties or "matchLabels" in properties


def test_every_value_is_documented() -> None:
    """Each key of values.yaml that the schema describes has a comment above it."""
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    lines = (CHART / "values.yaml").read_text(encoding="utf-8").splitlines()
    stack: list[tuple[int, str]] = []
    undocumented = []
    key_line = re.compile(r"^(\s*)([A-Za-z][\w.-]*):(.*)$")
    for number, line in enumerate(lines):
        match = key_line.match(line)
        if not match:
            continue
        indent = len(match[1])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [key for _, key in stack] + [match[2]]
        stack.append((indent, match[2]))
        if any(is_leaf(schema_node(schema, path[:n])) for n in range(1, len(path))):
            continue  # inside a documented value (a free-form map or a label selector)
        node = schema_node(schema, path)
        if node is None or not is_leaf(node):
            continue  # unknown to the schema (helm rejects it), or a section whose keys are documented
        previous = next((lines[i].strip() for i in range(number - 1, -1, -1) if lines[i].strip()), "")
        if not previous.startswith("#"):
            undocumented.append(".".join(path))
    assert not undocumented, f"values without a comment: {undocumented}"
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    missing = [key for key in schema["properties"] if key != "global" and f"`{key}" not in readme]
    assert not missing, f"README.md of the chart does not describe {missing}"


def test_workers_use_static_group_membership_with_their_pod_name() -> None:
    worker = statefulset(render())
    entry = env_of(worker)["CALLFOCUS_GROUP_INSTANCE_ID"]
    assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    off = statefulset(render("default", "config.staticGroupMembership=false"))
    assert "CALLFOCUS_GROUP_INSTANCE_ID" not in env_of(off)


# --- ASR bridge -------------------------------------------------------------------------------


def test_bridge_off_by_default_and_one_deployment_when_enabled() -> None:
    assert not objects(render("default"), "Deployment")
    manifests = render(
        "default",
        "bridge.enabled=true",
        "bridge.format=deepgram",
        "bridge.inputTopic=asr.deepgram.live",
        "bridge.agentChannel=1",
        "bridge.customerChannel=0",
    )
    bridge = one(manifests, "Deployment", f"{RELEASE}-bridge")
    kubernetes_validate.validate(bridge, KUBE_VERSION, strict=True)
    spec = bridge["spec"]
    assert (spec["replicas"], spec["strategy"]["type"]) == (1, "Recreate")  # never two: one transactional id
    assert spec["selector"]["matchLabels"][COMPONENT] == "bridge"
    [container] = spec["template"]["spec"]["containers"]
    assert container["args"] == [
        "bridge",
        "--format=deepgram",
        "--input-topic=asr.deepgram.live",
        "--agent-channel=1",
        "--customer-channel=0",
    ]
    worker_env = {
        e["name"] for e in statefulset(manifests)["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    bridge_env = {e["name"] for e in container["env"]}
    assert bridge_env <= worker_env  # the same Kafka connection and topics as the workers
    assert {"CALLFOCUS_KAFKA_BOOTSTRAP", "CALLFOCUS_TOPIC_PREFIX", "CALLFOCUS_APP_ID"} <= bridge_env
    assert "must be one of" in render_fails("bridge.enabled=true", "bridge.format=vosk")
