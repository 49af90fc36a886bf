"""Scorecards rendered for people and programs: CSV, JSON and one self-contained HTML page.

Pure: cards in (``Mapping[ScorecardKey, Scorecard]``, already rolled up to the report's
period), text out. ``callfocus report`` reads the cards from Kafka; the console can render
the same report from its own cards.

The HTML page needs nothing but itself: styles inline, charts drawn here as inline SVG, a
few lines of inline script that only sort the leaderboards (the page reads the same without
it: a mail client that blocks scripts, a printout). Every name (team, agent, definitions) is
user data and goes through :func:`html.escape`.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from streams.coaching.scorecards import Scorecard, ScorecardFigures, ScorecardKey, week_of

PERIODS = ("day", "week", "month")
NO_VALUE = "\u2013"  # an en dash where no call gave the value
FIGURES: tuple[str, ...] = tuple(ScorecardFigures.__dataclass_fields__)
CSV_COLUMNS: tuple[str, ...] = ("period", "period_start", "team", "agent_id", "definitions", *FIGURES)
JSON_FORMAT_VERSION = 1
DECIMALS = 6  # CSV and JSON numbers: rounded to 6 decimals (a microsecond, a millionth of a ratio)


@dataclass(frozen=True)
class ReadCounts:
    """What the reader saw: every record is in exactly one of kept, undecodable, other
    records, outside the window or other teams/agents."""

    records: int = 0
    kept: int = 0
    undecodable: Mapping[str, int] = field(default_factory=dict)  # by dead-letter reason
    other_records: int = 0  # decodable, but not a CallSummary
    outside_window: int = 0  # a summary of a call that started before since or at/after until
    other_teams_or_agents: int = 0  # a summary of a team or agent not asked for

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "kept": self.kept,
            "skipped": {
                "undecodable": sum(self.undecodable.values()),
                "undecodable_by_reason": dict(sorted(self.undecodable.items())),
                "other_records": self.other_records,
            },
            "left_out": {
                "outside_window": self.outside_window,
                "other_teams_or_agents": self.other_teams_or_agents,
            },
        }


@dataclass(frozen=True)
class ReportMeta:
    """What a report covers: the window [since, until), the period its cards were rolled up
    to, the time zone of their days, the filters, when it was made and what was read."""

    since: datetime
    until: datetime
    period: str
    timezone: str
    generated_at: datetime
    teams: tuple[str, ...] = ()  # empty: every team
    agents: tuple[str, ...] = ()  # empty: every agent
    counts: ReadCounts | None = None  # None when the cards did not come from a read

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def card_order(key: ScorecardKey) -> tuple[str, str, str, date]:
    """Definitions, team, agent (the team's own card first), period."""
    return (key.definitions, key.team, key.agent_id, key.day)


def definitions_of(cards: Mapping[ScorecardKey, Scorecard]) -> list[str]:
    return sorted({key.definitions for key in cards})


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return week_of(day)
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")


def period_starts(meta: ReportMeta) -> list[date]:
    """The first day of every period the window touches, in the report's time zone."""
    zone = meta.zone
    first = period_start(meta.since.astimezone(zone).date(), meta.period)
    last = period_start((meta.until - timedelta(microseconds=1)).astimezone(zone).date(), meta.period)
    starts = [first]
    while starts[-1] < last:
        current = starts[-1]
        if meta.period == "day":
            starts.append(current + timedelta(days=1))
        elif meta.period == "week":
            starts.append(current + timedelta(days=7))
        else:
            starts.append((current.replace(day=28) + timedelta(days=4)).replace(day=1))
    return starts


def _number(value: float | int | None) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    rounded = round(value, DECIMALS)
    return 0.0 if rounded == 0 else rounded  # no "-0.0"


def figures_dict(card: Scorecard) -> dict[str, Any]:
    return {name: _number(value) for name, value in card.figures().as_dict().items()}


# -- CSV -----------------------------------------------------------------------------------
def render_csv(cards: Mapping[ScorecardKey, Scorecard], meta: ReportMeta) -> str:
    """One row per card (team cards have an empty agent_id), numbers in base units
    (seconds, ratios 0-1, per call), an empty cell where no call gave the value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for key in sorted(cards, key=card_order):
        figures = figures_dict(cards[key])
        writer.writerow(
            [
                meta.period,
                key.day.isoformat(),
                key.team,
                key.agent_id,
                key.definitions,
                *("" if figures[name] is None else figures[name] for name in FIGURES),
            ]
        )
    return out.getvalue()


# -- JSON ----------------------------------------------------------------------------------
def report_document(cards: Mapping[ScorecardKey, Scorecard], meta: ReportMeta) -> dict[str, Any]:
    """The JSON report (docs/coaching.md, "The JSON report")."""
    definitions = definitions_of(cards)
    return {
        "format": "callfocus.scorecards",
        "version": JSON_FORMAT_VERSION,
        "generated_at": meta.generated_at.isoformat(),
        "window": {"since": meta.since.isoformat(), "until": meta.until.isoformat()},
        "period": meta.period,
        "timezone": meta.timezone,
        "filters": {"teams": list(meta.teams), "agents": list(meta.agents)},
        "definitions": definitions,
        "definitions_kept_apart": len(definitions) > 1,
        "counts": meta.counts.as_dict() if meta.counts is not None else None,
        "cards": [card_json(key, cards[key]) for key in sorted(cards, key=card_order)],
    }


def card_json(key: ScorecardKey, card: Scorecard) -> dict[str, Any]:
    """One card in the JSON report and the console's API: its key and its figures."""
    return {
        "key": {
            "period_start": key.day.isoformat(),
            "team": key.team,
            "agent_id": key.agent_id,
            "kind": "team" if key.is_team else "agent",
            "definitions": key.definitions,
        },
        "figures": figures_dict(card),
    }


def render_json(cards: Mapping[ScorecardKey, Scorecard], meta: ReportMeta) -> str:
    return json.dumps(report_document(cards, meta), indent=2, ensure_ascii=False) + "\n"


# -- HTML: what is shown and how -----------------------------------------------------------
def _score(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return NO_VALUE if value is None else f"{100 * value:.0f} %"


def _decimal(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.2f}"


def _seconds(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.0f} s"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return NO_VALUE
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@dataclass(frozen=True)
class Column:
    figure: str
    heading: str
    show: Callable[[Any], str]
    title: str


COLUMNS = (
    Column("calls", "Calls", str, "Calls that started in the period"),
    Column("talk_seconds", "Talk time", _duration, "Sum of the calls' durations"),
    Column("mean_score", "Mean score", _score, "Mean customer-focus score (0-100) of the scored calls"),
    Column("p10_score", "P10 score", _score, "10th percentile of the score: the agent's weaker calls"),
    Column("agent_talk_ratio", "Talk ratio", _percent, "Mean share of speech time that is the agent's"),
    Column("questions_per_call", "Questions / call", _decimal, "Questions the agent asked per call"),
    Column("open_question_ratio", "Open questions", _percent, "Share of the questions that were open"),
    Column(
        "monologue_p90_seconds", "Monologue p90", _seconds, "90th percentile of each call's longest monologue"
    ),
    Column("nudges_per_call", "Nudges / call", _decimal, "Nudges raised per call"),
    Column("tracker_hits_per_call", "Tracker hits / call", _decimal, "Tracker phrase hits per call"),
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _sort_value(value: float | int | None) -> str:
    return "" if value is None else repr(value)


def _cells(figures: ScorecardFigures) -> str:
    parts = []
    for column in COLUMNS:
        value = getattr(figures, column.figure)
        parts.append(f'<td class="num" data-sort="{_sort_value(value)}">{_e(column.show(value))}</td>')
    return "".join(parts)


def _head(first: str) -> str:
    headings = "".join(
        f'<th class="num" title="{_e(c.title)}" data-figure="{c.figure}">{_e(c.heading)}</th>'
        for c in COLUMNS
    )
    return f"<thead><tr><th>{_e(first)}</th>{headings}</tr></thead>"


def _period_label(day: date, period: str) -> str:
    if period == "month":
        return day.strftime("%Y-%m")
    if period == "week":
        return f"week of {day.isoformat()}"
    return day.isoformat()


def _tick_label(day: date, period: str) -> str:
    return day.strftime("%Y-%m") if period == "month" else day.strftime("%m-%d")


# -- HTML: charts --------------------------------------------------------------------------
CHART_WIDTH, CHART_HEIGHT = 320, 170
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 42, 20, 12, 26


@dataclass(frozen=True)
class Panel:
    name: str
    title: str
    value: Callable[[ScorecardFigures], float | None]
    fixed_top: float | None  # None: from the data
    show: Callable[[float | None], str]
    band: Callable[[ScorecardFigures], float | None] | None = None  # the band's lower edge


PANELS = (
    Panel(
        "score",
        "Mean score (band: 10th percentile)",
        lambda f: f.mean_score,
        100.0,
        _score,
        lambda f: f.p10_score,
    ),
    Panel("talk_ratio", "Agent talk ratio", lambda f: f.agent_talk_ratio, 1.0, _percent),
    Panel("questions", "Questions per call", lambda f: f.questions_per_call, None, _decimal),
    Panel("nudges", "Nudges per call", lambda f: f.nudges_per_call, None, _decimal),
)


def _nice_top(largest: float) -> float:
    """A round upper bound of an axis: 1, 2, 2.5 or 5 times a power of ten."""
    if largest <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(largest))
    for step in (1, 2, 2.5, 5, 10):
        if largest <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop ends at 10


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Consecutive points with a value: a line does not cross a period without calls."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for x, y in points:
        if y is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((x, y))
    if current:
        runs.append(current)
    return runs


def _band_runs(
    lows: Sequence[float | None], values: Sequence[float | None]
) -> list[list[tuple[int, float, float]]]:
    """Consecutive periods with both edges of the band: (index, low, high)."""
    runs: list[list[tuple[int, float, float]]] = []
    current: list[tuple[int, float, float]] = []
    for index, (low, value) in enumerate(zip(lows, values, strict=True)):
        if low is None or value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((index, low, value))
    if current:
        runs.append(current)
    return runs


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def chart_svg(
    panel: Panel, periods: Sequence[date], series: Mapping[date, ScorecardFigures], period: str
) -> str:
    """One panel of a trend: an inline SVG with a point (``circle.point``, its value in
    ``data-value`` and a tooltip) per period with a value."""
    width = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    height = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    values = [panel.value(series[d]) if d in series else None for d in periods]
    lows = [panel.band(series[d]) if panel.band is not None and d in series else None for d in periods]
    present = [v for v in values if v is not None]
    top = panel.fixed_top if panel.fixed_top is not None else _nice_top(max(present, default=0.0))
    count = len(periods)

    def x_of(index: int) -> float:
        return MARGIN_LEFT + (width / 2 if count == 1 else index * width / (count - 1))

    def y_of(value: float) -> float:
        return MARGIN_TOP + height - max(0.0, min(value, top)) / top * height

    parts = [
        f'<svg class="chart" data-panel="{panel.name}" role="img" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'width="{CHART_WIDTH}" height="{CHART_HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_e(panel.title)}</title>",
    ]
    for share in (0.0, 0.5, 1.0):  # the axis: bottom, middle, top
        y = y_of(share * top)
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + width}" '
            f'y1="{_fmt(y)}" y2="{_fmt(y)}"/>'
            f'<text class="axis" x="{MARGIN_LEFT - 4}" y="{_fmt(y + 3)}" text-anchor="end">'
            f"{_e(panel.show(share * top))}</text>"
        )
    every = max(1, math.ceil(count / 8))  # at most 8 period labels
    for index, day in enumerate(periods):
        if index % every == 0:
            parts.append(
                f'<text class="axis" x="{_fmt(x_of(index))}" y="{CHART_HEIGHT - 8}" text-anchor="middle">'
                f"{_e(_tick_label(day, period))}</text>"
            )
    if panel.band is not None:
        for stretch in _band_runs(lows, values):
            if len(stretch) == 1:
                at, low, high = stretch[0]
                parts.append(
                    f'<rect class="band" x="{_fmt(x_of(at) - 6)}" y="{_fmt(y_of(high))}" width="12" '
                    f'height="{_fmt(y_of(low) - y_of(high))}"/>'
                )
                continue
            upper = " ".join(f"{_fmt(x_of(i))},{_fmt(y_of(hi))}" for i, _, hi in stretch)
            lower = " ".join(f"{_fmt(x_of(i))},{_fmt(y_of(lo))}" for i, lo, _ in reversed(stretch))
            parts.append(f'<polygon class="band" points="{upper} {lower}"/>')
    for run in _runs([(float(i), v) for i, v in enumerate(values)]):
        if len(run) > 1:
            line = " ".join(f"{_fmt(x_of(int(i)))},{_fmt(y_of(v))}" for i, v in run)
            parts.append(f'<polyline class="line" points="{line}"/>')
    for index, (day, value) in enumerate(zip(periods, values, strict=True)):
        if value is None:
            continue
        tip = f"{_period_label(day, period)}: {panel.show(value)}"
        low_edge = lows[index]
        if low_edge is not None:
            tip += f" (10th percentile {panel.show(low_edge)})"
        parts.append(
            f'<circle class="point" cx="{_fmt(x_of(index))}" cy="{_fmt(y_of(value))}" r="3.5" '
            f'data-period="{day.isoformat()}" data-value="{_sort_value(_number(value))}">'
            f"<title>{_e(tip)}</title></circle>"
        )
    if not present:
        parts.append(
            f'<text class="empty" x="{MARGIN_LEFT + width / 2}" y="{MARGIN_TOP + height / 2}" '
            'text-anchor="middle">no value in this window</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _trend(periods: Sequence[date], series: Mapping[date, ScorecardFigures], period: str) -> str:
    charts = "".join(
        f'<figure class="panel"><figcaption>{_e(panel.title)}</figcaption>'
        f"{chart_svg(panel, periods, series, period)}</figure>"
        for panel in PANELS
    )
    return f'<div class="trend">{charts}</div>'


def _period_table(series: Mapping[date, ScorecardFigures], period: str) -> str:
    rows = "".join(
        f"<tr><td>{_e(_period_label(day, period))}</td>{_cells(series[day])}</tr>" for day in sorted(series)
    )
    return f'<table class="figures">{_head("Period")}<tbody>{rows}</tbody></table>'


# -- HTML: the page ------------------------------------------------------------------------
STYLE = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d5d9e0; --accent: #1f6feb; --band: #9ec1f7;
  --warn-bg: #fff4d6; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 1400px; padding: 16px 24px 48px; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0.2em 0; } h2 { margin-top: 1.6em; border-bottom: 2px solid var(--ink); }
h3 { margin-top: 1.4em; } h4 { margin: 1.2em 0 0.3em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0 16px; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
.warning { background: var(--warn-bg); color: var(--warn); border-left: 4px solid var(--warn);
  padding: 8px 12px; margin: 12px 0; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 0.9em; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; white-space: nowrap; }
th { background: #f3f5f8; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.leaderboard th[data-figure] { cursor: pointer; } tfoot td { font-weight: 600; }
th.sorted-asc::after { content: " ▲"; } th.sorted-desc::after { content: " ▼"; }
.trend { display: flex; flex-wrap: wrap; gap: 8px 16px; }
figure.panel { margin: 0; } figcaption { font-size: 0.8em; color: var(--muted); }
svg.chart { display: block; }
svg .grid { stroke: var(--line); stroke-width: 1; } svg .axis { font-size: 10px; fill: var(--muted); }
svg .line { fill: none; stroke: var(--accent); stroke-width: 2; } svg .point { fill: var(--accent); }
svg .band { fill: var(--band); opacity: 0.55; } svg .empty { font-size: 11px; fill: var(--muted); }
section.agent { break-inside: avoid; page-break-inside: avoid; }
.muted { color: var(--muted); }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-before: page; } h2.first { break-before: auto; }
  th[data-figure] { cursor: auto; }
  table { font-size: 7.5pt; } th, td { padding: 2px 4px; } th { white-space: normal; }
  .trend { gap: 4px 8px; } figure.panel { width: calc(50% - 8px); }
  svg.chart { width: 100%; height: auto; }
}
"""

# Sorts a leaderboard by the clicked column (numbers from data-sort; missing values last).
SCRIPT = """
document.querySelectorAll("table.leaderboard").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var descending = !th.classList.contains("sorted-desc");
      table.querySelectorAll("thead th").forEach(function (other) {
        other.classList.remove("sorted-asc", "sorted-desc");
      });
      th.classList.add(descending ? "sorted-desc" : "sorted-asc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-sort"), y = b.cells[column].getAttribute("data-sort");
        if (x === y) return 0;
        if (x === "" || x === null) return 1;
        if (y === "" || y === null) return -1;
        var nx = Number(x), ny = Number(y);
        var order = isNaN(nx) || isNaN(ny) ? (x < y ? -1 : 1) : nx - ny;
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _merged(cards: Iterable[Scorecard]) -> Scorecard:
    whole = Scorecard()
    for card in cards:
        whole.merge(card)
    return whole


def _leaderboard_rank(item: tuple[str, ScorecardFigures]) -> tuple[bool, float, str]:
    agent, figures = item
    return (figures.mean_score is None, -(figures.mean_score or 0.0), agent)


def _team_section(
    team: str,
    team_cards: Mapping[ScorecardKey, Scorecard],
    periods: Sequence[date],
    meta: ReportMeta,
) -> str:
    own = {key.day: card.figures() for key, card in team_cards.items() if key.is_team}
    key_of_section = (next(iter(team_cards)).definitions, team)
    by_agent: dict[str, dict[date, Scorecard]] = {}
    for key, card in team_cards.items():
        if not key.is_team:
            by_agent.setdefault(key.agent_id, {})[key.day] = card
    whole = {agent: _merged(days.values()).figures() for agent, days in by_agent.items()}
    rows = "".join(
        f'<tr data-agent="{_e(agent)}"><td data-sort="{_e(agent)}">'
        f'<a href="#{_e(_anchor(key_of_section, agent))}">{_e(agent)}</a></td>{_cells(figures)}</tr>'
        for agent, figures in sorted(whole.items(), key=_leaderboard_rank)
    )
    team_whole = [card for key, card in team_cards.items() if key.is_team]
    foot = (
        f"<tfoot><tr><td>whole team</td>{_cells(_merged(team_whole).figures())}</tr></tfoot>"
        if team_whole
        else ""
    )
    parts = [
        f'<section class="team" data-team="{_e(team)}"><h3>Team {_e(team)}</h3>',
        '<h4>Leaderboard</h4><p class="muted">The window\'s calls per agent, highest mean score first '
        "(click a heading to sort). The last row is the whole team.</p>",
        f'<table class="leaderboard">{_head("Agent")}<tbody>{rows}</tbody>{foot}</table>',
    ]
    if own:
        parts.append(f"<h4>The team, per {_e(meta.period)}</h4>")
        parts.append(_trend(periods, own, meta.period))
        parts.append(_period_table(own, meta.period))
    for agent in sorted(by_agent):
        series = {day: card.figures() for day, card in by_agent[agent].items()}
        parts.append(
            f'<section class="agent" id="{_e(_anchor(key_of_section, agent))}" data-agent="{_e(agent)}">'
            f'<h4>{_e(agent)} <span class="muted">({_e(team)})</span></h4>'
            f"{_trend(periods, series, meta.period)}{_period_table(series, meta.period)}</section>"
        )
    parts.append("</section>")
    return "".join(parts)


def _anchor(section: tuple[str, str], agent: str) -> str:
    """An id unique in the page for an agent's section under one definitions and team: a
    digest, as names may hold spaces or anything else an id cannot."""
    digest = hashlib.sha256("\x1f".join((*section, agent)).encode()).hexdigest()[:16]
    return f"agent-{digest}"


def _window_text(meta: ReportMeta) -> str:
    zone = meta.zone
    since = meta.since.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    until = meta.until.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return f"{since} to {until} ({meta.timezone}), until excluded"


def _counts_text(counts: ReadCounts) -> str:
    skipped = sum(counts.undecodable.values())
    text = f"{counts.kept} calls kept of {counts.records} records read"
    if skipped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(counts.undecodable.items()))
        text += f"; {skipped} undecodable skipped ({reasons})"
    if counts.other_records:
        text += f"; {counts.other_records} other records skipped"
    text += (
        f"; left out: {counts.outside_window} outside the window, "
        f"{counts.other_teams_or_agents} of other teams or agents"
    )
    return text


