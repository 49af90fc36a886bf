"""The ACLs of docs/kafka-providers.md suffice, on a real Kafka with SCRAM and an authorizer.

A KRaft broker of its own (the jars of deploy/local/kafka.sh) with a SASL_PLAINTEXT/SCRAM
listener, ``StandardAuthorizer`` and ``allow.everyone.if.no.acl.found=false``: a user
gets only what its ACLs allow. The user with exactly the doc's ACLs creates the topics
(``callfocus topics``), runs an exactly-once worker that turns input into committed
metrics and serves them in the console; the same ACLs without those of Faust's assignment
topic, or without only its Create when the topic exists, stop the worker at start.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    NewTopic,
    ResourcePattern,
    ResourceType,
)
from pydantic import SecretStr

from streams.kafka_clients import aiokafka_options, kafka_python_options
from streams.settings import KafkaConnection, SaslMechanism
from tests.conftest import ROOT, free_port
from tests.deploy.test_provider_recipes import APP_ID, PREFIX, Acls, doc_acl_table
from tests.integration.worker import WorkerProcess, eventually

LOCAL = ROOT / "deploy" / "local"
MECHANISM: SaslMechanism = "SCRAM-SHA-512"
ADMIN = ("admin", "admin-secret")
# one SCRAM user per test: ACLs belong to a principal
# any base64 UUID (a random one may start with "-", which the tool takes for an option)
CLUSTER_ID = "q1Sh-9_ISia_zwGINzRvyQ"
USERS = {
    "callfocus": "callfocus-secret",
    "no-leader": "no-leader-secret",
    "no-leader-create": "no-leader-create-secret",
}


@dataclass(frozen=True)
class ScramKafka:
    bootstrap: str

    def connection(self, user: str, password: str) -> KafkaConnection:
        return KafkaConnection(
            bootstrap=self.bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=MECHANISM,
            sasl_username=user,
            sasl_password=SecretStr(password),
            ssl_cafile=None,
        )

    def options(self, user: str, password: str) -> dict[str, Any]:
        """kafka-python's options for ``user``, from callfocus' own translation."""
        return kafka_python_options(self.connection(user, password))

    def admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(**self.options(*ADMIN))


def kafka_lib() -> Path:
    version = re.search(r"<kafka.version>(.+)</kafka.version>", (LOCAL / "pom.xml").read_text())
    assert version
    cache = Path(os.environ.get("CALLFOCUS_LOCAL_KAFKA_CACHE", LOCAL / ".cache"))
    lib = cache / f"kafka-{version.group(1)}" / "lib"
    assert (lib / ".complete").is_file(), f"no Kafka jars in {lib}: run `make kafka-fetch`"
    return lib


def server_properties(data: Path, port: int, controller_port: int) -> str:
    admin_login = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN[0]}" password="{ADMIN[1]}";'
    )
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms={MECHANISM}
sasl.mechanism.inter.broker.protocol={MECHANISM}
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={admin_login}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
# the controller listener is unauthenticated: only the broker itself talks to it
super.users=User:{ADMIN[0]};User:ANONYMOUS
allow.everyone.if.no.acl.found=false
auto.create.topics.enable=false
log.dirs={data}/kraft
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""


@pytest.fixture(scope="module")
def scram_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScramKafka]:
    data = tmp_path_factory.mktemp("scram-kafka")
    port, controller_port = free_port(), free_port()
    config = data / "server.properties"
    config.write_text(server_properties(data, port, controller_port))
    java = [
        "java",
        "-Xmx512m",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1",  # a short-lived broker: start fast rather than run fast
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOCAL / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={data / 'logs'}",
        "-cp",
        f"{kafka_lib()}/*",
    ]
    # KRaft stores SCRAM credentials in its metadata: the users exist from the first start
    scram = [f"{MECHANISM}=[name={name},password={pw}]" for name, pw in [ADMIN, *USERS.items()]]
    subprocess.run(
        [
            *java,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            CLUSTER_ID,
            "--config",
            str(config),
            *[arg for credential in scram for arg in ("--add-scram", credential)],
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    log = (data / "stdout.log").open("wb")
    broker = subprocess.Popen(
        [*java, "kafka.Kafka", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    kafka = ScramKafka(f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert broker.poll() is None, f"broker exited; see {data / 'logs'}"
            try:
                admin = kafka.admin()
                admin.close()
                break
            except Exception:
                assert time.monotonic() < deadline, "SCRAM broker not ready within 60 s"
                time.sleep(0.3)
        yield kafka
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        log.close()


def test_aiokafka_clients_authenticate_with_callfocus_options(scram_kafka: ScramKafka, unique: str) -> None:
    """The console's aiokafka reader gets its SASL options from the same translation."""
    from aiokafka import AIOKafkaConsumer

    topic = f"{unique}.call-metrics"
    admin = scram_kafka.admin()
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()

    async def topics() -> set[str]:
        consumer = AIOKafkaConsumer(**aiokafka_options(scram_kafka.connection(*ADMIN)))
        await consumer.start()
        try:
            return set(await consumer.topics())
        finally:
            await consumer.stop()

    assert topic in asyncio.run(topics())


JAVA_NAMES = {"IdempotentWrite": "IDEMPOTENT_WRITE"}


