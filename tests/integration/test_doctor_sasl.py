"""`callfocus doctor` on a broker with SCRAM and an authorizer (the broker of test_kafka_acls):
the documented ACLs, then a wrong password."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_doctor import doctor
from tests.integration.test_kafka_acls import (  # noqa: F401 (scram_kafka: the module's broker fixture)
    USERS,
    ScramKafka,
    callfocus_env,
    create_topics,
    doc_acl_table,
    grant,
    scram_kafka,
)


def test_doctor_with_the_documented_acls_and_with_a_wrong_password(
    scram_kafka: ScramKafka,  # noqa: F811 (the fixture imported above)
    unique: str,
    tmp_path: Path,
) -> None:
    grant(scram_kafka, "callfocus", doc_acl_table(), prefix=unique, app_id=unique)
    env = callfocus_env(scram_kafka, "callfocus", unique, tmp_path)
    create_topics(env)
    status, checks, table = doctor(env)
    print(table)
    assert status == 0, table
    assert " answered over SASL_PLAINTEXT in " in checks["broker"]["detail"]
    # the documented ACLs have no DescribeConfigs: partitions are checked, configs said unread
    events = checks["topic call-events"]
    assert (events["status"], events["detail"]) == ("warn", "2 partitions, configs not readable")
    assert "DescribeConfigs" in events["fix"]

    wrong = {**env, "CALLFOCUS_KAFKA_SASL_PASSWORD": "not-" + USERS["callfocus"]}
    status, checks, table = doctor(wrong)
    print(table)
    assert status == 3, table
    assert "Kafka authentication failed for user 'callfocus' with SCRAM-SHA-512" in checks["broker"]["detail"]
