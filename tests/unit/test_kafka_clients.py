"""Each security protocol gives each Kafka client kind the options it needs, and no other."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest

from streams.kafka_clients import aiokafka_options, faust_broker_urls, faust_credentials, kafka_python_options
from streams.settings import KafkaConnection, Settings


@pytest.fixture(scope="module")
def cafile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA bundle ssl can load: the system's own, copied (no CA of our own to ship)."""
    paths = ssl.get_default_verify_paths()
    system = next((Path(p) for p in (paths.cafile, paths.openssl_cafile) if p and Path(p).is_file()), None)
    if system is None:  # no system bundle: certifi's (installed with the Kafka and HTTP clients)
        import certifi

        system = Path(certifi.where())
    copy = tmp_path_factory.mktemp("ca") / "ca.pem"
    copy.write_bytes(system.read_bytes())
    return copy


def connection(protocol: str, cafile: Path | None = None) -> KafkaConnection:
    return Settings(
        kafka_bootstrap="k1:9093, k2:9093",
        kafka_security_protocol=protocol,
        kafka_sasl_username="user",
        kafka_sasl_password="s3cret",
        kafka_ssl_cafile=cafile,
    ).kafka


SASL = {"sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "user", "sasl_plain_password": "s3cret"}


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        ("PLAINTEXT", {}),
        ("SSL", {"ssl_cafile": "CA"}),
        ("SASL_PLAINTEXT", SASL),
        ("SASL_SSL", {**SASL, "ssl_cafile": "CA"}),
    ],
)
def test_kafka_python_gets_the_ca_as_a_path(protocol: str, expected: dict[str, str], cafile: Path) -> None:
    options = kafka_python_options(connection(protocol, cafile))
    wanted = {k: str(cafile) if v == "CA" else v for k, v in expected.items()}
    assert options == {"bootstrap_servers": "k1:9093, k2:9093", "security_protocol": protocol, **wanted}


@pytest.mark.parametrize(
    ("protocol", "sasl", "tls"),
    [
        ("PLAINTEXT", False, False),
        ("SSL", False, True),
        ("SASL_PLAINTEXT", True, False),
        ("SASL_SSL", True, True),
    ],
)
def test_aiokafka_gets_an_ssl_context_and_no_ca_path(
    protocol: str, sasl: bool, tls: bool, cafile: Path
) -> None:
    options = aiokafka_options(connection(protocol, cafile))
    context = options.pop("ssl_context", None)
    expected = {
        "bootstrap_servers": "k1:9093, k2:9093",
        "security_protocol": protocol,
        **(SASL if sasl else {}),
    }
    assert options == expected  # aiokafka refuses an ssl_cafile keyword
    assert (context is not None) == tls
    if context is not None:
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0  # the CA file was loaded


def test_faust_gets_broker_urls_and_credentials_by_protocol(cafile: Path) -> None:
    assert faust_broker_urls(connection("PLAINTEXT")) == ["kafka://k1:9093", "kafka://k2:9093"]
    assert faust_credentials(connection("PLAINTEXT")) is None

    tls = faust_credentials(connection("SSL", cafile))
    assert isinstance(tls, faust.SSLCredentials)
    assert tls.context.verify_mode == ssl.CERT_REQUIRED

    for protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        sasl = faust_credentials(connection(protocol, cafile))
        assert isinstance(sasl, faust.SASLCredentials)
        assert (sasl.username, sasl.password, sasl.mechanism.value) == ("user", "s3cret", "SCRAM-SHA-512")
        assert (sasl.ssl_context is not None) == (protocol == "SASL_SSL")


def test_without_a_ca_file_tls_verifies_against_the_system_cas() -> None:
    kafka = connection("SSL")
    assert "ssl_cafile" not in kafka_python_options(kafka)
    assert aiokafka_options(kafka)["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_a_ca_file_without_tls_is_not_used(cafile: Path) -> None:
    kafka = connection("SASL_PLAINTEXT", cafile)
    assert "ssl_cafile" not in kafka_python_options(kafka)
    assert "ssl_context" not in aiokafka_options(kafka)
