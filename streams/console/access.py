"""Who is asking the console, and which teams they may see.

Every console request is answered for a :class:`Principal`: the holder of the static
console token (or anyone, when no token is set) sees every team; a supervisor is limited
to the teams their credentials name (an OIDC token, streams/console/oidc.py). A route asks
:meth:`Principal.sees` before it answers about a team and filters lists with
:meth:`Principal.visible`; anything outside is a 403.

Each console request leaves one access record on the ``callfocus.access`` logger
(:func:`log_access`): who, what, which team, the answer and how long it took; never a
token, never transcript text.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

EVERY_TEAM = None


@dataclass(frozen=True)
class Principal:
    """``subject`` names who asks in the access log (never a secret); ``teams`` is None for
    every team."""

    subject: str
    teams: frozenset[str] | None = EVERY_TEAM
    # when the credentials end (epoch seconds; an open stream ends then), None: never
    expires_at: float | None = None

    @property
    def every_team(self) -> bool:
        return self.teams is None

    def sees(self, team: str | None) -> bool:
        """May this principal see ``team``? ``None`` (no team asked for) only when every
        team is visible."""
        if self.teams is None:
            return True
        return team is not None and team in self.teams

    def visible(self, teams: Iterable[str]) -> list[str]:
        return [team for team in teams if self.sees(team)]


ANONYMOUS = Principal("anonymous")
CONSOLE_TOKEN = Principal("console-token")


def bearer_token(request: Any) -> str | None:
    """``Authorization: Bearer <token>``, or ``?token=`` (EventSource cannot send headers)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return str(value.strip())
    query = request.query.get("token")
    return str(query) if query else None


def static_token_principal(given: str | None, expected: str | None) -> Principal | None:
    """The static token's principal: every team when no token is expected or the request
    carries it (constant-time compare), None (a 401) otherwise."""
    if expected is None:
        return ANONYMOUS
    if given is not None and hmac.compare_digest(given.encode(), expected.encode()):
        return CONSOLE_TOKEN
    return None


# -- refusals and access records ----------------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    """Why a request gets no principal: 401 (credentials missing or not accepted) or 503
    (the identity provider's keys could not be loaded). ``detail`` is safe to answer with."""

    status: int
    detail: str


ACCESS_LOG = logging.getLogger("callfocus.access")
TOKEN_PARAMETER = "token"
MAX_LOGGED_PATH = 500


def logged_path(url: Any) -> str:
    """The request's path and query without the token parameter (a yarl URL, relative)."""
    query = [(name, value) for name, value in url.query.items() if name != TOKEN_PARAMETER]
    path = str(url.with_query(query)) if query else url.path
    return path[:MAX_LOGGED_PATH]


def access_record(
    *,
    started_at: float,
    subject: str | None,
    method: str,
    path: str,
    team: str | None,
    status: int,
    duration_seconds: float,
    refused: str | None = None,
) -> dict[str, Any]:
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started_at)) + f".{int(started_at % 1 * 1000):03d}Z"
    record: dict[str, Any] = {
        "at": at,
        "subject": subject,
        "method": method,
        "path": path,
        "team": team,
        "status": status,
        "duration_seconds": round(duration_seconds, 4),
    }
    if refused is not None:
        record["refused"] = refused
    return record


def log_access(record: dict[str, Any]) -> None:
    """One JSON object per request on ``callfocus.access`` (also as the ``access`` attribute
    of the log record, for structured handlers)."""
    ACCESS_LOG.info("access %s", json.dumps(record, separators=(",", ":")), extra={"access": record})
