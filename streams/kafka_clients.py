"""The one translation of callfocus' Kafka connection into the options of each Kafka client it
uses, and the probe that says in one line why that connection cannot be used.

kafka-python (the topics admin, the replay producer), aiokafka (the console's reader) and
Faust (the worker) name the same connection differently: a bootstrap list or broker URLs,
a CA file path or an SSL context, keywords or a credentials object.

The Kafka clients callfocus uses retry for 30 s or for ever when a broker is unreachable,
refuses the password or presents a certificate the CA file did not sign, and then say
"Unable to bootstrap" at best. :func:`probe` speaks just enough of the Kafka protocol, with
the standard library, to tell those apart within a timeout: a TCP connection to each
bootstrap server, the TLS handshake with the context the clients use (:func:`ssl_context`),
an ``ApiVersions`` request (does a Kafka broker answer in this protocol?), then, for SASL,
``SaslHandshake`` and ``SaslAuthenticate`` with PLAIN or SCRAM (RFC 5802; Kafka's framing:
KIP-43, KIP-152). What is pure (framing, SCRAM's proofs) is apart from the socket I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from streams.settings import ENV_PREFIX, KafkaConnection

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


# -- Can callfocus use Kafka? ---------------------------------------------------------------
API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
# Kafka's error codes that the SASL exchange can answer with
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58
CLIENT_ID = "callfocus-probe"
SCRAM_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


def setting(name: str) -> str:
    """The environment variable of a Kafka setting, as the hints name it."""
    return f"{ENV_PREFIX}KAFKA_{name.upper()}"


class ProblemKind(StrEnum):
    """What kept callfocus from Kafka: the first thing to fix."""

    UNREACHABLE = "unreachable"  # nothing answered (refused, timed out, no such host)
    TLS_UNTRUSTED = "tls_untrusted"  # the broker's certificate did not verify
    TLS_FAILED = "tls_failed"  # no TLS handshake: likely not a TLS listener
    NOT_KAFKA = "not_kafka"  # something answered, but not Kafka in this security protocol
    SASL_MECHANISM = "sasl_mechanism"  # the broker does not offer the mechanism
    AUTHENTICATION = "authentication"  # the broker refused the user or password
    CA_FILE = "ca_file"  # the CA file setting names no readable PEM file: the user's mistake


class KafkaUnavailableError(Exception):
    """callfocus could not reach Kafka or Kafka refused it; ``str()`` is one line with the
    setting to check. The CLI prints it and exits with status 3."""

    def __init__(self, kind: ProblemKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# -- Framing (pure) ------------------------------------------------------------------------
def request_frame(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    """A size-prefixed request with header v1 (api key, version, correlation id, client id)."""
    client = CLIENT_ID.encode()
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client
    return struct.pack(">i", len(header) + len(body)) + header + body


def kafka_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def kafka_bytes(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


class Reader:
    """Reads Kafka's primitive types from a response body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def _take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise ValueError("response shorter than its fields")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def int16(self) -> int:
        return int(struct.unpack(">h", self._take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self._take(4))[0])

    def string(self) -> str | None:
        size = self.int16()
        return None if size < 0 else self._take(size).decode(errors="replace")

    def bytes(self) -> bytes:
        size = self.int32()
        return b"" if size < 0 else self._take(size)


# -- SCRAM (pure) --------------------------------------------------------------------------
def scram_name(user: str) -> str:
    """RFC 5802's saslname: "=" and "," escaped."""
    return user.replace("=", "=3D").replace(",", "=2C")


@dataclass(frozen=True)
class ScramFinal:
    message: str  # the client-final-message
    server_signature: bytes  # what an honest server's final message proves


def scram_client_first_bare(user: str, nonce: str) -> str:
    return f"n={scram_name(user)},r={nonce}"


def scram_client_final(
    hash_name: str, password: str, client_first_bare: str, server_first: str, nonce: str
) -> ScramFinal:
    """The client's proof for ``server_first`` (RFC 5802 section 3)."""
    attributes = dict(part.split("=", 1) for part in server_first.split(",") if "=" in part)
    combined = attributes.get("r", "")
    if not combined.startswith(nonce) or "s" not in attributes or "i" not in attributes:
        raise ValueError(f"not a SCRAM server-first message: {server_first[:80]!r}")
    salted = hashlib.pbkdf2_hmac(
        hash_name, password.encode(), base64.b64decode(attributes["s"]), int(attributes["i"])
    )

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hash_name).digest()

    client_key = mac(salted, "Client Key")
    without_proof = f"c=biws,r={combined}"  # biws: base64 of "n,,", no channel binding
    auth_message = f"{client_first_bare},{server_first},{without_proof}"
    signature = mac(hashlib.new(hash_name, client_key).digest(), auth_message)
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return ScramFinal(
        f"{without_proof},p={base64.b64encode(proof).decode()}",
        mac(mac(salted, "Server Key"), auth_message),
    )


