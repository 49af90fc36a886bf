"""Calls in Spanish, golden values worked out by hand, and calls in a language without a
lexicon: never scored with another language's (docs/languages.md)."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from streams.engine import CallMetrics, CallState, EngineConfig
from streams.engine.lexicon import load_lexicon
from streams.engine.nudges import NudgeTracker
from streams.engine.text import TextAnalyzer, tokens
from streams.wire.codec import AvroCodec
from streams.wire.events import CallStarted, Speaker, TranscriptSegment
from streams.worker.calls import LiveCall
from streams.worker.exporter import MAX_UNSUPPORTED_LANGUAGES, PipelineMetrics, unsupported_language_label
from streams.worker.outputs import metrics_record, summary_record

A, C = Speaker.AGENT, Speaker.CUSTOMER
SPANISH = TextAnalyzer(load_lexicon("es"))
CODEC = AvroCodec()


def state_of(language: str, *segments: tuple[Speaker, float, float, str]) -> CallState:
    """A call started in ``language`` with segments as (speaker, start s, end s, text)."""
    state = CallState("c", EngineConfig())
    state.start(CallStarted("c", 0, language=language))
    for n, (speaker, start, end, text) in enumerate(segments):
        state.apply(TranscriptSegment("c", f"s{n}", speaker, int(start * 1000), int(end * 1000), text))
    return state


def call(language: str, *segments: tuple[Speaker, float, float, str]) -> CallMetrics:
    return state_of(language, *segments).metrics()


def compound(total: float) -> float:
    """VADER's normalisation of a segment's summed valence (streams/engine/sentiment.py)."""
    return total / math.sqrt(total * total + 15)


# -- the tokenizer and the lexicon, word by word --------------------------------------


def test_accents_enye_and_inverted_marks_tokenize_as_spanish_words() -> None:
    assert tokens("¿Qué pasó, señora Muñoz? ¡Buenísimo!") == ["qué", "pasó", "señora", "muñoz", "buenísimo"]
    assert tokens("¿CÓMO está? Año 2024, pingüino") == ["cómo", "está", "año", "2024", "pingüino"]
    # "que" without its accent is the conjunction, a different word
    assert tokens("que") != tokens("qué")


@pytest.mark.parametrize(
    ("text", "total", "open_"),
    [
        ("¿Qué necesita usted hoy?", 1, 1),
        ("¿Cómo le fue con la entrega?", 1, 1),
        ("¿Por qué no funciona?", 1, 1),
        ("¿Cuándo llegó la tarjeta?", 1, 0),
        ("¿Dónde vive usted?", 1, 0),
        ("¿Cuál es su número de cuenta?", 1, 0),
        ("¿Cuánto pagó el mes pasado?", 1, 0),
        ("¿Qué número de cuenta tiene?", 1, 0),  # a data question is closed
        ("¿Puede confirmar su dirección?", 1, 0),  # a "?" without an opener: closed
        ("¿Tiene usted la tarjeta a mano?", 1, 0),
        ("Cuénteme un poco más de su negocio.", 1, 1),
        ("Dígame su nombre completo, por favor.", 1, 0),
        # ASR style, no punctuation: a filler ("y", "bueno") ends a clause
        ("tiene usted la tarjeta y qué quiere hacer con ella", 2, 1),
        ("bueno cuándo fue eso y me puede explicar qué pasó", 2, 1),
        ("le voy a enviar la tarjeta nueva", 0, 0),
        ("yo puedo ayudarle con eso", 0, 0),
        ("que tenga un buen día", 0, 0),
    ],
)
def test_spanish_questions_open_and_closed(text: str, total: int, open_: int) -> None:
    found = SPANISH.questions(text, tokens(text))
    assert (found.total, found.open) == (total, open_)


@pytest.mark.parametrize(
    ("text", "customer", "own"),
    [
        ("¿Usted tiene su tarjeta?", 2, 0),
        ("le enviamos sus documentos a ustedes", 3, 0),
        ("nosotros revisamos nuestra política y nos comunicamos", 0, 3),
        ("mi compañero y yo le ayudamos", 1, 2),
        ("tú y tus amigos", 2, 0),
    ],
)
def test_spanish_you_and_we_references(text: str, customer: int, own: int) -> None:
    assert SPANISH.references(tokens(text), None, None) == (customer, own)


@pytest.mark.parametrize(
    ("text", "backchannel"),
    [
        ("sí", True),
        ("ajá", True),
        ("claro", True),
        ("vale", True),
        ("de acuerdo", True),
        ("entiendo", True),
        ("sí claro", True),
        ("sí, tengo la tarjeta", False),
    ],
)
def test_spanish_backchannels(text: str, backchannel: bool) -> None:
    assert SPANISH.is_backchannel(tokens(text), 3) is backchannel


def test_spanish_pitch_and_discovery() -> None:
    assert SPANISH.stance(tokens("le puedo ofrecer nuestro producto premium con descuento")) == 1
    assert SPANISH.stance(tokens("cuál es el mayor problema de su equipo hoy")) == -1
    assert SPANISH.stance(tokens("un momento por favor")) == 0


def test_spanish_sentiment_uses_spanish_valences_not_english() -> None:
    assert SPANISH.sentiment(tokens("excelente")) == pytest.approx(compound(3.0))
    assert SPANISH.sentiment(tokens("muy molesto")) == pytest.approx(compound(-2.0 - 0.293))
    assert SPANISH.sentiment(tokens("no está mal")) == pytest.approx(compound(-2.0 * -0.74))
    assert SPANISH.sentiment(tokens("me cobraron dos veces")) == pytest.approx(compound(-2.0))
    # VADER's English "no" / "sin" carry nothing here; "bien" is Spanish, not English "bien"
    assert SPANISH.sentiment(tokens("hola")) == 0.0


# -- whole calls --------------------------------------------------------------------

BANK_CALL = (
    (A, 0, 10, "Buenos días, gracias por llamar a Banco Sol, mi nombre es Ana, ¿en qué le puedo ayudar?"),
    (C, 10, 20, "Hola, tengo un problema con mi tarjeta, me cobraron dos veces."),
    (A, 20, 30, "Lo siento mucho. ¿Cuándo vio el cargo? ¿Me puede explicar qué pasó?"),
    (C, 30, 50, "Ayer en la tarde, es inaceptable, estoy muy molesto."),
    (A, 50, 55, "Entiendo."),
    (A, 55, 60, "Vamos a revisar su cuenta y le devolvemos el dinero hoy."),
    (C, 60, 70, "Perfecto, muchas gracias, es usted muy amable."),
)


def test_a_spanish_service_call_golden_values() -> None:
    m = call("es-MX", *BANK_CALL)
    assert (m.language, m.lexicon_language, m.language_supported) == ("es-MX", "es", True)
    whole = m.window("call")
    # agent 10 + 10 + 5 + 5 s, customer 10 + 20 + 10 s
    assert whole.agent_talk_ratio == pytest.approx(30 / 70)
    # the greeting's "en qué le puedo ayudar" is the greeting; then "¿cuándo ...?" (closed)
    # and "¿me puede explicar ...?" (open)
    assert (whole.questions, whole.open_questions) == (2, 1)
    assert whole.questions_per_minute == pytest.approx(2 / (70 / 60))
    assert whole.open_question_ratio == 0.5
    # you: le (greeting), su, le; we/I: mi (nombre), me (puede explicar)
    assert whole.reference_words == 5 and whole.you_focus_ratio == pytest.approx(3 / 5)
    assert whole.pitch_ratio == 0.0  # "pasó" is discovery, nothing pitched
    # customer segments, word-weighted: problema -1.7 + "cobraron dos veces" -2.0 (11 words);
    # inaceptable -2.0 + muy molesto -2.293 (9 words); perfecto 2.7 + gracias 1.5 + muy
    # amable 2.293 (7 words)
    expected = (11 * compound(-3.7) + 9 * compound(-4.293) + 7 * compound(6.493)) / 27
    assert whole.customer_sentiment == pytest.approx(expected)
    assert whole.customer_turns == 3 and whole.interruptions == 0
    assert m.customer_focus_score is not None
    assert {part.name for part in m.score_components} == {
        "talk_balance",
        "longest_monologue",
        "open_questions",
        "you_focus",
        "reflection",
        "interruptions",
    }


def test_a_spanish_sales_call_that_pitches_and_hears_an_objection() -> None:
    m = call(
        "es",
        (A, 0, 20, "Le llamo para ofrecerle nuestro nuevo plan premium con un descuento especial."),
        (C, 20, 25, "No me interesa, es muy caro."),
        (A, 25, 40, "Nuestro producto tiene la mejor integración y una prueba gratuita."),
        (C, 40, 45, "Ya tengo otro proveedor."),
    )
    whole = m.window("call")
    assert whole.agent_talk_ratio == pytest.approx(35 / 45)
    assert whole.pitch_ratio == 1.0 and whole.questions == 0
    # the agent spoke of "le" (you) once and "nuestro" (we) twice
    assert whole.you_focus_ratio == pytest.approx(1 / 3)
    assert m.objections == 2
    assert m.objection_pitch_ratio == 1.0  # the reply pitched without asking
    assert whole.customer_sentiment == 0.0  # objections, but no word of feeling


# -- a language without a lexicon ---------------------------------------------------

LEXICAL = (
    "questions_per_minute",
    "open_question_ratio",
    "you_focus_ratio",
    "pitch_ratio",
    "reflection_ratio",
    "customer_sentiment",
)
TIMING = (
    "agent_talk_ratio",
    "interruptions",
    "response_gap_seconds",
    "dead_air_silences",
    "dead_air_ratio",
    "overtalk_ratio",
    "agent_speech_seconds",
    "customer_speech_seconds",
    "customer_turns",
    "speaker_switches_per_minute",
)
ENGLISH_WORDS = (
    (A, 0, 20, "what are your goals this year and how can we help your team grow"),
    (C, 19, 40, "we need better reporting, our product is terrible"),
    (A, 48, 60, "our premium plan has a great dashboard for you"),
    (C, 60, 70, "tell me more about the price"),
)


def test_a_language_without_a_lexicon_has_timing_but_no_lexical_metrics() -> None:
    french = call("fr-CA", *ENGLISH_WORDS)
    english = call("en", *ENGLISH_WORDS)
    assert (french.language, french.lexicon_language, french.language_supported) == ("fr-CA", "", False)
    assert (english.lexicon_language, english.language_supported) == ("en", True)
    for label in ("60s", "180s", "call"):
        for name in LEXICAL:
            assert getattr(french.window(label), name) is None, name
            assert getattr(english.window(label), name) is not None, name
        for name in TIMING:
            assert getattr(french.window(label), name) == getattr(english.window(label), name), name
    assert french.window("call").questions == 0 and english.window("call").questions > 0
    assert french.monologue_longest_seconds == english.monologue_longest_seconds == 20.0
    assert french.objection_question_ratio is None
    # the score: the parts that need no lexicon, never the English reading of French
    assert [p.name for p in french.score_components] == ["talk_balance", "longest_monologue", "interruptions"]
    assert french.customer_focus_score is not None
    assert french.customer_focus_score != english.customer_focus_score


def test_no_lexicon_means_no_discovery_nudge_from_unseen_questions() -> None:
    # 6 minutes without an open question the engine could see: English nudges, French cannot
    long_call = [(A, 60.0 * i, 60.0 * i + 50, "let me check the account status") for i in range(6)]
    english, french = NudgeTracker("c"), NudgeTracker("c")
    fired_en = english.evaluate(call("en", *long_call))
    fired_fr = french.evaluate(call("fr", *long_call))
    assert "no_discovery" in [n.type for n in fired_en]
    assert "no_discovery" not in [n.type for n in fired_fr]
    assert "monologue" in [n.type for n in fired_fr]  # timing nudges still fire


def test_a_state_read_back_keeps_the_language_decision() -> None:
    state = state_of("de-AT", *ENGLISH_WORDS)
    again = CallState.from_dict(state.to_dict(), state.config)
    assert again.lexicon_language is None and again.metrics() == state.metrics()


def test_the_outputs_carry_the_language_and_encode_with_the_schemas() -> None:
    state = state_of("fr", *ENGLISH_WORDS)
    live = LiveCall(state, 0)
    snapshot = metrics_record(live, state.metrics(), 1)
    assert (snapshot["language"], snapshot["lexicon_language"], snapshot["language_supported"]) == (
        "fr",
        "",
        False,
    )
    assert CODEC.decode(CODEC.encode("CallMetrics", snapshot))[1]["language_supported"] is False
    summary = summary_record(live, state.metrics())
    decoded = CODEC.decode(CODEC.encode("CallSummary", summary))[1]
    assert decoded["language"] == "fr" and decoded["you_focus_ratio"] is None
    assert decoded["agent_talk_ratio"] == pytest.approx(summary["agent_talk_ratio"])


def test_unsupported_language_labels_are_bounded() -> None:
    seen: set[str] = set()
    assert unsupported_language_label("fr-CA", seen) == "fr"
    assert unsupported_language_label("FR", seen) == "fr"
    assert unsupported_language_label("../x", seen) == "other"
    for n in range(MAX_UNSUPPORTED_LANGUAGES * 2):
        unsupported_language_label(f"x{chr(97 + n % 26)}{chr(97 + n // 26)}", seen)
    assert len(seen) == MAX_UNSUPPORTED_LANGUAGES
    assert unsupported_language_label("zz", seen) == "other"
    assert unsupported_language_label("fr-BE", seen) == "fr"  # one already seen keeps its label
    metrics = PipelineMetrics(CollectorRegistry())
    metrics.count_unsupported_language("pt-BR")
    assert metrics.languages_unsupported.labels("pt")._value.get() == 1.0


def test_the_worker_counts_an_unsupported_call_once_at_its_start() -> None:
    from tests.unit.test_processor_and_exporter import samples, setup

    processor, exporter = setup(implicit_start=False)
    for call_id, language in (("c1", "fr-CA"), ("c2", "fr"), ("c3", "es-MX"), ("c4", "en-US")):
        start = CODEC.encode("CallStarted", {"call_id": call_id, "started_at": 1, "language": language})
        assert processor.process(start, 0).error is None
    again = CODEC.encode("CallStarted", {"call_id": "c1", "started_at": 1, "language": "fr-CA"})
    assert processor.process(again, 0).error is None  # a redelivered start is not a new call
    got = samples(exporter)
    unsupported = {k[1]: v for k, v in got.items() if k[0] == "callfocus_language_unsupported_total"}
    assert unsupported == {(("language", "fr"),): 2.0}