def grant(kafka: ScramKafka, user: str, table: Acls, prefix: str, app_id: str) -> None:
    """Create the table's ACLs for ``user``, with the test's prefix and app id."""
    acls = []
    for (kind, pattern, name), operations in table.items():
        resource = ResourcePattern(
            ResourceType[{"TransactionalId": "TRANSACTIONAL_ID"}.get(kind, kind.upper())],
            name.replace(PREFIX, prefix).replace(APP_ID, app_id),
            ACLResourcePatternType[pattern.upper()],
        )
        for operation in operations:
            acls.append(
                ACL(
                    f"User:{user}",
                    "*",
                    ACLOperation[JAVA_NAMES.get(operation, operation.upper())],
                    ACLPermissionType.ALLOW,
                    resource,
                )
            )
    admin = kafka.admin()
    try:
        result = admin.create_acls(acls)
    finally:
        admin.close()
    assert not result["failed"], result["failed"]
    assert len(result["succeeded"]) == sum(len(ops) for ops in table.values())


def callfocus_env(kafka: ScramKafka, user: str, name: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLFOCUS_")}
    env.update(
        CALLFOCUS_KAFKA_BOOTSTRAP=kafka.bootstrap,
        CALLFOCUS_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        CALLFOCUS_KAFKA_SASL_MECHANISM=MECHANISM,
        CALLFOCUS_KAFKA_SASL_USERNAME=user,
        CALLFOCUS_KAFKA_SASL_PASSWORD=USERS[user],
        CALLFOCUS_TOPIC_PREFIX=name,
        CALLFOCUS_APP_ID=name,
        CALLFOCUS_TOPIC_PARTITIONS="2",
        CALLFOCUS_PROCESSING_GUARANTEE="exactly_once",
        CALLFOCUS_COMMIT_INTERVAL_SECONDS="0.5",
        CALLFOCUS_DATA_DIR=str(tmp_path / "worker"),
        CALLFOCUS_WEB_PORT=str(free_port()),
        CALLFOCUS_STORE="memory",
    )
    return env


def create_topics(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "topics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_the_documented_acls_let_callfocus_create_process_commit_and_read(
    scram_kafka: ScramKafka, unique: str, tmp_path: Path
) -> None:
    grant(scram_kafka, "callfocus", doc_acl_table(), prefix=unique, app_id=unique)
    env = callfocus_env(scram_kafka, "callfocus", unique, tmp_path)
    create_topics(env)  # the topics job, as the callfocus user
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.wait_ready(timeout=60)
        # the input comes from another client (here the admin): the worker only reads it
        producer = KafkaProducer(**scram_kafka.options(*ADMIN))
        producer.send(
            f"{unique}.call-events", key=b"c1", value=b'{"type":"CallStarted","call_id":"c1","started_at":1}'
        )
        producer.send(
            f"{unique}.call-events",
            key=b"c1",
            value=b'{"type":"TranscriptSegment","call_id":"c1","segment_id":"s1","speaker":"AGENT",'
            b'"start_ms":0,"end_ms":2000,"text":"how is your team doing"}',
        )
        producer.send(f"{unique}.call-events", key=b"c1", value=b"not an event")
        producer.flush()
        producer.close()

        # outputs and the dead letter, committed by the worker's transactions
        def committed(topic: str) -> int:
            consumer = KafkaConsumer(
                isolation_level="read_committed",
                **scram_kafka.options(*ADMIN),
            )
            try:
                partitions = [TopicPartition(topic, p) for p in (0, 1)]
                consumer.assign(partitions)
                consumer.seek_to_beginning()
                return sum(len(batch) for batch in consumer.poll(timeout_ms=1000).values())
            finally:
                consumer.close()

        eventually(lambda: committed(f"{unique}.call-metrics"), timeout=20)
        eventually(lambda: committed(f"{unique}.call-events.dlq"), timeout=20)
        # the call state went to the changelog, and the console reads call-metrics and nudges
        eventually(lambda: committed(f"{unique}-call-state-changelog"), timeout=20)
        status, body = worker.get("/api/calls")
        assert status == 200, body
        assert [call["call_id"] for call in json.loads(body)] == ["c1"]
        assert worker.proc.poll() is None
        log = worker.log_path.read_text(errors="replace")
        assert "AuthorizationFailed" not in log
    finally:
        worker.stop()


LEADER = ("Topic", "literal", f"{APP_ID}-__assignor-__leader")


def assert_worker_fails_on_the_assignment_topic(env: dict[str, str], unique: str, tmp_path: Path) -> None:
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.proc.wait(timeout=60)
    finally:
        worker.stop()
    assert worker.proc.returncode != 0
    log = worker.log_path.read_text(errors="replace")
    assert f"TopicAuthorizationFailedError: Cannot create topic: {unique}-__assignor-__leader" in log


def test_without_the_assignment_topics_acls_the_worker_cannot_start(
    scram_kafka: ScramKafka, unique: str, tmp_path: Path
) -> None:
    table = doc_acl_table()
    del table[LEADER]
    grant(scram_kafka, "no-leader", table, prefix=unique, app_id=unique)
    env = callfocus_env(scram_kafka, "no-leader", unique, tmp_path)
    create_topics(env)  # the job does not need it
    assert_worker_fails_on_the_assignment_topic(env, unique, tmp_path)


def test_the_assignment_topic_needs_create_even_when_it_exists(
    scram_kafka: ScramKafka, unique: str, tmp_path: Path
) -> None:
    table = doc_acl_table()
    assert "Create" in table[LEADER]
    table[LEADER] = table[LEADER] - {"Create"}
    grant(scram_kafka, "no-leader-create", table, prefix=unique, app_id=unique)
    admin = scram_kafka.admin()
    try:
        admin.create_topics([NewTopic(f"{unique}-__assignor-__leader", 1, 1)])
    finally:
        admin.close()
    env = callfocus_env(scram_kafka, "no-leader-create", unique, tmp_path)
    create_topics(env)
    assert_worker_fails_on_the_assignment_topic(env, unique, tmp_path)
