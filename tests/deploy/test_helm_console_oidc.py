"""The chart's supervisors' OIDC settings: rendered to the workers' environment, accepted by the
settings object, checked by the schema, and let through the NetworkPolicy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.test_helm_chart import (
    PRODUCTION,
    env_of,
    env_value,
    one,
    render,
    render_fails,
    statefulset,
    topics_job,
)

OIDC = (
    "config.console.oidc.jwksUrl=https://idp.example.test/realms/cc/protocol/openid-connect/certs",
    "config.console.oidc.issuer=https://idp.example.test/realms/cc",
    "config.console.oidc.audience=callfocus-console",
    "config.console.oidc.teamsClaim=realm_access.teams",
)


def test_oidc_is_off_by_default() -> None:
    names = set(env_of(statefulset(render("default"))))
    assert not {name for name in names if name.startswith("CALLFOCUS_CONSOLE_OIDC_")}


def test_oidc_values_become_the_workers_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.settings import Settings

    sts = statefulset(render("default", *OIDC))
    expected = {
        "CALLFOCUS_CONSOLE_OIDC_JWKS_URL": "https://idp.example.test/realms/cc/protocol/openid-connect/certs",
        "CALLFOCUS_CONSOLE_OIDC_ISSUER": "https://idp.example.test/realms/cc",
        "CALLFOCUS_CONSOLE_OIDC_AUDIENCE": "callfocus-console",
        "CALLFOCUS_CONSOLE_OIDC_TEAMS_CLAIM": "realm_access.teams",
        "CALLFOCUS_CONSOLE_OIDC_TEAMS_PREFIX": "",
        "CALLFOCUS_CONSOLE_OIDC_SUBJECT_CLAIM": "sub",
        "CALLFOCUS_CONSOLE_OIDC_LEEWAY_SECONDS": "30",
        "CALLFOCUS_CONSOLE_OIDC_JWKS_TIMEOUT_SECONDS": "5",
        "CALLFOCUS_CONSOLE_OIDC_JWKS_CACHE_SECONDS": "900",
        "CALLFOCUS_CONSOLE_OIDC_JWKS_REFRESH_SECONDS": "30",
    }
    assert {name: env_value(sts, name) for name in expected} == expected
    for name, value in expected.items():
        monkeypatch.setenv(name, value)
    console = Settings(kafka_bootstrap="kafka:9092").console
    assert console.oidc_enabled and console.oidc_teams_claim == "realm_access.teams"
    assert console.oidc_leeway_seconds == 30.0 and console.oidc_jwks_refresh_seconds == 30.0


def test_a_jwks_url_without_issuer_or_audience_fails_to_render() -> None:
    stderr = render_fails(OIDC[0], OIDC[2])
    assert "the JWKS needs issuer and audience" in stderr, stderr
    stderr = render_fails(*OIDC, "config.console.oidc.jwksConfigMap=idp-keys")
    assert "jwksUrl and jwksConfigMap are both set" in stderr, stderr


def test_a_jwks_from_a_configmap_is_mounted_in_the_workers_only(tmp_path: Path) -> None:
    from streams.settings import Settings
    from tests.oidc_provider import IdentityProvider

    manifests = render("default", *OIDC[1:], "config.console.oidc.jwksConfigMap=idp-keys")
    sts = statefulset(manifests)
    assert env_value(sts, "CALLFOCUS_CONSOLE_OIDC_JWKS_FILE") == "/etc/callfocus/oidc/jwks.json"
    assert "CALLFOCUS_CONSOLE_OIDC_JWKS_URL" not in env_of(sts)
    pod = sts["spec"]["template"]["spec"]
    assert {"name": "oidc-jwks", "configMap": {"name": "idp-keys"}} in pod["volumes"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "oidc-jwks", "mountPath": "/etc/callfocus/oidc", "readOnly": True} in mounts
    # the topics job reads settings too: none of the console's, so no file it lacks
    job_env = env_of(topics_job(manifests))
    assert not [name for name in job_env if name.startswith("CALLFOCUS_CONSOLE_OIDC_")]
    # the rendered environment, with a JWKS where the pod has it, is accepted by the settings
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(IdentityProvider().jwks()))
    env = {
        name: str(entry["value"])
        for name, entry in env_of(sts).items()
        if name.startswith("CALLFOCUS_CONSOLE_OIDC_")
    }
    env["CALLFOCUS_CONSOLE_OIDC_JWKS_FILE"] = str(jwks)
    console = Settings(
        kafka_bootstrap="kafka:9092", **{k.removeprefix("CALLFOCUS_").lower(): v for k, v in env.items()}
    ).console
    assert console.oidc_enabled and console.oidc_jwks_file == jwks


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("config.console.oidc.jwksUrl=ftp://idp/jwks", "jwksUrl"),
        ("config.console.oidc.leewaySeconds=900", "leewaySeconds"),
        ("config.console.oidc.teamsClaim=realm..teams", "teamsClaim"),
        ("config.console.oidc.jwksTimeoutSeconds=0", "jwksTimeoutSeconds"),
        ("config.console.oidc.jwks=x", "'jwks' not allowed"),
    ],
)
def test_the_schema_refuses_bad_oidc_values(override: str, message: str) -> None:
    stderr = render_fails(override)
    assert "schema" in stderr and message in stderr, stderr


def test_the_network_policy_lets_the_workers_reach_the_identity_provider() -> None:
    plain = one(render(PRODUCTION), "NetworkPolicy")["spec"]["egress"]
    policy = one(
        render(
            PRODUCTION,
            *OIDC,
            "networkPolicy.egress.identityProvider.cidrs[0]=203.0.113.0/24",
        ),
        "NetworkPolicy",
    )["spec"]
    [added] = [rule for rule in policy["egress"] if rule not in plain]  # one rule more
    assert len(policy["egress"]) == len(plain) + 1
    assert added == {
        "ports": [{"port": 443, "protocol": "TCP"}],
        "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
    }