# -- The conversation (I/O) ----------------------------------------------------------------
class _Silent(Exception):
    """The peer closed the connection or did not answer in time."""


class _Conversation:
    """Requests and responses on one connection, every wait bounded by ``deadline``."""

    def __init__(self, sock: socket.socket, deadline: float, clock: Callable[[], float]) -> None:
        self.sock = sock
        self.deadline = deadline
        self.clock = clock
        self.correlation_id = 0

    def _receive(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            self.sock.settimeout(max(0.01, self.deadline - self.clock()))
            try:
                chunk = self.sock.recv(size - len(data))
            except TimeoutError:
                raise  # a peer that accepts and never answers: nothing answered
            except OSError as error:
                raise _Silent(str(error) or type(error).__name__) from error
            if not chunk:
                raise _Silent("connection closed")
            data += chunk
        return data

    def request(self, api_key: int, version: int, body: bytes) -> Reader:
        self.correlation_id += 1
        self.sock.settimeout(max(0.01, self.deadline - self.clock()))
        try:
            self.sock.sendall(request_frame(api_key, version, self.correlation_id, body))
        except OSError as error:
            raise _Silent(str(error)) from error
        head = self._receive(4)
        if head[0] in (0x15, 0x16):  # a TLS record (alert, handshake) where a size should be
            raise _Silent("the listener speaks TLS")
        (size,) = struct.unpack(">i", head)
        if not 4 <= size <= 1 << 20:  # e.g. an HTTP answer read as a Kafka size
            raise _Silent(f"not a Kafka response (size {size})")
        response = Reader(self._receive(size))
        if response.int32() != self.correlation_id:
            raise _Silent("a response to another request")
        return response


def _host_port(server: str) -> tuple[str, int]:
    host, sep, port = server.strip().rpartition(":")
    if not sep or not port.isdigit():
        return server.strip().strip("[]"), 9092
    return host.strip("[]"), int(port)


def _authenticate(talk: _Conversation, kafka: KafkaConnection, server: str) -> None:
    mechanism = kafka.sasl_mechanism
    handshake = talk.request(SASL_HANDSHAKE, 1, kafka_string(mechanism))
    error = handshake.int16()
    offered = [handshake.string() or "" for _ in range(max(0, handshake.int32()))]
    if error == UNSUPPORTED_SASL_MECHANISM:
        raise KafkaUnavailableError(
            ProblemKind.SASL_MECHANISM,
            f"the Kafka broker at {server} does not offer SASL mechanism {mechanism} "
            f"(it offers {', '.join(offered) or 'none'}): check {setting('sasl_mechanism')}",
        )
    if error != 0:
        raise KafkaUnavailableError(
            ProblemKind.NOT_KAFKA,
            f"the Kafka listener at {server} refused a SASL handshake (error {error}): "
            f"check {setting('security_protocol')}={kafka.security_protocol}",
        )
    user = kafka.sasl_username or ""
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    refused = KafkaUnavailableError(
        ProblemKind.AUTHENTICATION,
        f"Kafka authentication failed for user {user!r} with {mechanism} at {server}: check "
        f"{setting('sasl_username')}, {setting('sasl_password')} and {setting('sasl_mechanism')}",
    )

    def step(payload: bytes) -> bytes:
        answer = talk.request(SASL_AUTHENTICATE, 1, kafka_bytes(payload))
        code, _message, data = answer.int16(), answer.string(), answer.bytes()
        if code == SASL_AUTHENTICATION_FAILED:
            raise refused
        if code != 0:
            raise KafkaUnavailableError(
                ProblemKind.AUTHENTICATION, f"{refused.message} (broker error {code}: {_message})"
            )
        return data

    if mechanism == "PLAIN":
        step(b"\0" + user.encode() + b"\0" + password.encode())
        return
    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    first_bare = scram_client_first_bare(user, nonce)
    server_first = step(f"n,,{first_bare}".encode()).decode(errors="replace")
    try:
        final = scram_client_final(SCRAM_HASHES[mechanism], password, first_bare, server_first, nonce)
    except ValueError as error:
        raise KafkaUnavailableError(ProblemKind.NOT_KAFKA, f"{server}: {error}") from None
    server_final = step(final.message.encode()).decode(errors="replace")
    if server_final != f"v={base64.b64encode(final.server_signature).decode()}":
        raise KafkaUnavailableError(
            ProblemKind.AUTHENTICATION,
            f"the Kafka broker at {server} did not prove it knows {user!r}'s SCRAM credentials",
        )


def _talk_to(server: str, kafka: KafkaConnection, deadline: float, clock: Callable[[], float]) -> None:
    """Connect, TLS, ApiVersions, SASL with one bootstrap server; raises what went wrong
    (``OSError`` / ``_Silent`` when nothing usable answered)."""
    host, port = _host_port(server)
    try:
        context = ssl_context(kafka)
    except (OSError, ssl.SSLError) as error:
        raise KafkaUnavailableError(
            ProblemKind.CA_FILE,
            f"cannot read the CA file {setting('ssl_cafile')}={kafka.ssl_cafile} "
            f"({getattr(error, 'strerror', None) or error})",
        ) from None
    sock = socket.create_connection((host, port), timeout=max(0.01, deadline - clock()))
    try:
        if context is not None:
            sock.settimeout(max(0.01, deadline - clock()))
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except TimeoutError:
                raise  # no TLS answer in time: nothing answered
            except ssl.SSLCertVerificationError as error:
                cafile = str(kafka.ssl_cafile) if kafka.ssl_cafile else "unset: the system CAs"
                raise KafkaUnavailableError(
                    ProblemKind.TLS_UNTRUSTED,
                    f"TLS certificate of the Kafka broker at {server} not trusted "
                    f"({error.verify_message}): set {setting('ssl_cafile')} to the CA that signed "
                    f"it (now {cafile})",
                ) from None
            except (ssl.SSLError, OSError) as error:
                raise KafkaUnavailableError(
                    ProblemKind.TLS_FAILED,
                    f"no TLS handshake with {server} ({getattr(error, 'reason', None) or error}): is it "
                    f"a TLS listener? check {setting('security_protocol')}={kafka.security_protocol}",
                ) from None
        talk = _Conversation(sock, deadline, clock)
        try:
            versions = talk.request(API_VERSIONS, 0, b"")
        except _Silent as error:
            listener = "TLS" if context is not None else "plaintext"
            raise KafkaUnavailableError(
                ProblemKind.NOT_KAFKA,
                f"no Kafka answer from {server} over {listener} ({error}): check "
                f"{setting('security_protocol')}={kafka.security_protocol} and {setting('bootstrap')}",
            ) from None
        if versions.int16() != 0:
            raise KafkaUnavailableError(ProblemKind.NOT_KAFKA, f"{server} refused ApiVersions")
        if kafka.uses_sasl:
            try:
                _authenticate(talk, kafka, server)
            except _Silent as error:
                raise KafkaUnavailableError(
                    ProblemKind.NOT_KAFKA,
                    f"the Kafka broker at {server} closed the SASL exchange ({error}): check "
                    f"{setting('security_protocol')}={kafka.security_protocol} and "
                    f"{setting('sasl_mechanism')}",
                ) from None
    finally:
        sock.close()


def probe(kafka: KafkaConnection, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
    """Raise :class:`KafkaUnavailableError` unless a bootstrap server answers as Kafka and
    accepts the credentials within ``timeout_s``. The first server that does is enough; a
    refused login or certificate is reported at once (the cluster shares them)."""
    deadline = clock() + timeout_s
    servers = [s for s in kafka.bootstrap.split(",") if s.strip()]
    silent: list[str] = []
    for server in servers:
        if clock() >= deadline:
            silent.append(f"{server.strip()}: no time left")
            continue
        try:
            _talk_to(server.strip(), kafka, deadline, clock)
            return
        except OSError as error:  # refused, timed out, no such host
            reason = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
            silent.append(f"{server.strip()}: {reason}" if len(servers) > 1 else str(reason))
    raise KafkaUnavailableError(
        ProblemKind.UNREACHABLE,
        f"nothing answered at {kafka.bootstrap} within {timeout_s:g} s ({'; '.join(silent)}): "
        f"set {setting('bootstrap')} to your Kafka brokers",
    )


def broker_problem(connection: KafkaConnection, timeout_s: float) -> str | None:
    """Why callfocus cannot use the Kafka of ``connection`` (nothing answers within
    ``timeout_s``, the TLS certificate is not trusted, the login is refused ...), in one line
    naming the setting to check; None when a broker answered and accepted the login."""
    try:
        probe(connection, timeout_s)
    except KafkaUnavailableError as error:
        return error.message
    return None


def require_broker(connection: KafkaConnection) -> None:
    """Raise :class:`KafkaUnavailableError` (exit status 3 in the CLI) unless Kafka answers
    within ``connection.connect_timeout_seconds``: before a client that would retry for
    30 s, or for ever, and then fail with a traceback."""
    probe(connection, connection.connect_timeout_seconds)
