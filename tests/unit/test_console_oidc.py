"""Supervisors' OIDC tokens: real RSA and EC keys, a JWKS served over real HTTP, and the
verifier's answers for good tokens, every refusal, key rotation and a JWKS that cannot be had."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from streams.console.access import Principal
from streams.console.oidc import (
    JwksError,
    KeysUnavailable,
    TokenRejected,
    TokenVerifier,
    build_verifier,
    claim,
    parse_jwks,
    teams_of,
)
from streams.settings import Settings
from tests.oidc_provider import AUDIENCE, ISSUER, IdentityProvider, public_jwk


def oidc_settings(**overrides: Any) -> Settings:
    return Settings(
        kafka_bootstrap="127.0.0.1:9",
        console_oidc_issuer=ISSUER,
        console_oidc_audience=AUDIENCE,
        **overrides,
    )


def verifier_for(provider: IdentityProvider, **overrides: Any) -> TokenVerifier:
    verifier = build_verifier(oidc_settings(console_oidc_jwks_url=provider.url, **overrides).console)
    assert verifier is not None
    return verifier


def check(verifier: TokenVerifier, token: str) -> Principal | str:
    """The principal, or the refusal's detail; the keys loaded first as a request would."""
    asyncio.run(verifier.prepare(token))
    try:
        return verifier.verify(token)
    except TokenRejected as error:
        return error.detail


def test_valid_rs256_and_es256_tokens_name_the_supervisor_and_their_teams(provider: IdentityProvider) -> None:
    verifier = verifier_for(provider)
    rs = check(verifier, provider.token(["sales", "retention"]))
    es = check(verifier, provider.token(["support"], alg="ES256", subject="bob"))
    assert isinstance(rs, Principal) and isinstance(es, Principal)
    assert (rs.subject, rs.teams) == ("alice", frozenset({"sales", "retention"}))
    assert (es.subject, es.teams) == ("bob", frozenset({"support"}))
    assert rs.sees("sales") and not rs.sees("support") and not rs.sees(None)
    assert rs.expires_at is not None and rs.expires_at > time.time()
    assert provider.fetches == 1  # one fetch, then the cache


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("expired", "token expired"),
        ("expired within the leeway", None),
        ("not valid yet", "token not valid yet (nbf or iat in the future)"),
        ("issued in the future", "token not valid yet (nbf or iat in the future)"),
        ("wrong audience", "token is for another audience"),
        ("audience list with ours", None),
        ("wrong issuer", "token from another issuer"),
        ("no exp", "token has no 'exp' claim"),
        ("wrong signature", "token signature does not verify"),
        ("alg none", "token algorithm not accepted (RS256 or ES256 only)"),
        ("HS256 with the public key", "token algorithm not accepted (RS256 or ES256 only)"),
        ("unknown kid", "token signed by an unknown key"),
        ("no kid", "token names no signing key (kid)"),
        ("ES256 under the RSA key's kid", "token algorithm does not match its signing key"),
        ("no teams claim", "token has no teams claim 'teams'"),
        ("teams claim a number", "teams claim 'teams' is not a list of names"),
        ("no subject", "token has no subject claim 'sub'"),
        ("not a JWT", "not a signed JWT"),
    ],
)
def test_refusals(provider: IdentityProvider, case: str, expected: str | None) -> None:
    now = int(time.time())
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = {
        "expired": lambda: provider.token(exp=now - 60, iat=now - 400, nbf=now - 400),
        "expired within the leeway": lambda: provider.token(exp=now - 10, iat=now - 400, nbf=now - 400),
        "not valid yet": lambda: provider.token(nbf=now + 120),
        "issued in the future": lambda: provider.token(iat=now + 120),
        "wrong audience": lambda: provider.token(aud="another-app"),
        "audience list with ours": lambda: provider.token(aud=["account", AUDIENCE]),
        "wrong issuer": lambda: provider.token(iss="https://evil.example.test"),
        "no exp": lambda: provider.token(exp=None),
        "wrong signature": lambda: provider.token(key=other_rsa, kid="rsa-1"),
        "alg none": lambda: provider.unsigned_token(),
        "HS256 with the public key": lambda: provider.hs256_with_public_key(),
        "unknown kid": lambda: provider.token(key=other_rsa, kid="rsa-2"),
        "no kid": lambda: provider.token(kid=""),
        "ES256 under the RSA key's kid": lambda: provider.token(alg="ES256", kid="rsa-1"),
        "no teams claim": lambda: provider.token(teams=None),
        "teams claim a number": lambda: provider.token(teams=7),
        "no subject": lambda: provider.token(sub=None),
        "not a JWT": lambda: "s3cret",
    }
    token = tokens[case]()
    if case == "no kid":  # PyJWT leaves an empty kid in the header: take it out
        token = strip_kid(token)
    answer = check(verifier_for(provider), token)
    if expected is None:
        assert isinstance(answer, Principal), answer
    else:
        assert answer == expected
        assert token not in answer  # the detail never echoes the token


