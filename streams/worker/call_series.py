"""Per-call Prometheus series, rendered at scrape time from the calls this worker owns.

A custom collector over the live calls: a call's series disappear with the call (after
the grace period) or when its partition moves.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.engine import CallMetrics
from streams.engine.catalogue import METRICS, UNIT_TEXT, MetricDefinition, PerCall, Scope, TeamAggregate
from streams.worker.calls import LiveCall, LiveCalls, exported_labels


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family_header(name: str, help_text: str) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"


def _help(members: list[MetricDefinition]) -> str:
    if len(members) == 1:
        m = members[0]
        where = " Windows: label window (60s, 180s, call)." if m.scope is Scope.WINDOWS else ""
        return f"{m.description} Unit: {UNIT_TEXT[m.unit]}.{where}"
    label = members[0].prometheus_label[0] if members[0].prometheus_label else "kind"
    parts = "; ".join(
        f"{label}={m.prometheus_label[1] if m.prometheus_label else m.name}: {m.description}" for m in members
    )
    return f"{parts} Unit: {UNIT_TEXT[members[0].unit]}."


def _per_call_families() -> tuple[tuple[str, str, tuple[MetricDefinition, ...]], ...]:
    """(family, header, its metrics) of every per-call family, in catalogue order: a family
    with a label (monologue kind=current|longest) gathers several metrics."""
    members: dict[str, list[MetricDefinition]] = {}
    for m in METRICS:
        if m.per_call is not PerCall.NONE:
            members.setdefault(m.family, []).append(m)
    return tuple((name, _family_header(name, _help(ms)), tuple(ms)) for name, ms in members.items())


# (name, header, metrics) of every per-call family, in exposition order
_CALL_FAMILIES = _per_call_families()
# the catalogue's per-team aggregates: (metric, from the whole-call window, summed)
_TEAM_METRICS = tuple(
    (m, m.scope is Scope.WINDOWS, m.team is TeamAggregate.SUM)
    for m in METRICS
    if m.team is not TeamAggregate.NONE
)
TEAM_FAMILIES = frozenset(m.team_family for m, _, _ in _TEAM_METRICS)
_TEAM_HEADERS = tuple(
    _family_header(
        m.team_family,
        f"{'Sum' if summed else 'Mean'} over the team's live calls of: {m.description} "
        f"Whole call. Unit: {UNIT_TEXT[m.unit]}.",
    )
    for m, _, summed in _TEAM_METRICS
)


class LiveCallCollector(Collector):
    """Series of the calls this worker owns, read at scrape time.

    ``collect`` yields the per-team aggregates through prometheus_client. The per-call
    series (score, talk ratio / questions per minute / you-focus / sentiment per window,
    monologue current and longest) are written as exposition text by :meth:`render_calls`:
    prometheus_client's generic path costs about 15 us per sample (219 ms for 1,000
    calls, 1.4 s for 5,000 on the benchmark machine), and a call whose metrics did not
    change since the last scrape reuses its text.
    """

    def __init__(self, calls: LiveCalls, max_exported_calls: int, per_call_series: bool = True) -> None:
        self.calls = calls
        self.max_exported_calls = max_exported_calls
        self.per_call_series = per_call_series
        # call_id -> (the CallMetrics object and exported labels rendered, lines per family)
        self._rendered: dict[str, tuple[CallMetrics, tuple[str, str] | None, tuple[str, ...]]] = {}
        # call_id -> (the CallMetrics object read, its values for the team aggregates)
        self._team_rows: dict[str, tuple[CallMetrics, tuple[float | None, ...]]] = {}

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def _exported(self) -> list[LiveCall]:
        calls = list(self.calls)
        return calls[: self.max_exported_calls if self.per_call_series else 0]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        active = GaugeMetricFamily(
            "callfocus_calls_active", "Calls this worker owns that have not ended, by team.", labels=["team"]
        )
        swapped = GaugeMetricFamily(
            "callfocus_calls_roles_swapped_suspected",
            "Live calls whose AGENT and CUSTOMER look swapped (the speaker-role check), by team.",
            labels=["team"],
        )
        per_team: dict[str, int] = {}
        swapped_per_team: dict[str, int] = {}
        owned = 0
        for call in self.calls:
            owned += 1
            if call.ended_monotonic is None:
                team = exported_labels(call)[0]
                per_team[team] = per_team.get(team, 0) + 1
                swapped_per_team.setdefault(team, 0)
                if call.state.metrics().roles_swapped_suspected:  # cached until the call changes
                    swapped_per_team[team] += 1
        for team, count in sorted(per_team.items()):
            active.add_metric([team], count)
            swapped.add_metric([team], swapped_per_team[team])
        yield active
        yield swapped
        unexported = GaugeMetricFamily(
            "callfocus_calls_unexported",
            "Calls owned by this worker whose per-call series are not exported (cap or switch).",
        )
        unexported.add_metric([], owned - len(self._exported()))
        yield unexported

    def render_calls(self, families: Collection[str] | None = None) -> str:
        """Exposition text of every exported call's series (families in a fixed order), of
        the ``families`` named only if given."""
        wanted = [i for i, (name, _, _) in enumerate(_CALL_FAMILIES) if families is None or name in families]
        if not wanted:
            return ""
        rendered: dict[str, tuple[CallMetrics, tuple[str, str] | None, tuple[str, ...]]] = {}
        previous = self._rendered
        for call in self._exported():
            metrics = call.state.metrics()
            cached = previous.get(call.call_id)
            if cached is None or cached[0] is not metrics or cached[1] is not call.exported_labels:
                cached = (metrics, call.exported_labels, _call_lines(call, metrics))
            rendered[call.call_id] = cached
        self._rendered = rendered
        parts: list[str] = []
        for index in wanted:
            parts.append(_CALL_FAMILIES[index][1])
            parts.extend(lines[index] for _, _, lines in rendered.values())
        return "".join(parts)

    def render_teams(self, families: Collection[str] | None = None) -> str:
        """Exposition text of the per-team aggregates (``callfocus_team_*``) over every live
        call of the worker, exported per call or not; only if ``families`` (if given) names
        one of them. A call's values are read again only when its metrics changed."""
        if families is not None and not TEAM_FAMILIES.intersection(families):
            return ""
        by_team: dict[str, list[tuple[float | None, ...]]] = {}
        rows: dict[str, tuple[CallMetrics, tuple[float | None, ...]]] = {}
        previous = self._team_rows
        for call in self.calls:
            if call.ended_monotonic is not None:
                continue
            metrics = call.state.metrics()
            cached = previous.get(call.call_id)
            if cached is None or cached[0] is not metrics:
                cached = (metrics, _team_values(metrics))
            rows[call.call_id] = cached
            by_team.setdefault(exported_labels(call)[0], []).append(cached[1])
        self._team_rows = rows
        return render_teams(by_team)


