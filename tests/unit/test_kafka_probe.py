"""The probe's pure parts: SCRAM's proofs (RFC 7677's example) and Kafka's request framing.

The conversation with a real broker (refused login, untrusted certificate, nothing
listening) is tested in tests/integration/test_kafka_sasl_ssl.py.
"""

from __future__ import annotations

import base64
import struct

import pytest

from streams.kafka_clients import (
    Reader,
    kafka_bytes,
    kafka_string,
    request_frame,
    scram_client_final,
    scram_client_first_bare,
    scram_name,
)


def test_scram_sha_256_matches_the_rfc_7677_example() -> None:
    nonce = "rOprNGfwEbeRWgbNEkqO"
    first_bare = scram_client_first_bare("user", nonce)
    server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    final = scram_client_final("sha256", "pencil", first_bare, server_first, nonce)
    assert first_bare == "n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert final.message == (
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert base64.b64encode(final.server_signature).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_a_server_nonce_that_does_not_extend_ours_is_refused() -> None:
    with pytest.raises(ValueError, match="not a SCRAM server-first message"):
        scram_client_final("sha512", "pw", "n=u,r=abc", "r=xyz123,s=AAAA,i=4096", "abc")


def test_scram_names_escape_equals_and_comma() -> None:
    assert scram_name("a=b,c") == "a=3Db=2Cc"


def test_a_request_frame_is_size_header_v1_and_body() -> None:
    frame = request_frame(17, 1, 7, kafka_string("SCRAM-SHA-512"))
    (size,) = struct.unpack(">i", frame[:4])
    assert size == len(frame) - 4
    api_key, version, correlation, client_length = struct.unpack(">hhih", frame[4:14])
    assert (api_key, version, correlation) == (17, 1, 7)
    assert frame[14 : 14 + client_length] == b"callfocus-probe"
    body = Reader(frame[14 + client_length :])
    assert body.string() == "SCRAM-SHA-512"


def test_the_reader_reads_what_the_writers_write_and_refuses_short_data() -> None:
    reader = Reader(struct.pack(">h", 58) + struct.pack(">h", -1) + kafka_bytes(b"v=xyz"))
    assert reader.int16() == 58
    assert reader.string() is None
    assert reader.bytes() == b"v=xyz"
    with pytest.raises(ValueError):
        reader.int32()
