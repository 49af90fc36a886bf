"""The console's scorecards and reports: the cards of the call summaries the console holds. Pure.

``GET /api/scorecards`` and ``GET /api/report`` read the same summaries as the agent page
(:class:`streams.console.agents.AgentHistory`: ``console_summary_history_days`` back, within
its caps), keep those of the window, team and agent asked that the principal may see, and
add them up with the code of ``callfocus report`` (:func:`streams.tools.report.report_cards`:
:func:`~streams.coaching.scorecards.build_scorecards` then
:func:`~streams.coaching.scorecards.roll_up`). The report is rendered by
:mod:`streams.coaching.report`, so the console's HTML, CSV and JSON are those of the command.

A summary of a team the principal does not see is never read, nor counted.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from streams.coaching.report import (
    PERIODS,
    RENDERERS,
    SCRIPT,
    STYLE,
    ReadCounts,
    ReportMeta,
    card_json,
)
from streams.coaching.scorecards import Scorecard, ScorecardKey
from streams.tools.report import Selection, report_cards
from streams.tools.times import TimeError, parse_time, time_zone, to_ms

DEFAULT_PERIOD = "day"  # the console holds days (14 by default), not quarters
CONTENT_TYPES = {"csv": "text/csv", "json": "application/json", "html": "text/html"}
# format -> (content type, renderer): the renderers of callfocus report
FORMATS = {fmt: (f"{CONTENT_TYPES[fmt]}; charset=utf-8", RENDERERS[fmt]) for fmt in CONTENT_TYPES}


class QueryError(ValueError):
    """A query parameter the console cannot read; ``str()`` is the 400's detail."""


@dataclass(frozen=True)
class ScorecardQuery:
    """What was asked: the window [since, until), the period, the zone of its days, one team
    and one agent (None: every one the principal sees)."""

    since: datetime
    until: datetime
    period: str
    timezone: str
    team: str | None = None
    agent: str | None = None


def parse_query(query: Mapping[str, str], now: datetime, history_days: float) -> ScorecardQuery:
    """``since``, ``until`` (the command line's TIMEs, streams/tools/times.py; default: the
    console's summary history, to now), ``period`` (day, week, month), ``timezone`` (IANA,
    default UTC), ``team``, ``agent``."""
    timezone = query.get("timezone") or "UTC"
    try:
        zone = time_zone(timezone)
    except TimeError as error:
        raise QueryError(f"timezone: {error}") from None
    period = query.get("period") or DEFAULT_PERIOD
    if period not in PERIODS:
        raise QueryError(f"period: {period!r} is not one of {', '.join(PERIODS)}")
    times = {}
    for name, default in (("since", now - timedelta(days=history_days)), ("until", now)):
        text = query.get(name)
        try:
            times[name] = default if not text else parse_time(text, now, zone)
        except TimeError as error:
            raise QueryError(f"{name}: {error}") from None
    if times["since"] >= times["until"]:
        raise QueryError(
            f"since ({times['since'].isoformat()}) must be before until ({times['until'].isoformat()})"
        )
    return ScorecardQuery(
        since=times["since"],
        until=times["until"],
        period=period,
        timezone=timezone,
        team=query.get("team") or None,
        agent=query.get("agent") or None,
    )


def select_cards(
    summaries: Iterable[Mapping[str, Any]], query: ScorecardQuery, sees: Callable[[str], bool]
) -> tuple[dict[ScorecardKey, Scorecard], ReadCounts]:
    """The cards of the summaries ``query`` keeps among those of teams ``sees`` allows, and
    what became of those summaries (the others are not counted: their number is not the
    principal's to know)."""
    selection = Selection(
        to_ms(query.since),
        to_ms(query.until),
        frozenset((query.team,)) if query.team else frozenset(),
        frozenset((query.agent,)) if query.agent else frozenset(),
    )
    records, kept, verdicts = 0, [], {"kept": 0, "outside_window": 0, "other_teams_or_agents": 0}
    for summary in summaries:
        if not sees(summary["team"]):
            continue
        records += 1
        verdict = selection.verdict(summary)
        verdicts[verdict] += 1
        if verdict == "kept":
            kept.append(summary)
    cards = report_cards(kept, query.period, ZoneInfo(query.timezone), selection.agents)
    counts = ReadCounts(
        records=records,
        kept=verdicts["kept"],
        outside_window=verdicts["outside_window"],
        other_teams_or_agents=verdicts["other_teams_or_agents"],
    )
    return cards, counts


def newest_first(key: ScorecardKey) -> tuple[int, str, str, str]:
    """The newest period first; within one, team, its team card first, agents, definitions."""
    return (-key.day.toordinal(), key.team, key.agent_id, key.definitions)


def scorecards_document(
    cards: Mapping[ScorecardKey, Scorecard],
    query: ScorecardQuery,
    counts: ReadCounts,
    history_days: float,
) -> dict[str, Any]:
    """The JSON of ``GET /api/scorecards`` (docs/console.md, "Scorecards and reports")."""
    return {
        "window": {"since": query.since.isoformat(), "until": query.until.isoformat()},
        "period": query.period,
        "timezone": query.timezone,
        "team": query.team,
        "agent": query.agent,
        "teams": sorted({key.team for key in cards}),
        "history_days": history_days,
        "summaries": {"held": counts.records, "kept": counts.kept},
        "definitions_kept_apart": len({key.definitions for key in cards}) > 1,
        "cards": [card_json(key, cards[key]) for key in sorted(cards, key=newest_first)],
    }


def report_meta(
    query: ScorecardQuery, teams: Iterable[str], counts: ReadCounts, generated_at: datetime
) -> ReportMeta:
    """The report's header: ``teams`` are those it covers (the team asked, or the
    principal's; empty: every team)."""
    return ReportMeta(
        since=query.since,
        until=query.until,
        period=query.period,
        timezone=query.timezone,
        generated_at=generated_at,
        teams=tuple(sorted(teams)),
        agents=(query.agent,) if query.agent else (),
        counts=counts,
    )


def report_filename(query: ScorecardQuery, fmt: str) -> str:
    """``callfocus-scorecards-<since>-<until>.<fmt>``, the days in the report's zone."""
    zone = ZoneInfo(query.timezone)
    since = query.since.astimezone(zone).date().isoformat()
    until = query.until.astimezone(zone).date().isoformat()
    return f"callfocus-scorecards-{since}-{until}.{fmt}"


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# The HTML report's own policy: its one inline script and one inline style sheet are allowed
# by their digests (constants of streams/coaching/report.py), nothing else runs or loads.
REPORT_CSP = (
    f"default-src 'none'; script-src {_digest(SCRIPT)}; style-src {_digest(STYLE)}; "
    "img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