def render_html(cards: Mapping[ScorecardKey, Scorecard], meta: ReportMeta) -> str:
    """The report as one self-contained HTML page."""
    definitions = definitions_of(cards)
    periods = period_starts(meta)
    header = [
        ("Window", _window_text(meta)),
        ("Period", meta.period),
        ("Teams", ", ".join(meta.teams) if meta.teams else "all"),
        ("Agents", ", ".join(meta.agents) if meta.agents else "all"),
        ("Definitions", ", ".join(d or "(none recorded)" for d in definitions) or NO_VALUE),
        ("Generated", meta.generated_at.astimezone(meta.zone).strftime("%Y-%m-%d %H:%M:%S %Z")),
    ]
    if meta.counts is not None:
        header.append(("Read", _counts_text(meta.counts)))
    body = [
        "<header><h1>callfocus scorecards</h1>",
        '<dl class="meta">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in header) + "</dl>",
    ]
    if len(definitions) > 1:
        body.append(
            f'<p class="warning" id="definitions-apart">These calls were scored under {len(definitions)} '
            "definitions (engine version, lexicon, trackers and nudge rules). Figures under different "
            "definitions are not comparable: each has its own section below, and no figure adds "
            "calls of two definitions.</p>"
        )
    body.append("</header>")
    if not cards:
        body.append(
            '<p class="empty-report">No call of the teams and agents asked started in this window.</p>'
        )
    for number, version in enumerate(definitions):
        mine = {key: card for key, card in cards.items() if key.definitions == version}
        first = ' class="first"' if number == 0 else ""
        body.append(
            f'<section class="definitions" data-definitions="{_e(version)}">'
            f"<h2{first}>Definitions {_e(version or '(none recorded)')}</h2>"
        )
        for team in sorted({key.team for key in mine}):
            team_cards = {key: card for key, card in mine.items() if key.team == team}
            body.append(_team_section(team, team_cards, periods, meta))
        body.append("</section>")
    title = f"callfocus scorecards {meta.since.date().isoformat()} to {meta.until.date().isoformat()}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n"
    )


# the report's formats: ``--format`` of callfocus report, ``format`` of the console's /api/report
RENDERERS = {"csv": render_csv, "json": render_json, "html": render_html}
