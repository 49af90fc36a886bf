"""Who the console answers: the static token's principal and team visibility."""

from __future__ import annotations

from types import SimpleNamespace

from streams.console.access import ANONYMOUS, CONSOLE_TOKEN, Principal, bearer_token, static_token_principal


def request(header: str = "", token: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        headers={"Authorization": header} if header else {}, query={"token": token} if token else {}
    )


def test_the_bearer_header_wins_and_the_query_is_the_fallback() -> None:
    assert bearer_token(request("Bearer abc", token="xyz")) == "abc"
    assert bearer_token(request("bearer  abc ")) == "abc"
    assert bearer_token(request(token="xyz")) == "xyz"
    assert bearer_token(request("Basic abc")) is None
    assert bearer_token(request("Bearer ")) is None


def test_the_static_token_sees_every_team_and_a_wrong_one_nothing() -> None:
    assert static_token_principal(None, None) is ANONYMOUS
    assert static_token_principal("s3cret", "s3cret") is CONSOLE_TOKEN
    assert static_token_principal("wrong", "s3cret") is None
    assert static_token_principal(None, "s3cret") is None
    assert CONSOLE_TOKEN.sees("any team") and CONSOLE_TOKEN.sees(None)


def test_a_supervisor_sees_their_teams_only() -> None:
    supervisor = Principal("alice", frozenset({"billing", "retention"}))
    assert supervisor.sees("billing")
    assert not supervisor.sees("sales")
    assert not supervisor.sees(None)  # "every team" is not one of theirs
    assert supervisor.visible(["sales", "billing", "retention"]) == ["billing", "retention"]
    assert not supervisor.every_team and CONSOLE_TOKEN.every_team
