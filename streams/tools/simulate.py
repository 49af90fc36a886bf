"""Synthetic calls with recognisable agent styles, for demos, load tests and benchmarks.

Deterministic for a seed. Each style is written so the engine's metrics tell it apart:

* ``customer_focused``: short agent turns, open questions, reflections of the
  customer's words, long customer stories;
* ``pitcher``: agent turns about the offer and "we/our", few questions;
* ``monologuer``: agent runs of 90-150 s with only customer backchannels between;
* ``interrupter``: agent turns that start 1-2 s before the customer has finished;
* ``silent``: an agent who mostly says "mhm" and never asks anything.

Every ``hold_every``-th call puts the customer on hold once, for 30-90 s of silence
between "please hold" and "thanks for holding", with ``HoldStarted`` / ``HoldEnded``
events as a telephony system would send them. The other calls are the same with or
without holds (``hold_every=0``), and so is a held call up to its hold.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from streams.tools.sources import Recording, timeline
from streams.wire.events import (
    CallEnded,
    CallStarted,
    Event,
    HoldEnded,
    HoldStarted,
    Speaker,
    TranscriptSegment,
)


class AgentStyle(StrEnum):
    CUSTOMER_FOCUSED = "customer_focused"
    PITCHER = "pitcher"
    MONOLOGUER = "monologuer"
    INTERRUPTER = "interrupter"
    SILENT = "silent"


class CustomerMood(StrEnum):
    CALM = "calm"
    FRUSTRATED = "frustrated"
    HAPPY = "happy"


OPEN_QUESTIONS = [
    "what is the biggest challenge for your team right now",
    "can you walk me through how that process works today",
    "how does that affect your customers",
    "tell me more about what happened last month",
    "what would a good outcome look like for you",
    "why is that a priority for your business this quarter",
]
PITCH_LINES = [
    "our premium plan includes our analytics dashboard and our priority support",
    "we just launched a new feature and our customers love it",
    "we can offer a discount on the upgrade if you sign this month",
    "our solution is the best in class and our demo takes thirty minutes",
    "i think our platform is exactly what we built for companies like yours",
    "we also have an onboarding package and our integrations are included",
]
EXPLAIN_LINES = [
    "so the way our system works is that every night we run a batch over all the accounts",
    "and then the second step is that we reconcile the totals against the ledger",
    "we also keep a backup copy of everything for thirty days in our data center",
    "and our engineers built it that way because we wanted to keep the costs down",
    "which means that when the batch runs late we have to wait for the next window",
    "and in my experience that is usually what causes the delay that i am describing",
]
BACKCHANNELS = ["mhm", "uh-huh", "yeah", "okay", "right", "i see"]
HOLD_LINES = (
    "let me check that with my colleague could you please hold for a moment",
    "thank you for holding i have the answer now",
)
HOLD_MS = (30_000, 90_000)
CUSTOMER_LINES = {
    CustomerMood.CALM: [
        "we process about two hundred orders a day through the warehouse",
        "the sync with our accounting system fails about once a week",
        "our finance team spends hours fixing the invoices by hand",
        "we are trying to grow into two new regions next year",
        "the main problem is that the reports arrive late for our managers",
    ],
    CustomerMood.FRUSTRATED: [
        "honestly this is terrible we have had the same problem three times",
        "i am really frustrated nobody called us back last week",
        "the invoices were wrong again and my boss is angry about it",
        "this keeps failing and it is costing us money every single day",
        "i am not happy with how long this is taking",
    ],
    CustomerMood.HAPPY: [
        "that sounds great we really like how easy it has been",
        "thanks the new reports have been very helpful for our team",
        "we are happy with the service and want to add more users",
        "our managers love the dashboard it saves them a lot of time",
        "great that is exactly what we needed",
    ],
}
_WORDS_PER_SECOND = 2.8


@dataclass(frozen=True)
class SimulationConfig:
    calls: int = 10
    concurrency: int = 10
    minutes: float = 5.0
    styles: tuple[AgentStyle, ...] = tuple(AgentStyle)
    moods: tuple[CustomerMood, ...] = tuple(CustomerMood)
    seed: int = 1
    teams: tuple[str, ...] = ("sales-east", "sales-west", "support")
    id_prefix: str = "sim"
    # every hold_every-th call (the 8th, 16th, ...) has one hold; 0: no call has
    hold_every: int = 8


class _CallWriter:
    """Appends segments to one call, keeping media time and segment ids."""

    def __init__(self, call_id: str, rng: random.Random) -> None:
        self.call_id = call_id
        self.rng = rng
        self.now = 0
        self.events: list[Event] = []

    def say(
        self,
        speaker: Speaker,
        text: str,
        *,
        overlap_ms: int = 0,
        pause_ms: tuple[int, int] = (300, 900),
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or self.rng
        start = max(0, self.now - overlap_ms) if overlap_ms else self.now + rng.randint(*pause_ms)
        duration = int(len(text.split()) / _WORDS_PER_SECOND * 1000) + rng.randint(100, 400)
        segment_id = f"s{len(self.events) + 1:04d}"
        self.events.append(
            TranscriptSegment(self.call_id, segment_id, speaker, start, start + duration, text)
        )
        self.now = max(self.now, start + duration)

    def hold(self, rng: random.Random) -> None:
        """The agent puts the customer on hold: silence, then the agent is back."""
        self.say(Speaker.AGENT, HOLD_LINES[0], rng=rng)
        start = self.now + rng.randint(500, 1500)
        end = start + rng.randint(*HOLD_MS)
        self.events.append(
            HoldStarted(self.call_id, "hold-1", start, reason="lookup", source="simulated-pbx")
        )
        self.events.append(HoldEnded(self.call_id, "hold-1", end, source="simulated-pbx"))
        self.now = end
        self.say(Speaker.AGENT, HOLD_LINES[1], rng=rng)


def _reflect(rng: random.Random, customer_line: str) -> str:
    words = [w for w in customer_line.split() if len(w) > 5]
    word = rng.choice(words) if words else "that"
    return f"so {word} is what matters most here"


def simulate_call(
    call_id: str,
    style: AgentStyle,
    mood: CustomerMood,
    minutes: float,
    rng: random.Random,
    team: str = "sales-east",
    hold_rng: random.Random | None = None,
) -> Recording:
    """One call; with ``hold_rng``, one hold, starting 20-60 % into the call."""
    w = _CallWriter(call_id, rng)
    lines = CUSTOMER_LINES[mood]
    end_ms = int(minutes * 60_000)
    hold_at = int(end_ms * hold_rng.uniform(0.2, 0.6)) if hold_rng is not None else None
    w.say(Speaker.AGENT, "thanks for calling this is contoso how can i help you today", pause_ms=(200, 400))
    while w.now < end_ms:
        if hold_rng is not None and hold_at is not None and w.now >= hold_at:
            w.hold(hold_rng)
            hold_at = None
        customer = rng.choice(lines)
        if style is AgentStyle.CUSTOMER_FOCUSED:
            for _ in range(rng.randint(2, 3)):
                customer = rng.choice(lines)
                w.say(Speaker.CUSTOMER, customer)
            w.say(Speaker.AGENT, _reflect(rng, customer))
            w.say(Speaker.AGENT, rng.choice(OPEN_QUESTIONS))
        elif style is AgentStyle.PITCHER:
            w.say(Speaker.CUSTOMER, customer)
            for _ in range(rng.randint(2, 3)):
                w.say(Speaker.AGENT, rng.choice(PITCH_LINES))
            if rng.random() < 0.3:
                w.say(Speaker.AGENT, "do you want me to book the demo")
        elif style is AgentStyle.MONOLOGUER:
            w.say(Speaker.CUSTOMER, customer)
            run_end = w.now + rng.randint(90_000, 150_000)
            while w.now < run_end:
                w.say(Speaker.AGENT, rng.choice(EXPLAIN_LINES))
                if rng.random() < 0.4:
                    w.say(Speaker.CUSTOMER, rng.choice(BACKCHANNELS), overlap_ms=rng.randint(200, 800))
        elif style is AgentStyle.INTERRUPTER:
            w.say(Speaker.CUSTOMER, customer)
            w.say(Speaker.AGENT, rng.choice(PITCH_LINES + OPEN_QUESTIONS), overlap_ms=rng.randint(1000, 2000))
        else:  # silent
            w.say(Speaker.CUSTOMER, customer)
            w.say(Speaker.AGENT, rng.choice(BACKCHANNELS))
            w.say(Speaker.CUSTOMER, rng.choice(lines))
    started = CallStarted(
        call_id,
        0,
        agent_id=f"agent-{style.value}-{rng.randint(1, 20):02d}",
        team=team,
        queue="inbound",
        customer_org="Fabrikam",
        seller_org="Contoso",
        attributes={"simulated_style": style.value, "simulated_mood": mood.value},
    )
    ended = CallEnded(call_id, w.now + 1000, reason="hangup")
    return timeline(call_id, [started, *w.events, ended])


def simulate(config: SimulationConfig) -> Iterator[tuple[int, Recording]]:
    """(start offset in ms, call) for ``config.calls`` calls, ``concurrency`` at a time."""
    rng = random.Random(config.seed)
    length_ms = int(config.minutes * 60_000)
    for i in range(config.calls):
        style = config.styles[i % len(config.styles)]
        mood = rng.choice(config.moods)
        wave, slot = divmod(i, config.concurrency)
        offset = wave * length_ms + int(slot * length_ms / config.concurrency / 10)
        team = config.teams[i % len(config.teams)]
        call_id = f"{config.id_prefix}-{i:05d}"
        if config.hold_every > 0 and (i + 1) % config.hold_every == 0:
            # the call with its hold from a copy of the shared generator, which then
            # draws what the call without a hold would: the hold changes no other call
            copy = random.Random()
            copy.setstate(rng.getstate())
            hold_rng = random.Random(f"{config.seed}-hold-{i}")
            held = simulate_call(call_id, style, mood, config.minutes, copy, team, hold_rng)
            plain = simulate_call(call_id, style, mood, config.minutes, rng, team)
            # and the same agent (drawn after the conversation)
            yield offset, Recording(call_id, (plain.events[0], *held.events[1:]))
        else:
            yield offset, simulate_call(call_id, style, mood, config.minutes, rng, team)
