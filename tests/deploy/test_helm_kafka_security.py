"""The Helm chart's Kafka security values give the pods exactly the connection the SASL_SSL
integration test (tests/integration/test_kafka_sasl_ssl.py) proves against a real broker.

Both start from what ``deploy/local/kafka.sh env`` prints for a SASL_SSL broker. Here those
settings become chart values (bootstrap, SASL on with its mechanism and user, the password
in a Secret, TLS on with the CA in a Secret); the rendered pod environment, with its secret
references resolved from those Secrets, is parsed into :class:`Settings`, and its
:class:`KafkaConnection` must equal the test's but for the CA path, which must be the file
the chart mounts from the CA Secret.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from streams.settings import KafkaConnection, Settings
from tests.conftest import KAFKA_SH
from tests.deploy.test_helm_chart import container, kubelet_env, render, statefulset, topics_job

PASSWORD_SECRET = ("kafka-user", "password")
CA_SECRET = ("kafka-ca", "ca.pem")


def local_sasl_ssl_env(tmp_path: Path) -> dict[str, str]:
    """The client settings of kafka.sh's SASL_SSL broker, as the integration test gets them."""
    env = {
        **os.environ,
        "CALLFOCUS_LOCAL_KAFKA_SECURITY": "sasl_ssl",
        "CALLFOCUS_LOCAL_KAFKA_PORT": "29093",
        "CALLFOCUS_LOCAL_KAFKA_DATA": str(tmp_path),
    }
    printed = subprocess.run([str(KAFKA_SH), "env"], env=env, capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in printed.stdout.splitlines())


def connection_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> KafkaConnection:
    for name in [n for n in os.environ if n.startswith("CALLFOCUS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings().kafka


def pod_env(workload: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The container's environment as the kubelet would give it, secret references resolved."""
    env = {}
    for entry in container(workload)["env"]:
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        elif "secretKeyRef" in entry["valueFrom"]:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secrets[ref["name"]][ref["key"]]
        else:  # the pod's own fields (its name, for static membership)
            env[entry["name"]] = f"pod-{entry['valueFrom']['fieldRef']['fieldPath']}"
    return env


def mounted_ca(workload: dict[str, Any]) -> Path:
    """The path where the pod sees the CA Secret's key."""
    spec = workload["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == CA_SECRET[0])
    mount = next(m for m in container(workload)["volumeMounts"] if m["name"] == volume["name"])
    item = next(i for i in volume["secret"]["items"] if i["key"] == CA_SECRET[1])
    assert mount.get("readOnly") is True
    return Path(mount["mountPath"]) / item["path"]


def test_the_charts_sasl_ssl_values_give_the_pods_the_tested_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = local_sasl_ssl_env(tmp_path)
    tested = connection_from(local, monkeypatch)
    assert tested.security_protocol == "SASL_SSL" and tested.sasl_mechanism == "SCRAM-SHA-512"
    sets = (
        f"kafka.bootstrapServers={local['CALLFOCUS_KAFKA_BOOTSTRAP']}",
        "kafka.sasl.enabled=true",
        f"kafka.sasl.mechanism={local['CALLFOCUS_KAFKA_SASL_MECHANISM']}",
        f"kafka.sasl.username={local['CALLFOCUS_KAFKA_SASL_USERNAME']}",
        f"kafka.sasl.existingSecret={PASSWORD_SECRET[0]}",
        f"kafka.sasl.passwordKey={PASSWORD_SECRET[1]}",
        "kafka.tls.enabled=true",
        f"kafka.tls.caSecret={CA_SECRET[0]}",
        f"kafka.tls.caKey={CA_SECRET[1]}",
    )
    secrets = {
        PASSWORD_SECRET[0]: {PASSWORD_SECRET[1]: local["CALLFOCUS_KAFKA_SASL_PASSWORD"]},
        CA_SECRET[0]: {CA_SECRET[1]: "-----BEGIN CERTIFICATE-----"},
    }
    manifests = render("default", *sets)
    for workload in (statefulset(manifests), topics_job(manifests)):
        env = kubelet_env(manifests, workload, pod_env(workload, secrets), tmp_path / workload["kind"])
        rendered = connection_from(env, monkeypatch)
        assert rendered.ssl_cafile == mounted_ca(workload)
        # the same connection in every setting but where the CA file lies
        assert rendered == dataclasses.replace(tested, ssl_cafile=rendered.ssl_cafile)
        assert rendered.sasl_password is not None and tested.sasl_password is not None
        assert rendered.sasl_password.get_secret_value() == tested.sasl_password.get_secret_value()
