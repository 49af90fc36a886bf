"""A test identity provider: real RSA and EC keys made here, a JWKS served over real HTTP on a
free port, and tokens signed with them (or forged, for the refusals)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test/realms/contact-center"
AUDIENCE = "callfocus-console"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if alg == "RS256" else ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


class IdentityProvider:
    """Signs tokens; serves ``/jwks`` (the keys it currently publishes) and counts the fetches."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.published: list[dict[str, Any]] = [
            public_jwk(self.rsa, "rsa-1", "RS256"),
            public_jwk(self.ec, "ec-1", "ES256"),
        ]
        self.fetches = 0
        self.server: ThreadingHTTPServer | None = None

    # -- the JWKS endpoint ----------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self.published)}

    def start(self) -> str:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/jwks":
                    self.send_error(404)
                    return
                provider.fetches += 1
                body = json.dumps(provider.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def publish(self, key: Any, kid: str, alg: str = "RS256") -> None:
        self.published.append(public_jwk(key, kid, alg))

    # -- tokens ---------------------------------------------------------------------------
    def claims(self, teams: Any = ("sales",), subject: str = "alice", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "teams": list(teams) if isinstance(teams, tuple | list) else teams,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        teams: Any = ("sales",),
        *,
        alg: str = "RS256",
        kid: str | None = None,
        key: Any = None,
        **claims: Any,
    ) -> str:
        signer = key if key is not None else (self.rsa if alg == "RS256" else self.ec)
        kid = kid if kid is not None else ("rsa-1" if alg == "RS256" else "ec-1")
        return jwt.encode(self.claims(teams, **claims), signer, algorithm=alg, headers={"kid": kid})

    def unsigned_token(self, teams: Any = ("sales",), kid: str = "rsa-1") -> str:
        """``alg: none``: no signature at all."""
        header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        return f"{header}.{b64url(json.dumps(self.claims(teams)).encode())}."

    def hs256_with_public_key(self, teams: Any = ("sales",), kid: str = "rsa-1") -> str:
        """The algorithm confusion attack: HMAC-SHA256 keyed with the RSA public key's PEM."""
        pem = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        payload = b64url(json.dumps(self.claims(teams)).encode())
        signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64url(signature)}"