def strip_kid(token: str) -> str:
    import base64

    header, payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    fields.pop("kid", None)
    new_header = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    return f"{new_header}.{payload}.{signature}"


def test_a_rotated_key_is_fetched_once_and_forged_kids_are_rate_limited(provider: IdentityProvider) -> None:
    verifier = verifier_for(provider, console_oidc_jwks_refresh_seconds=0.5)
    assert isinstance(check(verifier, provider.token()), Principal)
    assert provider.fetches == 1
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = provider.token(key=rotated, kid="rsa-2")
    # not published, and within the re-fetch interval of the first load: no fetch yet
    assert check(verifier, token) == "token signed by an unknown key"
    time.sleep(0.6)
    assert check(verifier, token) == "token signed by an unknown key"
    assert provider.fetches == 2  # fetched again for the unknown kid
    # forged kids in a burst: no fetch until the interval has passed
    for index in range(20):
        assert check(verifier, provider.token(key=rotated, kid=f"forged-{index}")) == (
            "token signed by an unknown key"
        )
    assert provider.fetches == 2
    provider.publish(rotated, "rsa-2")
    time.sleep(0.6)
    answer = check(verifier, token)
    assert isinstance(answer, Principal) and answer.teams == frozenset({"sales"})
    assert provider.fetches == 3
    assert isinstance(check(verifier, provider.token()), Principal)  # the old key still works
    assert provider.fetches == 3


def test_keys_are_fetched_again_once_the_cache_expires(provider: IdentityProvider) -> None:
    verifier = verifier_for(
        provider, console_oidc_jwks_cache_seconds=0.3, console_oidc_jwks_refresh_seconds=0.1
    )
    assert isinstance(check(verifier, provider.token()), Principal)
    provider.published = [public_jwk(provider.ec, "ec-1", "ES256")]  # the RSA key withdrawn
    time.sleep(0.4)
    assert check(verifier, provider.token()) == "token signed by an unknown key"
    assert provider.fetches == 2


def test_an_unreachable_or_slow_jwks_is_unavailable_not_a_bad_token() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/jwks"
        settings = oidc_settings(console_oidc_jwks_url=url, console_oidc_jwks_timeout_seconds=0.3)
        verifier = build_verifier(settings.console)
        assert verifier is not None
        token = IdentityProvider().token()
        started = time.monotonic()
        asyncio.run(verifier.prepare(token))
        assert time.monotonic() - started < 2.0  # the timeout, not a hang
        with pytest.raises(KeysUnavailable):
            verifier.verify(token)


def test_keys_from_a_file(provider: IdentityProvider, tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(provider.jwks()))
    verifier = build_verifier(oidc_settings(console_oidc_jwks_file=jwks).console)
    assert verifier is not None
    answer = check(verifier, provider.token(["billing"], alg="ES256"))
    assert isinstance(answer, Principal) and answer.teams == frozenset({"billing"})
    assert provider.fetches == 0


