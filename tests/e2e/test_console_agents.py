"""The console's agent page and nudge acknowledgements in a real headless Chromium, against a
real worker and Kafka.

a. from the call list, an agent's page: their live call and their ended calls (summaries on
   ``<prefix>.call-summaries``, over three days), and the trend chart drawn from them; a held
   call opens its detail;
b. a supervisor marks a nudge handled with a note: the row shows it (the note as text, never
   as HTML), on a second page open at the time (live, over the stream) and after a reload.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from streams.wire.codec import AvroCodec
from tests.e2e.test_console import ROWS, live_sample_calls, settings_for
from tests.integration.worker import WorkerProcess
from tests.unit.test_codec import EXAMPLES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000


def produce(bootstrap: str, topic: str, records: list[tuple[str, str, dict[str, Any]]]) -> None:
    """(key, record name, record) to ``topic``, acknowledged by the broker."""
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for key, name, record in records:
            producer.send(topic, key=key.encode(), value=codec.encode(name, record))
        producer.flush()
    finally:
        producer.close()


def ended_call(
    call_id: str, agent_id: str, team: str, ended_at: int, score: float, nudges: int
) -> dict[str, Any]:
    """A CallSummary as the worker writes it at a call's end."""
    return {
        **EXAMPLES["CallSummary"],
        "call_id": call_id,
        "agent_id": agent_id,
        "team": team,
        "started_at": ended_at - 240_000,
        "ended_at": ended_at,
        "duration_seconds": 240.0,
        "customer_focus_score": score,
        "nudges": [f"{call_id}-n{i}" for i in range(nudges)],
        "tracker_hits": [{"tracker": "escalation_request", "hits": 1}],
        "definitions": "callfocus-e2e",
    }


