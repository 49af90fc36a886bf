"""ASR vendor output -> callfocus events, with example payloads written by hand from each
vendor's documented format:

- Amazon Transcribe streaming: Amazon Transcribe API reference, ``TranscriptEvent``,
  ``Transcript``, ``Result`` (ResultId, StartTime, EndTime, IsPartial, ChannelId,
  Alternatives[].Transcript/Items[] with Speaker, Confidence).
- Contact Lens: Amazon Connect Administrator Guide, "Data model for real-time contact
  analysis segment streams" (EventType STARTED/SEGMENTS/COMPLETED/FAILED, Utterance and
  Transcript segments) and the API reference's RealTimeContactAnalysisSegmentTranscript.
- Google: Cloud Speech-to-Text v1 RPC reference, ``StreamingRecognizeResponse`` and
  ``StreamingRecognitionResult`` (alternatives, isFinal, stability, resultEndTime,
  channelTag, languageCode), in the proto3 JSON mapping.
- Deepgram: "Configure Endpointing and Interim Results" and the live ``Results`` message
  (type, channel_index, start, duration, is_final, speech_final, channel.alternatives[0]
  with transcript, confidence, words[].speaker when diarized).
- Whisper: openai-whisper's ``transcribe()`` result (segments[] with id, start, end, text)
  and WhisperX/pyannote's ``speaker`` labels (``SPEAKER_00``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from streams.errors import InvalidEventError, InvalidReason
from streams.tools.cli import main
from streams.tools.sources.asr import ChannelRoles, parser_for, revision
from streams.tools.sources.asr.files import read_vendor
from streams.wire.events import CallEnded, CallStarted, Event, Speaker, TranscriptSegment

ROLES = ChannelRoles()


def segments(events: list[Event]) -> list[TranscriptSegment]:
    return [e for e in events if isinstance(e, TranscriptSegment)]


# Amazon Transcribe streaming ------------------------------------------------------------


def transcribe_result(
    result_id: str, start: float, end: float, text: str, partial: bool, channel: str | None = "ch_0"
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ResultId": result_id,
        "StartTime": start,
        "EndTime": end,
        "IsPartial": partial,
        "Alternatives": [
            {
                "Transcript": text,
                "Items": [
                    {
                        "Content": w,
                        "StartTime": start,
                        "EndTime": end,
                        "Type": "pronunciation",
                        "Confidence": 0.9,
                    }
                    for w in text.split()
                ],
            }
        ],
    }
    if channel is not None:
        result["ChannelId"] = channel
    return {"Transcript": {"Results": [result]}}


def test_transcribe_partials_are_revisions_of_the_result_and_the_final_closes_it() -> None:
    parser = parser_for("transcribe", ROLES)
    messages = [
        transcribe_result("a1b2-c3", 0.5, 1.1, "how can", True),
        transcribe_result("a1b2-c3", 0.5, 1.8, "how can I help", True),
        {"TranscriptEvent": transcribe_result("a1b2-c3", 0.5, 1.8, "How can I help you?", False)},
    ]
    out = [s for m in messages for s in segments(parser.parse(m, "call-1", 42))]
    assert [s.segment_id for s in out] == ["a1b2-c3"] * 3
    assert [s.is_final for s in out] == [False, False, True]
    assert [s.revision for s in out] == [1100, 1800, 100_001_800]  # rising: the final outranks all
    assert out[-1].text == "How can I help you?"
    assert (out[-1].start_ms, out[-1].end_ms, out[-1].speaker) == (500, 1800, Speaker.AGENT)
    assert out[-1].confidence == pytest.approx(0.9)
    assert out[-1].produced_at == 42


def test_transcribe_channels_and_diarized_speakers_map_to_roles() -> None:
    parser = parser_for("transcribe", ChannelRoles(agent=1, customer=0))
    customer = parser.parse(transcribe_result("r1", 0, 1, "hi there", False, "ch_0"), "c", 0)
    agent = parser.parse(transcribe_result("r2", 1, 2, "hello", False, "ch_1"), "c", 0)
    other = parser.parse(transcribe_result("r3", 2, 3, "music", False, None), "c", 0)
    assert [segments(e)[0].speaker for e in (customer, agent, other)] == [
        Speaker.CUSTOMER,
        Speaker.AGENT,
        Speaker.OTHER,
    ]
    diarized = transcribe_result("r4", 3, 4, "thanks a lot", False, None)
    for item in diarized["Transcript"]["Results"][0]["Alternatives"][0]["Items"]:
        item["Speaker"] = "0"
    assert segments(parser.parse(diarized, "c", 0))[0].speaker == Speaker.CUSTOMER


def test_transcribe_skips_empty_transcripts_and_explains_malformed_results() -> None:
    parser = parser_for("transcribe", ROLES)
    assert parser.parse(transcribe_result("r1", 0, 0.2, "  ", True), "c", 0) == []
    assert parser.parse({"Transcript": {"Results": []}}, "c", 0) == []
    with pytest.raises(InvalidEventError) as missing:
        parser.parse({"Transcript": {"Results": [{"ResultId": "r", "StartTime": 0}]}}, "c", 0)
    assert missing.value.reason is InvalidReason.MISSING_FIELD
    assert missing.value.detail == "transcribe: Results[0] has no EndTime"
    bad = transcribe_result("r1", 0, 1, "hi", False)
    bad["Transcript"]["Results"][0]["IsPartial"] = "no"
    with pytest.raises(InvalidEventError, match="IsPartial is 'no', not true or false"):
        parser.parse(bad, "c", 0)
    with pytest.raises(InvalidEventError, match="end_ms 1000 < start_ms 2000"):
        parser.parse(transcribe_result("r1", 2, 1, "hi", False), "c", 0)


# Contact Lens real-time segments -------------------------------------------------------


def contact_lens(kind: str, segments_: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "Version": "1.0.0",
        "Channel": "VOICE",
        "AccountId": "123456789012",
        "ContactId": "5f2b-contact",
        "InstanceId": "inst-1",
        "LanguageCode": "en-US",
        "EventType": kind,
    }
    if segments_ is not None:
        event["Segments"] = segments_
    return event


def test_contact_lens_utterances_are_partials_of_their_transcript() -> None:
    parser = parser_for("contact-lens", ROLES)
    started = parser.parse(contact_lens("STARTED"), "call-9", 1000)
    assert started == [CallStarted("call-9", 1000, language="en-US")]
    utterance = {
        "Utterance": {
            "ParticipantId": "agent-p",
            "ParticipantRole": "AGENT",
            "PartialContent": "Thanks for calling",
            "BeginOffsetMillis": 100,
            "EndOffsetMillis": 1200,
            "Id": "utt-1",
            "TranscriptId": "tr-1",
        }
    }
    transcript = {
        "Transcript": {
            "Id": "tr-1",
            "ParticipantId": "agent-p",
            "ParticipantRole": "AGENT",
            "Content": "Thanks for calling, how can I help?",
            "BeginOffsetMillis": 100,
            "EndOffsetMillis": 2400,
            "Sentiment": "NEUTRAL",
        }
    }
    customer = {
        "Transcript": {
            **transcript["Transcript"],
            "Id": "tr-2",
            "ParticipantRole": "CUSTOMER",
            "Content": "My card was declined.",
            "BeginOffsetMillis": 2600,
            "EndOffsetMillis": 4000,
        }
    }
    supervisor = {"Transcript": {**customer["Transcript"], "Id": "tr-3", "ParticipantRole": "SUPERVISOR"}}
    categories = {"Categories": {"MatchedCategories": [], "MatchedDetails": {}}}
    out = segments(
        parser.parse(
            contact_lens("SEGMENTS", [utterance, transcript, categories, customer, supervisor]),
            "call-9",
            2000,
        )
    )
    assert [(s.segment_id, s.is_final, s.speaker) for s in out] == [
        ("tr-1", False, Speaker.AGENT),
        ("tr-1", True, Speaker.AGENT),
        ("tr-2", True, Speaker.CUSTOMER),
        ("tr-3", True, Speaker.OTHER),
    ]
    assert out[0].revision < out[1].revision
    assert out[1].text == "Thanks for calling, how can I help?"
    assert parser.parse(contact_lens("COMPLETED"), "call-9", 9000) == [CallEnded("call-9", 9000, "completed")]
    assert parser.parse(contact_lens("FAILED"), "call-9", 9000) == [CallEnded("call-9", 9000, "failed")]


def test_contact_lens_refuses_unknown_events_and_segments_without_times() -> None:
    parser = parser_for("contact-lens", ROLES)
    with pytest.raises(InvalidEventError, match="EventType 'PAUSED' is not"):
        parser.parse(contact_lens("PAUSED"), "c", 0)
    with pytest.raises(InvalidEventError) as missing:
        parser.parse(
            contact_lens(
                "SEGMENTS",
                [
                    {
                        "Transcript": {
                            "Id": "t",
                            "ParticipantRole": "AGENT",
                            "Content": "hi",
                            "BeginOffsetMillis": 0,
                        }
                    }
                ],
            ),
            "c",
            0,
        )
    assert missing.value.reason is InvalidReason.MISSING_FIELD
    assert "Segments[0].Transcript has no EndOffsetMillis" in missing.value.detail


# Google Cloud Speech-to-Text streaming --------------------------------------------------


def google(*results: dict[str, Any]) -> dict[str, Any]:
    return {"results": list(results)}


def google_result(
    text: str, end: str, final: bool, channel: int | None = 1, stability: float = 0.0
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "alternatives": [{"transcript": text, **({"confidence": 0.93} if final else {})}],
        "isFinal": final,
        "stability": stability,
        "resultEndTime": end,
        "languageCode": "en-us",
    }
    if channel is not None:
        result["channelTag"] = channel
    return result


def test_google_interim_results_revise_one_utterance_until_it_is_final() -> None:
    parser = parser_for("google-stt", ROLES)
    out: list[TranscriptSegment] = []
    out += segments(
        parser.parse(
            google(
                google_result("I'd like", "0.800s", False, stability=0.9),
                google_result(" to pay", "1.100s", False, stability=0.1),
            ),
            "g",
            0,
        )
    )
    out += segments(parser.parse(google(google_result("I'd like to pay my bill", "2.000s", True)), "g", 0))
    out += segments(parser.parse(google(google_result("today", "2.600s", False)), "g", 0))
    out += segments(
        parser.parse(
            google(google_result("today please", {"seconds": "3", "nanos": 100000000}, True)), "g", 0
        )
    )
    assert [(s.segment_id, s.start_ms, s.end_ms, s.is_final) for s in out] == [
        ("1-r0", 0, 1100, False),
        ("1-r0", 0, 2000, True),
        ("1-2000", 2000, 2600, False),
        ("1-2000", 2000, 3100, True),
    ]
    assert out[0].text == "I'd like to pay"  # the response's non-final results, in order
    assert out[1].confidence == pytest.approx(0.93)
    assert all(s.speaker is Speaker.AGENT for s in out)  # channelTag 1 is the first channel


def test_google_channels_keep_their_own_utterances() -> None:
    parser = parser_for("google-stt", ROLES)
    both = parser.parse(
        google(google_result("hello", "1.000s", True, 1), google_result("hi", "1.500s", True, 2)), "g", 0
    )
    later = parser.parse(google(google_result("so", "2.000s", True, 2)), "g", 0)
    assert [(s.segment_id, s.speaker, s.start_ms) for s in segments(both + later)] == [
        ("1-r0", Speaker.AGENT, 0),
        ("2-r0", Speaker.CUSTOMER, 0),
        ("2-1500", Speaker.CUSTOMER, 1500),
    ]
    assert (
        segments(parser.parse(google(google_result("x", "3.000s", True, None)), "g", 0))[0].speaker
        is Speaker.OTHER
    )


def test_google_after_a_restart_names_the_utterance_anew_instead_of_replacing_the_first() -> None:
    before = parser_for("google-stt", ROLES)
    first = segments(before.parse(google(google_result("hello", "1.000s", True)), "g", 1_000))
    after = parser_for("google-stt", ROLES)  # a restarted bridge: no state
    again = segments(after.parse(google(google_result("how are you", "9.000s", False)), "g", 9_000))
    again += segments(after.parse(google(google_result("how are you doing", "9.500s", True)), "g", 9_500))
    assert first[0].segment_id == "1-r1000"
    assert {s.segment_id for s in again} == {"1-r9000"}  # one segment, not the first one's id
    assert [s.is_final for s in again] == [False, True]


def test_google_skips_empty_results_and_refuses_bad_durations() -> None:
    parser = parser_for("google-stt", ROLES)
    assert parser.parse({"speechEventType": "END_OF_SINGLE_UTTERANCE"}, "g", 0) == []
    assert parser.parse(google(google_result("", "1.000s", True)), "g", 0) == []
    # the empty final still closed the utterance: the next one starts at 1 s
    assert segments(parser.parse(google(google_result("yes", "1.400s", True)), "g", 0))[0].start_ms == 1000
    with pytest.raises(InvalidEventError, match=r"resultEndTime is '1\.5 seconds', not a duration"):
        parser.parse(google(google_result("x", "1.5 seconds", True)), "g", 0)
    with pytest.raises(InvalidEventError, match="the response is an error"):
        parser.parse({"error": {"code": 11, "message": "Audio Timeout Error"}}, "g", 0)


# Deepgram live ----------------------------------------------------------------------------


def deepgram(
    text: str,
    start: float,
    duration: float,
    final: bool,
    channel: list[int] | None = None,
    speaker: int | None = None,
    speech_final: bool = False,
) -> dict[str, Any]:
    words = [
        {
            "word": w.lower(),
            "start": start,
            "end": start + duration,
            "confidence": 0.98,
            "punctuated_word": w,
            **({"speaker": speaker} if speaker is not None else {}),
        }
        for w in text.split()
    ]
    return {
        "type": "Results",
        "channel_index": channel or [0, 1],
        "duration": duration,
        "start": start,
        "is_final": final,
        "speech_final": speech_final,
        "channel": {"alternatives": [{"transcript": text, "confidence": 0.97, "words": words}]},
        "metadata": {
            "request_id": "req-1",
            "model_info": {"name": "general", "version": "1", "arch": "nova-3"},
            "model_uuid": "m-1",
        },
    }


def test_deepgram_interims_of_a_piece_are_revisions_and_is_final_closes_it() -> None:
    parser = parser_for("deepgram", ROLES)
    messages = [
        deepgram("another", 1.0, 0.5, False, [1, 2]),
        deepgram("another big", 1.0, 1.0, False, [1, 2]),
        deepgram("another big day", 1.0, 1.25, True, [1, 2], speech_final=True),
        deepgram("tomorrow", 2.25, 0.75, True, [0, 2]),
        {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 3.0},
    ]
    out = [s for m in messages for s in segments(parser.parse(m, "d", 0))]
    assert [(s.segment_id, s.is_final, s.end_ms, s.speaker) for s in out] == [
        ("1-1000", False, 1500, Speaker.CUSTOMER),
        ("1-1000", False, 2000, Speaker.CUSTOMER),
        ("1-1000", True, 2250, Speaker.CUSTOMER),
        ("0-2250", True, 3000, Speaker.AGENT),
    ]
    assert out[0].revision < out[1].revision < out[2].revision
    shorter_final = segments(parser.parse(deepgram("another big", 1.0, 0.75, True, [1, 2]), "d", 0))[0]
    assert shorter_final.revision > out[1].revision  # a final that dropped a word still wins
    metadata = {"type": "Metadata", "request_id": "req-1", "duration": 3.0, "channels": 2}
    assert parser.parse(metadata, "d", 77) == [CallEnded("d", 77, "completed")]


def test_deepgram_mono_uses_diarized_speakers_or_nobody() -> None:
    parser = parser_for("deepgram", ChannelRoles(agent=1, customer=0))
    diarized = segments(parser.parse(deepgram("hi how are you", 0, 1, True, speaker=1), "d", 0))
    plain = segments(parser.parse(deepgram("hello", 1, 1, True), "d", 0))
    assert [diarized[0].speaker, plain[0].speaker] == [Speaker.AGENT, Speaker.OTHER]


def test_deepgram_skips_silence_and_refuses_unknown_messages() -> None:
    parser = parser_for("deepgram", ROLES)
    assert parser.parse(deepgram("", 0, 1, True), "d", 0) == []
    assert parser.parse({"type": "SpeechStarted", "channel": [0], "timestamp": 1.0}, "d", 0) == []
    with pytest.raises(InvalidEventError, match="message type 'Transcript' is not Results"):
        parser.parse({"type": "Transcript"}, "d", 0)
    with pytest.raises(InvalidEventError, match=r"Results.start is -1.0 < 0") as negative:
        parser.parse(deepgram("x", -1.0, 1, True), "d", 0)
    assert negative.value.reason is InvalidReason.NEGATIVE_TIME


# Whisper-style segments -------------------------------------------------------------------


def test_whisper_segments_are_final_with_diarized_speakers() -> None:
    parser = parser_for("whisper", ROLES)
    document = {
        "text": " Hello, this is Sam. Hi Sam.",
        "language": "en",
        "segments": [
            {
                "id": 0,
                "seek": 0,
                "start": 0.0,
                "end": 1.52,
                "text": " Hello, this is Sam.",
                "speaker": "SPEAKER_00",
            },
            {"id": 1, "seek": 0, "start": 1.8, "end": 2.4, "text": " Hi Sam.", "speaker": "SPEAKER_01"},
            {"id": 2, "seek": 0, "start": 2.4, "end": 2.5, "text": " "},
            {"id": 3, "seek": 0, "start": 2.6, "end": 3.0, "text": "Okay.", "speaker": "CUSTOMER"},
            {"id": 4, "seek": 0, "start": 3.0, "end": 3.5, "text": "Hmm."},
        ],
    }
    out = segments(parser.parse(document, "w", 0))
    assert [(s.segment_id, s.speaker, s.start_ms, s.end_ms, s.text, s.is_final) for s in out] == [
        ("0", Speaker.AGENT, 0, 1520, "Hello, this is Sam.", True),
        ("1", Speaker.CUSTOMER, 1800, 2400, "Hi Sam.", True),
        ("3", Speaker.CUSTOMER, 2600, 3000, "Okay.", True),
        ("4", Speaker.OTHER, 3000, 3500, "Hmm.", True),
    ]
    assert out[0].revision == revision(1520, True)


def test_whisper_refuses_a_document_without_segments_or_a_strange_speaker() -> None:
    parser = parser_for("whisper", ROLES)
    with pytest.raises(InvalidEventError, match="whisper: document has no segments"):
        parser.parse({"text": "hello"}, "w", 0)
    with pytest.raises(InvalidEventError, match="speaker is 'the boss'"):
        parser.parse(
            {"segments": [{"id": 0, "start": 0, "end": 1, "text": "hi", "speaker": "the boss"}]}, "w", 0
        )


# Files and replay ---------------------------------------------------------------------------


def test_a_jsonl_file_is_one_call_with_a_start_and_an_end(tmp_path: Path) -> None:
    path = tmp_path / "call-77.jsonl"
    lines = [
        deepgram("hello there", 0, 1, False, [0, 2]),
        deepgram("hello there", 0, 1.2, True, [0, 2]),
        deepgram("hi", 1.5, 0.5, True, [1, 2]),
    ]
    path.write_text("# recorded from a test stream\n" + "\n".join(json.dumps(m) for m in lines) + "\n")
    [recording] = read_vendor(path, "deepgram")
    assert recording.call_id == "call-77"
    kinds = [type(t.event).__name__ for t in recording.events]
    assert kinds == [
        "CallStarted",
        "TranscriptSegment",
        "TranscriptSegment",
        "TranscriptSegment",
        "CallEnded",
    ]
    assert [s.is_final for s in recording.segments] == [False, True, True]


def test_a_json_document_of_messages_and_a_folder_of_calls(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([transcribe_result("r1", 0, 1, "hi", False)]))
    (tmp_path / "b.json").write_text(json.dumps(transcribe_result("r1", 0, 1, "hello", False)))
    (tmp_path / "notes.txt").write_text("not a call")
    recordings = read_vendor(tmp_path, "transcribe", call_id=None)
    assert [(r.call_id, [s.text for s in r.segments]) for r in recordings] == [
        ("a", ["hi"]),
        ("b", ["hello"]),
    ]


def test_a_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(deepgram("hi", 0, 1, True)) + "\n{not json\n")
    with pytest.raises(InvalidEventError) as error:
        read_vendor(path, "deepgram")
    assert error.value.reason is InvalidReason.INVALID_JSON
    assert error.value.detail.startswith(f"{path}:2: not JSON")


def test_replay_refuses_a_malformed_vendor_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    bad = {"type": "Results", "start": 0}
    path.write_text(json.dumps(deepgram("hi", 0, 1, True)) + "\n" + json.dumps(bad))
    result = CliRunner().invoke(main, ["replay", str(path), "--format", "deepgram", "--max-speed"])
    assert result.exit_code == 2
    assert f"{path}:2: deepgram: Results has no duration (missing_field)" in result.output
    assert "Traceback" not in result.output


def test_score_reads_vendor_output(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(
        json.dumps(
            {
                "segments": [
                    {
                        "id": 0,
                        "start": 0,
                        "end": 2,
                        "text": "How can I help you today?",
                        "speaker": "SPEAKER_00",
                    },
                    {
                        "id": 1,
                        "start": 2,
                        "end": 5,
                        "text": "My card was declined twice.",
                        "speaker": "SPEAKER_01",
                    },
                ]
            }
        )
    )
    result = CliRunner().invoke(main, ["score", str(path), "--format", "whisper", "--json"])
    assert result.exit_code == 0, result.output
    [scored] = json.loads(result.output)
    assert scored["call_id"] == "w"
    swap = ["--call-id", "x-1", "--agent-channel", "1", "--customer-channel", "0"]
    swapped = CliRunner().invoke(main, ["score", str(path), "--format", "whisper", "--json", *swap])
    [other] = json.loads(swapped.output)
    assert other["call_id"] == "x-1"
    ratio = scored["windows"]["call"]["agent_talk_ratio"]
    assert other["windows"]["call"]["agent_talk_ratio"] == pytest.approx(1 - ratio)  # roles swapped sides
