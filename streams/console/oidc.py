"""Supervisors' OIDC bearer tokens: a JWT signed by the identity provider names its teams.

A token is accepted when it is signed RS256 or ES256 by a key of the provider's JWKS (named
by the token's ``kid``), carries the configured issuer and audience, is within its
``exp`` / ``nbf`` / ``iat`` (give or take the leeway), and names a subject and its teams.
Nothing else: ``alg: none``, HMAC (``HS256`` "signed" with the public key, the algorithm
confusion attack), keys of other types, and tokens without a ``kid`` are refused.

PyJWT does the JOSE parsing and the registered-claim checks; this module only ever hands
it the one algorithm the key's type allows, so the token's header never picks how it is
checked. The keys come from a URL (fetched asynchronously, cached, fetched again at most
once per ``refresh`` interval when a token names an unknown key) or from a file.

:class:`TokenRejected` carries a ``detail`` meant for the 401 answer: why, never the
token or its claims.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from streams.console.access import Principal

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 1024 * 1024
MAX_SUBJECT_CHARS = 200
_TEAM_SEPARATORS = re.compile(r"[\s,]+")


class TokenRejected(Exception):
    """A token that is not accepted; ``detail`` says why, fit for the 401 answer."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class KeysUnavailable(Exception):
    """No signing keys could be loaded (the provider unreachable, a broken JWKS): a 503."""


class JwksError(ValueError):
    """A JWKS document that cannot be used: not JSON, no ``keys``, no usable key."""


@dataclass(frozen=True)
class SigningKey:
    algorithm: str  # the only algorithm this key checks
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def _usable_key(jwk: Mapping[str, Any]) -> SigningKey | None:
    """An RS256 or ES256 (P-256) signature key of a JWKS, as its public key; None for any
    other kind (encryption keys, HMAC secrets, other curves, short RSA keys)."""
    if jwk.get("use", "sig") != "sig" or not isinstance(jwk.get("kid"), str):
        return None
    kty, alg = jwk.get("kty"), jwk.get("alg")
    try:
        if kty == "RSA" and alg in (None, "RS256"):
            rsa_key = RSAAlgorithm.from_jwk(dict(jwk))
            public = rsa_key.public_key() if isinstance(rsa_key, rsa.RSAPrivateKey) else rsa_key
            if public.key_size < MIN_RSA_BITS:
                return None
            return SigningKey("RS256", public)
        if kty == "EC" and jwk.get("crv") == "P-256" and alg in (None, "ES256"):
            ec_key = ECAlgorithm.from_jwk(dict(jwk))
            ec_public = ec_key.public_key() if isinstance(ec_key, ec.EllipticCurvePrivateKey) else ec_key
            return SigningKey("ES256", ec_public)
    except (jwt.exceptions.InvalidKeyError, ValueError, KeyError, TypeError):
        return None
    return None