def test_the_agent_page_shows_the_agents_calls_and_their_trend(
    start_worker: Callable[..., WorkerProcess], topics: dict[str, str], page: Any, artifacts: Path
) -> None:
    from streams.tools.replay import replay

    worker = start_worker()
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    now_ms = int(time.time() * 1000)
    today = now_ms - now_ms % DAY_MS  # the UTC day the page groups by
    earlier_today = now_ms - min(3_600_000, (now_ms - today) // 2)
    noon = [today - days * DAY_MS + DAY_MS // 2 for days in (1, 2)]
    # agent-ana's ended calls: two days ago, yesterday and earlier today; one of another agent
    history = [
        ended_call("ana-d2-a", "agent-ana", "retention", noon[1], 52.0, 2),
        ended_call("ana-d2-b", "agent-ana", "retention", noon[1] + 900_000, 38.0, 3),
        ended_call("ana-d1-a", "agent-ana", "retention", noon[0], 61.0, 1),
        ended_call("ana-d1-b", "agent-ana", "retention", noon[0] + 900_000, 67.0, 0),
        ended_call("ana-d0-a", "agent-ana", "retention", earlier_today, 74.0, 0),
        ended_call("bo-d0-a", "agent-bo", "sales", earlier_today, 20.0, 4),
    ]
    produce(bootstrap, f"{prefix}.call-summaries", [(s["call_id"], "CallSummary", s) for s in history])

    page.goto(f"{worker.url}/console")
    page.wait_for_selector("#status[data-state=live]", timeout=15_000)
    replay(live_sample_calls(), settings_for(topics), speed=None)  # live: agent-ana's demo-focused
    link = f'{ROWS}[data-call-id="demo-focused"] a.agent-link[data-agent-id="agent-ana"]'
    page.wait_for_selector(link, timeout=30_000)
    page.click(link)

    page.wait_for_selector(
        '#agent[data-agent-id="agent-ana"][data-loaded=true]:not([hidden])', timeout=10_000
    )
    assert page.is_hidden("#calls-section")
    assert page.text_content("#agent-id") == "agent-ana" and page.text_content("#agent-teams") == "retention"
    # the live call and the five ended ones, newest first; none of agent-bo's
    page.wait_for_function(
        "() => document.querySelectorAll('#agent-calls tbody tr[data-call-id]').length === 6", timeout=10_000
    )
    rows = page.eval_on_selector_all(
        "#agent-calls tbody tr[data-call-id]",
        """rows => rows.map(r => ({id: r.dataset.callId, live: r.dataset.live, day: r.dataset.day,
                 score: r.querySelector('.score').textContent, nudges: r.querySelector('.nudges').textContent,
                 hits: r.querySelector('.hits').textContent, link: !!r.querySelector('a.call-link')}))""",
    )
    assert [r["id"] for r in rows] == [
        "demo-focused",
        "ana-d0-a",
        "ana-d1-b",
        "ana-d1-a",
        "ana-d2-b",
        "ana-d2-a",
    ]
    assert rows[0]["live"] == "true" and rows[0]["link"]  # live: its detail is held
    assert not any(r["link"] for r in rows[1:])  # only their summaries: no detail held
    assert rows[1]["score"] == "74" and rows[4]["nudges"] == "3 (0)"
    assert rows[1]["hits"] == "escalation_request: 1"
    # a row per day before the day's calls, today's first
    days = page.eval_on_selector_all("#agent-calls tr.day-row", "rows => rows.map(r => r.textContent)")
    assert len(days) == 3 and days[0].startswith("Today")

    # the trend: three days of mean and 10th percentile, drawn as SVG
    assert page.get_attribute("#agent-trend", "data-point-count") == "3"
    assert page.get_attribute('#agent-trend polyline[data-series="mean"]', "data-point-count") == "3"
    assert page.get_attribute('#agent-trend polyline[data-series="p10"]', "data-point-count") == "3"
    titles = page.eval_on_selector_all(
        '#agent-trend circle[data-series="mean"] title', "ts => ts.map(t => t.textContent)"
    )
    assert [t.split(": ")[1] for t in titles] == [
        "mean 45 of 2 calls",
        "mean 64 of 2 calls",
        "mean 74 of 1 calls",
    ]
    # the mean line rises: each point higher on the chart (a smaller y) than the one before
    ys = page.eval_on_selector_all(
        '#agent-trend circle[data-series="mean"]', "cs => cs.map(c => Number(c.getAttribute('cy')))"
    )
    assert ys == sorted(ys, reverse=True) and len(set(ys)) == 3
    page.screenshot(path=str(artifacts / "console-agent.png"), full_page=True)
    shutil.copyfile(artifacts / "console-agent.png", ROOT / "docs" / "images" / "console-agent.png")

    # a held call opens its detail, back on the call list
    page.click('#agent-calls a.call-link[data-call-id="demo-focused"]')
    page.wait_for_selector('#detail[data-call-id="demo-focused"]:not([hidden])', timeout=10_000)
    assert page.is_hidden("#agent") and page.is_visible("#calls-section")


def nudge_record(nudge_id: str, call_id: str, agent_id: str, team: str) -> dict[str, Any]:
    return {
        **EXAMPLES["Nudge"],
        "nudge_id": nudge_id,
        "call_id": call_id,
        "agent_id": agent_id,
        "team": team,
        "created_at": int(time.time() * 1000),
    }


def test_a_nudge_marked_handled_shows_on_every_page_and_after_a_reload(
    start_worker: Callable[..., WorkerProcess],
    topics: dict[str, str],
    page: Any,
    browser: Any,
    artifacts: Path,
) -> None:
    worker = start_worker()
    bootstrap, prefix = topics["CALLFOCUS_KAFKA_BOOTSTRAP"], topics["CALLFOCUS_TOPIC_PREFIX"]
    page.goto(f"{worker.url}/console")
    page.wait_for_selector("#status[data-state=live]", timeout=15_000)
    other_context = browser.new_context(viewport={"width": 1440, "height": 900})
    other = other_context.new_page()
    try:
        other.goto(f"{worker.url}/console")
        other.wait_for_selector("#status[data-state=live]", timeout=15_000)

        produce(
            bootstrap,
            f"{prefix}.nudges",
            [("ack-call", "Nudge", nudge_record("nudge-ack-1", "ack-call", "agent-dee", "sales"))],
        )
        item = '#nudge-feed li[data-nudge-id="nudge-ack-1"]'
        page.wait_for_selector(item, timeout=15_000)
        other.wait_for_selector(item, timeout=15_000)
        assert page.get_attribute(item, "data-acked") is None

        # a note that would be markup if it were ever parsed as HTML
        note = "Talked it through: <img src=x onerror=\"document.title='owned'\"> & asked more questions"
        page.click(f"{item} .ack-button")
        page.fill(f"{item} .ack-form textarea", note)
        page.click(f"{item} .ack-save")
        acked = f"{item}[data-acked=true]"
        page.wait_for_selector(acked, timeout=10_000)
        assert page.text_content(f"{acked} .ack-note") == note
        assert page.locator(f"{item} img").count() == 0 and page.title() != "owned"
        assert (page.text_content(f"{acked} .ack") or "").startswith("Handled by anonymous at ")
        assert page.locator(f"{acked} .ack-button").count() == 0
        page.screenshot(path=str(artifacts / "console-ack.png"), full_page=True)

        # the second page, open all along: the stream brought the change
        other.wait_for_selector(acked, timeout=10_000)
        assert other.text_content(f"{acked} .ack-note") == note
        assert other.locator(f"{item} img").count() == 0

        # a reload: the backlog carries the acknowledgement
        page.reload()
        page.wait_for_selector(acked, timeout=15_000)
        assert page.text_content(f"{acked} .ack-note") == note
        assert page.get_attribute(f"{acked} .ack", "data-acked-by") == "anonymous"
    finally:
        other_context.close()
