"""Who is asking the console, and which teams they may see.

Every console request is answered for a :class:`Principal`: the holder of the static
console token (or anyone, when no token is set) sees every team; a supervisor is limited
to the teams their credentials name. A route asks :meth:`Principal.sees` before it answers
about a team and filters lists with :meth:`Principal.visible`; anything outside is a 403.
"""

from __future__ import annotations

import hmac
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
