"""The one translation of callfocus' Kafka connection into the options of each Kafka client it uses.

kafka-python (the topics admin, the replay producer), aiokafka (the console's reader) and
Faust (the worker) name the same connection differently: a bootstrap list or broker URLs,
a CA file path or an SSL context, keywords or a credentials object.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from streams.settings import KafkaConnection

if TYPE_CHECKING:
    import faust


def ssl_context(kafka: KafkaConnection) -> ssl.SSLContext | None:
    """A context that verifies the brokers against the CA file (else the system CAs), or
    none without TLS."""
    if not kafka.uses_tls:
        return None
    cafile = str(kafka.ssl_cafile) if kafka.ssl_cafile else None
    return ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH, cafile=cafile)


def _sasl_password(kafka: KafkaConnection) -> str | None:
    return kafka.sasl_password.get_secret_value() if kafka.sasl_password else None


def _security_keywords(kafka: KafkaConnection) -> dict[str, Any]:
    """The keywords kafka-python and aiokafka share."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.uses_sasl:
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = _sasl_password(kafka)
    return options


def kafka_python_options(kafka: KafkaConnection) -> dict[str, Any]:
    """Keywords of kafka-python's ``KafkaAdminClient``, ``KafkaProducer`` and ``KafkaConsumer``:
    the CA file goes as a path, which kafka-python loads itself."""
    options = _security_keywords(kafka)
    if kafka.uses_tls and kafka.ssl_cafile is not None:
        options["ssl_cafile"] = str(kafka.ssl_cafile)
    return options


def aiokafka_options(kafka: KafkaConnection) -> dict[str, Any]:
    """Keywords of aiokafka's consumer, producer and admin client: aiokafka takes no CA
    path, only an SSL context."""
    options = _security_keywords(kafka)
    context = ssl_context(kafka)
    if context is not None:
        options["ssl_context"] = context
    return options


def faust_broker_urls(kafka: KafkaConnection) -> list[str]:
    """Faust's ``broker`` setting: one ``kafka://`` URL per bootstrap server."""
    return [f"kafka://{host.strip()}" for host in kafka.bootstrap.split(",") if host.strip()]


def faust_credentials(kafka: KafkaConnection) -> faust.auth.Credentials | None:
    """Faust's ``broker_credentials``: SASL (over TLS or not), TLS alone, or none."""
    import faust  # only the worker needs Faust: the tools import this module without it

    context = ssl_context(kafka)
    if kafka.uses_sasl:
        return faust.SASLCredentials(
            username=kafka.sasl_username or "",
            password=_sasl_password(kafka) or "",
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