def parse_jwks(document: Any) -> dict[str, SigningKey]:
    """The usable keys of a JWKS document, by ``kid``; JwksError when there are none."""
    if isinstance(document, bytes | str):
        try:
            document = json.loads(document)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise JwksError(f"not JSON: {error}".splitlines()[0]) from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError('not a JWKS (a JSON object with a "keys" list)')
    keys = {}
    for jwk in document["keys"]:
        if isinstance(jwk, dict) and (key := _usable_key(jwk)) is not None:
            keys[jwk["kid"]] = key
    if not keys:
        raise JwksError("no RS256 or ES256 (P-256) signing key with a kid")
    return keys


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (a name that itself has dots,
    such as a namespaced ``https://example.com/teams``, is found first)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def teams_of(value: Any, prefix: str = "") -> frozenset[str] | None:
    """The teams a claim names: a list of strings, or one string separated by spaces or commas;
    None when it is neither. With ``prefix``, only the values that start with it, without it."""
    if isinstance(value, str):
        names = [name for name in _TEAM_SEPARATORS.split(value) if name]
    elif isinstance(value, list) and all(isinstance(name, str) for name in value):
        names = [name.strip() for name in value if name.strip()]
    else:
        return None
    if prefix:
        names = [name.removeprefix(prefix) for name in names if name.startswith(prefix) and name != prefix]
    return frozenset(names)


class OidcSettings(Protocol):
    """What this module reads of the console's settings (streams.settings.ConsoleSettings,
    which imports this module to check them at start)."""

    @property
    def oidc_enabled(self) -> bool: ...
    @property
    def oidc_issuer(self) -> str | None: ...
    @property
    def oidc_audience(self) -> str | None: ...
    @property
    def oidc_jwks_url(self) -> str | None: ...
    @property
    def oidc_jwks_file(self) -> Path | None: ...
    @property
    def oidc_teams_claim(self) -> str: ...
    @property
    def oidc_teams_prefix(self) -> str: ...
    @property
    def oidc_subject_claim(self) -> str: ...
    @property
    def oidc_leeway_seconds(self) -> float: ...
    @property
    def oidc_jwks_timeout_seconds(self) -> float: ...
    @property
    def oidc_jwks_cache_seconds(self) -> float: ...
    @property
    def oidc_jwks_refresh_seconds(self) -> float: ...


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str | None
    jwks_file: Path | None
    teams_claim: str
    teams_prefix: str
    subject_claim: str
    leeway_seconds: float
    timeout_seconds: float
    cache_seconds: float
    refresh_seconds: float

    @classmethod
    def from_settings(cls, console: OidcSettings) -> OidcConfig | None:
        if not console.oidc_enabled:
            return None
        assert console.oidc_issuer is not None and console.oidc_audience is not None  # settings_problem
        return cls(
            issuer=console.oidc_issuer,
            audience=console.oidc_audience,
            jwks_url=console.oidc_jwks_url,
            jwks_file=console.oidc_jwks_file,
            teams_claim=console.oidc_teams_claim,
            teams_prefix=console.oidc_teams_prefix,
            subject_claim=console.oidc_subject_claim,
            leeway_seconds=console.oidc_leeway_seconds,
            timeout_seconds=console.oidc_jwks_timeout_seconds,
            cache_seconds=console.oidc_jwks_cache_seconds,
            refresh_seconds=console.oidc_jwks_refresh_seconds,
        )


def settings_problem(console: OidcSettings) -> str | None:
    """Why the console's OIDC settings cannot work, in one line, or None."""
    given = [
        name
        for name, value in (
            ("console_oidc_issuer", console.oidc_issuer),
            ("console_oidc_audience", console.oidc_audience),
        )
        if value
    ]
    if not console.oidc_enabled:
        if given:
            return f"{given[0]} needs console_oidc_jwks_url or console_oidc_jwks_file"
        return None
    if console.oidc_jwks_url is not None and console.oidc_jwks_file is not None:
        return "console_oidc_jwks_url and console_oidc_jwks_file: set one of them"
    for name, value in (
        ("console_oidc_issuer", console.oidc_issuer),
        ("console_oidc_audience", console.oidc_audience),
    ):
        if not value:
            return f"{name} is required with OIDC (the console would accept any provider's tokens)"
    for name, path in (
        ("console_oidc_teams_claim", console.oidc_teams_claim),
        ("console_oidc_subject_claim", console.oidc_subject_claim),
    ):
        if not path or any(not part for part in path.split(".")):
            return f"{name} {path!r} is not a claim name or dotted path"
    if console.oidc_jwks_url is not None:
        url = urllib.parse.urlsplit(console.oidc_jwks_url)
        if url.scheme not in ("https", "http") or not url.hostname:
            return f"console_oidc_jwks_url {console.oidc_jwks_url!r} is not an http(s) URL"
    if console.oidc_jwks_file is not None:
        try:
            parse_jwks(console.oidc_jwks_file.read_bytes())
        except OSError as error:
            return f"console_oidc_jwks_file {console.oidc_jwks_file}: cannot read: {error.strerror or error}"
        except JwksError as error:
            return f"console_oidc_jwks_file {console.oidc_jwks_file}: {error}"
    return None


class JwksCache:
    """The provider's signing keys: loaded when first needed, used ``cache_seconds``, loaded
    again sooner for a token naming an unknown key, at most once per ``refresh_seconds``.
    A failed load keeps the keys already held. Concurrent requests share one load."""

    def __init__(self, config: OidcConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.keys: dict[str, SigningKey] = {}
        self.loaded_at: float | None = None
        self.attempted_at: float | None = None
        self.loads = 0  # successful loads (tests, and the log)
        self._lock: asyncio.Lock | None = None

    def needs_load(self, kid: str | None) -> bool:
        now = self.clock()
        if self.attempted_at is not None and now - self.attempted_at < self.config.refresh_seconds:
            return False  # rate limit: a failed or recent load is not repeated at once
        if self.loaded_at is None or now - self.loaded_at >= self.config.cache_seconds:
            return True
        return kid is not None and kid not in self.keys

    async def refresh(self, kid: str | None) -> None:
        """Load the keys if ``kid`` (or their age) asks for it; errors are logged, not raised."""
        if not self.needs_load(kid):
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self.needs_load(kid):  # another request loaded them meanwhile
                return
            self.attempted_at = self.clock()
            try:
                document = await self._read()
                keys = parse_jwks(document)
            except (OSError, TimeoutError, JwksError) as error:
                source = self.config.jwks_url or self.config.jwks_file
                log.warning("console: signing keys from %s not loaded: %s", source, _one_line(error))
                return
            except Exception as error:  # aiohttp's client errors and the like
                log.warning("console: signing keys not loaded: %s", _one_line(error))
                return
            self.keys, self.loaded_at = keys, self.clock()
            self.loads += 1
            log.info("console: %d signing keys loaded (%s)", len(keys), ", ".join(sorted(keys)))

    async def _read(self) -> bytes:
        if self.config.jwks_file is not None:
            return self.config.jwks_file.read_bytes()
        import aiohttp

        assert self.config.jwks_url is not None
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(self.config.jwks_url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status != 200:
                raise JwksError(f"HTTP {response.status}")
            body = await response.content.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise JwksError(f"over {MAX_JWKS_BYTES} bytes")
            return body


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.exceptions.PyJWTError:
        raise TokenRejected("not a signed JWT") from None


class TokenVerifier:
    """Turns a bearer token into the supervisor's :class:`Principal`, or refuses it."""

    def __init__(self, config: OidcConfig, keys: JwksCache | None = None) -> None:
        self.config = config
        self.keys = keys if keys is not None else JwksCache(config)

    async def prepare(self, token: str) -> None:
        """Load the signing keys when the token's ``kid`` (or their age) asks for it."""
        try:
            kid = _header(token).get("kid")
        except TokenRejected:
            return  # verify() says why
        await self.keys.refresh(kid if isinstance(kid, str) else None)

    def verify(self, token: str) -> Principal:
        """The token's principal; TokenRejected (a 401) or KeysUnavailable (a 503)."""
        header = _header(token)
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRejected("token algorithm not accepted (RS256 or ES256 only)")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenRejected("token names no signing key (kid)")
        if not self.keys.keys:
            raise KeysUnavailable("the identity provider's signing keys could not be loaded")
        key = self.keys.keys.get(kid)
        if key is None:
            raise TokenRejected("token signed by an unknown key")
        if key.algorithm != algorithm:
            raise TokenRejected("token algorithm does not match its signing key")
        claims = self._decode(token, key)
        subject = claim(claims, self.config.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise TokenRejected(f"token has no subject claim {self.config.subject_claim!r}")
        raw = claim(claims, self.config.teams_claim)
        if raw is None:
            raise TokenRejected(f"token has no teams claim {self.config.teams_claim!r}")
        teams = teams_of(raw, self.config.teams_prefix)
        if teams is None:
            raise TokenRejected(f"teams claim {self.config.teams_claim!r} is not a list of names")
        # the subject is for the log: printable, bounded
        printable = "".join(c if c.isprintable() else "?" for c in subject)[:MAX_SUBJECT_CHARS]
        return Principal(printable, teams, expires_at=float(claims["exp"]))

    def _decode(self, token: str, key: SigningKey) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],  # the key's own: the token's header does not choose
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.exceptions.ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except jwt.exceptions.ImmatureSignatureError:
            raise TokenRejected("token not valid yet (nbf or iat in the future)") from None
        except jwt.exceptions.InvalidAudienceError:
            raise TokenRejected("token is for another audience") from None
        except jwt.exceptions.InvalidIssuerError:
            raise TokenRejected("token from another issuer") from None
        except jwt.exceptions.MissingRequiredClaimError as error:
            raise TokenRejected(f"token has no {error.claim!r} claim") from None
        except jwt.exceptions.InvalidSignatureError:
            raise TokenRejected("token signature does not verify") from None
        except jwt.exceptions.PyJWTError:
            raise TokenRejected("token not accepted (malformed)") from None


def build_verifier(console: OidcSettings) -> TokenVerifier | None:
    config = OidcConfig.from_settings(console)
    if config is None:
        return None
    if config.jwks_url is not None and urllib.parse.urlsplit(config.jwks_url).scheme == "http":
        host = urllib.parse.urlsplit(config.jwks_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("console: signing keys fetched over plain HTTP can be replaced on the way: use https")
    return TokenVerifier(config)