def test_the_teams_claim_string_nested_namespaced_and_prefixed(provider: IdentityProvider) -> None:
    assert teams_of("sales retention,support") == frozenset({"sales", "retention", "support"})
    assert teams_of(["sales", " ", "support"]) == frozenset({"sales", "support"})
    assert teams_of([1, "sales"]) is None and teams_of({"a": 1}) is None
    assert teams_of(["callfocus-team-sales", "admins"], "callfocus-team-") == frozenset({"sales"})
    assert claim({"realm_access": {"teams": ["a"]}}, "realm_access.teams") == ["a"]
    assert claim({"https://example.test/teams": "a"}, "https://example.test/teams") == "a"
    assert claim({"realm_access": ["x"]}, "realm_access.teams") is None

    nested = verifier_for(provider, console_oidc_teams_claim="realm_access.teams")
    token = provider.token(teams=None, realm_access={"teams": "sales support"})
    answer = check(nested, token)
    assert isinstance(answer, Principal) and answer.teams == frozenset({"sales", "support"})
    groups = verifier_for(
        provider,
        console_oidc_teams_claim="groups",
        console_oidc_teams_prefix="callfocus-team-",
        console_oidc_subject_claim="preferred_username",
    )
    token = provider.token(
        teams=None, groups=["callfocus-team-retention", "vpn-users"], preferred_username="carol"
    )
    answer = check(groups, token)
    assert isinstance(answer, Principal) and (answer.subject, answer.teams) == (
        "carol",
        frozenset({"retention"}),
    )


def test_a_jwks_keeps_only_rs256_and_p256_signature_keys() -> None:
    strong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    document = {
        "keys": [
            public_jwk(strong, "good", "RS256"),
            {**public_jwk(strong, "enc", "RS256"), "use": "enc"},
            {**public_jwk(strong, "rs512", "RS256"), "alg": "RS512"},
            public_jwk(short, "short", "RS256"),
            {**json.loads(json.dumps(public_jwk(strong, "x", "RS256"))), "kid": None},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {
                "kty": "EC",
                "kid": "p384",
                **{k: v for k, v in public_jwk(p384, "p384", "ES256").items() if k != "kid"},
            },
        ]
    }
    assert set(parse_jwks(document)) == {"good"}
    for bad in ("not json", "[]", '{"keys": []}', '{"keys": [{"kty": "oct", "kid": "a", "k": "eA"}]}'):
        with pytest.raises(JwksError):
            parse_jwks(bad)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"console_oidc_issuer": ISSUER},
            "console_oidc_issuer needs console_oidc_jwks_url or console_oidc_jwks_file",
        ),
        ({"console_oidc_jwks_url": "https://idp/jwks"}, "console_oidc_issuer is required with OIDC"),
        (
            {"console_oidc_jwks_url": "https://idp/jwks", "console_oidc_issuer": ISSUER},
            "console_oidc_audience is required with OIDC",
        ),
        (
            {
                "console_oidc_jwks_url": "ftp://idp/jwks",
                "console_oidc_issuer": ISSUER,
                "console_oidc_audience": "a",
            },
            "is not an http(s) URL",
        ),
        (
            {
                "console_oidc_jwks_url": "https://idp/jwks",
                "console_oidc_jwks_file": "/no/such.json",
                "console_oidc_issuer": ISSUER,
                "console_oidc_audience": "a",
            },
            "set one of them",
        ),
        (
            {
                "console_oidc_jwks_file": "/no/such.json",
                "console_oidc_issuer": ISSUER,
                "console_oidc_audience": "a",
            },
            "cannot read: No such file or directory",
        ),
        (
            {
                "console_oidc_jwks_url": "https://idp/jwks",
                "console_oidc_issuer": ISSUER,
                "console_oidc_audience": "a",
                "console_oidc_teams_claim": "realm_access..teams",
            },
            "is not a claim name or dotted path",
        ),
        ({"console_oidc_leeway_seconds": 900}, "console_oidc_leeway_seconds"),
    ],
)
def test_settings_refuse_an_incomplete_or_wrong_oidc_setup(settings: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(kafka_bootstrap="127.0.0.1:9", **settings)
    assert expected in str(error.value)


def test_a_bad_oidc_setting_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    from streams.tools.cli import main

    broken = tmp_path / "jwks.json"
    broken.write_text('{"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}]}')
    env = {
        "CALLFOCUS_CONSOLE_OIDC_JWKS_FILE": str(broken),
        "CALLFOCUS_CONSOLE_OIDC_ISSUER": ISSUER,
        "CALLFOCUS_CONSOLE_OIDC_AUDIENCE": AUDIENCE,
    }
    result = CliRunner().invoke(main, ["worker"], env=env)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("callfocus: invalid settings: "), lines
    assert "no RS256 or ES256 (P-256) signing key with a kid" in lines[0]