def exposition(
    registry: CollectorRegistry, calls: LiveCallCollector, names: Collection[str] | None = None
) -> bytes:
    """What /metrics serves: every series, or with ``names`` (``?name[]=...``, as in
    prometheus_client's own handler) only the series of those sample names. A poll of one
    counter then costs no per-call series (2,000 calls: tens of milliseconds each time)."""
    served = registry if names is None else registry.restricted_registry(names)
    return generate_latest(served) + (calls.render_calls(names) + calls.render_teams(names)).encode()


def _call_lines(call: LiveCall, metrics: CallMetrics) -> tuple[str, ...]:
    """One call's sample lines, per family of ``_CALL_FAMILIES``."""
    agent_id = call.labels.agent_id
    team, queue = exported_labels(call)
    labels = (
        f'call_id="{_label_value(call.call_id)}",agent_id="{_label_value(agent_id)}",'
        f'team="{_label_value(team)}",queue="{_label_value(queue)}"'
    )
    windows = metrics.windows
    lines = []
    for family, samples in _samples_of(tuple(window.window for window in windows)):
        start = f"{family}{{{labels}"
        text = []
        for name, window, rest in samples:
            value = getattr(metrics if window < 0 else windows[window], name)
            if value is not None:
                text.append(f"{start}{rest}{float(value)!r}\n")
        lines.append("".join(text))
    return tuple(lines)


# the samples of a call with these windows: (family, [(metric, index of its window in
# CallMetrics.windows or -1 for a whole-call field, the line from the labels' end to the value)])
_Samples = tuple[tuple[str, tuple[tuple[str, int, str], ...]], ...]
_SAMPLES: dict[tuple[str, ...], _Samples] = {}


def _samples_of(window_labels: tuple[str, ...]) -> _Samples:
    """Worked out once per set of windows (one per configuration), not per call and scrape."""
    known = _SAMPLES.get(window_labels)
    if known is not None:
        return known
    families = []
    for family, _, members in _CALL_FAMILIES:
        samples: list[tuple[str, int, str]] = []
        for m in members:
            if m.scope is Scope.CALL:
                extra = f',{m.prometheus_label[0]}="{m.prometheus_label[1]}"' if m.prometheus_label else ""
                samples.append((m.name, -1, f"{extra}}} "))
                continue
            for label in m.windows_exported(window_labels):
                samples.append((m.name, window_labels.index(label), f',window="{label}"}} '))
        families.append((family, tuple(samples)))
    _SAMPLES[window_labels] = known = tuple(families)
    return known


def _team_values(metrics: CallMetrics) -> tuple[float | None, ...]:
    """One call's contribution to the per-team aggregates, in ``_TEAM_METRICS`` order."""
    whole = metrics.window("call")
    return tuple(getattr(whole if windowed else metrics, m.name) for m, windowed, _ in _TEAM_METRICS)


def render_teams(values_by_team: dict[str, list[tuple[float | None, ...]]]) -> str:
    """The per-team aggregates' exposition text, from each team's live calls' values."""
    totals: dict[str, list[tuple[float, int]]] = {}
    for team, rows in values_by_team.items():
        sums = [0.0] * len(_TEAM_METRICS)
        counts = [0] * len(_TEAM_METRICS)
        for row in rows:
            for index, value in enumerate(row):
                if value is not None:
                    sums[index] += value
                    counts[index] += 1
        totals[team] = list(zip(sums, counts, strict=True))
    parts: list[str] = []
    if not totals:
        return ""
    for index, (m, _, summed) in enumerate(_TEAM_METRICS):
        parts.append(_TEAM_HEADERS[index])
        for team in sorted(totals):
            total, count = totals[team][index]
            if summed:
                parts.append(f'{m.team_family}{{team="{_label_value(team)}"}} {total!r}\n')
            elif count:
                parts.append(f'{m.team_family}{{team="{_label_value(team)}"}} {total / count!r}\n')
    return "".join(parts)
