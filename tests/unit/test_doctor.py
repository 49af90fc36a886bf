"""`callfocus doctor`'s checks, from facts to rows, without a broker or a Prometheus."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams.settings import TOPICS, Settings
from streams.tools.doctor import (
    EXIT_BROKER,
    EXIT_FAILED,
    EXIT_OK,
    FREE_FAIL_BYTES,
    Check,
    PrometheusFacts,
    Rule,
    SettingsAsFound,
    Target,
    TopicExpectations,
    TopicFacts,
    check_broker,
    check_lexicons,
    check_nudge_rules,
    check_prometheus,
    check_schemas,
    check_state_dir,
    check_topics,
    check_trackers,
    exit_status,
    render_json,
    render_table,
    sample_datum,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXPECTED = TopicExpectations(
    prefix="cf",
    partitions=4,
    replication=1,
    retention_ms={"call-metrics": 3_600_000},
    max_message_bytes=1_064_960,
    changelog="cf-app-call-state-changelog",
    scorecards_changelog="cf-app-scorecards-changelog",
)
HEALTHY = {"cleanup.policy": "delete", "retention.ms": "604800000", "max.message.bytes": "1064960"}


def healthy_topics() -> dict[str, TopicFacts | None]:
    found: dict[str, TopicFacts | None] = {
        EXPECTED.name(s): TopicFacts(4, 0, 1, dict(HEALTHY)) for s in TOPICS
    }
    found[EXPECTED.name("call-metrics")] = TopicFacts(4, 0, 1, {**HEALTHY, "retention.ms": "3600000"})
    found[EXPECTED.name("nudge-acks")] = TopicFacts(4, 0, 1, {**HEALTHY, "cleanup.policy": "compact"})
    found[EXPECTED.changelog] = TopicFacts(4, 0, 1, {**HEALTHY, "cleanup.policy": "compact"})
    found[EXPECTED.scorecards_changelog] = TopicFacts(4, 0, 1, {**HEALTHY, "cleanup.policy": "compact"})
    return found


def by_name(rows: list[Check]) -> dict[str, Check]:
    return {row.name: row for row in rows}


def test_healthy_topics_are_all_ok() -> None:
    rows = check_topics(EXPECTED, healthy_topics())
    assert [r.status for r in rows] == ["ok"] * (len(TOPICS) + 2)  # and the two changelogs
    assert rows[0].detail == "4 partitions, cleanup.policy=delete, retention.ms=604800000"


def test_nudge_acks_not_compacted_warns_with_the_fix() -> None:
    found = healthy_topics()
    found[EXPECTED.name("nudge-acks")] = TopicFacts(4, 0, 1, dict(HEALTHY))
    row = by_name(check_topics(EXPECTED, found))["topic nudge-acks"]
    assert row.status == "warn" and "not compacted" in row.detail
    assert row.fix is not None and "cleanup.policy=compact" in row.fix
    # compacted is what it should be: no warning about compaction keeping the last record
    assert by_name(check_topics(EXPECTED, healthy_topics()))["topic nudge-acks"].status == "ok"


def test_a_missing_topic_fails_and_says_to_run_topics() -> None:
    found = healthy_topics()
    found[EXPECTED.name("call-events.dlq")] = None
    row = by_name(check_topics(EXPECTED, found))["topic call-events.dlq (dead letters)"]
    assert (row.status, row.detail) == ("fail", "cf.call-events.dlq does not exist")
    assert row.fix is not None and "callfocus topics" in row.fix


def test_input_partitions_other_than_the_setting_fail() -> None:
    found = healthy_topics()
    found[EXPECTED.name("call-events")] = TopicFacts(3, 0, 1, dict(HEALTHY))
    row = by_name(check_topics(EXPECTED, found))["topic call-events"]
    assert row.status == "fail" and "CALLFOCUS_TOPIC_PARTITIONS is 4" in row.detail
    assert row.fix is not None and row.fix.startswith("set CALLFOCUS_TOPIC_PARTITIONS=3")


def test_output_topics_may_have_other_partition_counts() -> None:
    found = healthy_topics()
    found[EXPECTED.name("nudges")] = TopicFacts(1, 0, 1, dict(HEALTHY))
    assert by_name(check_topics(EXPECTED, found))["topic nudges"].status == "ok"


def test_a_changelog_not_co_partitioned_with_the_input_fails() -> None:
    found = healthy_topics()
    found[EXPECTED.changelog] = TopicFacts(8, 0, 1, {**HEALTHY, "cleanup.policy": "compact"})
    row = by_name(check_topics(EXPECTED, found))["topic state changelog"]
    assert row.status == "fail" and row.detail.endswith("call-events has 4")


def test_the_scorecards_changelog_is_checked_as_the_state_changelog_is() -> None:
    found = healthy_topics()
    assert by_name(check_topics(EXPECTED, found))["topic scorecards changelog"].status == "ok"
    found[EXPECTED.scorecards_changelog] = TopicFacts(8, 0, 1, {**HEALTHY, "cleanup.policy": "compact"})
    row = by_name(check_topics(EXPECTED, found))["topic scorecards changelog"]
    assert row.status == "fail" and "call-events has 4" in row.detail
    assert row.fix is not None and "scorecard table starts empty" in row.fix
    found[EXPECTED.scorecards_changelog] = TopicFacts(4, 0, 1, dict(HEALTHY))
    assert by_name(check_topics(EXPECTED, found))["topic scorecards changelog"].status == "fail"


def test_a_changelog_not_compacted_fails_and_a_missing_one_is_fine() -> None:
    found = healthy_topics()
    found[EXPECTED.changelog] = TopicFacts(4, 0, 1, dict(HEALTHY))
    assert by_name(check_topics(EXPECTED, found))["topic state changelog"].status == "fail"
    found[EXPECTED.changelog] = None
    row = by_name(check_topics(EXPECTED, found))["topic state changelog"]
    assert row.status == "ok" and "first worker creates it" in row.detail


def test_compaction_fails_the_input_and_warns_on_an_output() -> None:
    found = healthy_topics()
    compacted = {**HEALTHY, "cleanup.policy": "compact"}
    found[EXPECTED.name("call-events")] = TopicFacts(4, 0, 1, compacted)
    found[EXPECTED.name("call-summaries")] = TopicFacts(4, 0, 1, compacted)
    rows = by_name(check_topics(EXPECTED, found))
    assert rows["topic call-events"].status == "fail"
    assert rows["topic call-summaries"].status == "warn"


def test_retention_other_than_the_setting_warns_with_the_command_to_fix_it() -> None:
    found = healthy_topics()
    found[EXPECTED.name("call-metrics")] = TopicFacts(4, 0, 1, dict(HEALTHY))
    row = by_name(check_topics(EXPECTED, found))["topic call-metrics"]
    assert row.status == "warn" and row.fix is not None and "retention.ms=3600000" in row.fix


def test_small_max_message_bytes_leaderless_partitions_and_few_replicas() -> None:
    found = healthy_topics()
    found[EXPECTED.name("nudges")] = TopicFacts(4, 0, 1, {**HEALTHY, "max.message.bytes": "1048588"})
    found[EXPECTED.name("call-summaries")] = TopicFacts(4, 2, 1, dict(HEALTHY))
    rows = by_name(check_topics(EXPECTED, found))
    assert (
        rows["topic nudges"].status == "warn" and "max.message.bytes=1048588" in rows["topic nudges"].detail
    )
    assert (
        rows["topic call-summaries"].status == "fail"
        and "2 without a leader" in rows["topic call-summaries"].detail
    )
    replicated = TopicExpectations(**{**EXPECTED.__dict__, "replication": 3})
    assert by_name(check_topics(replicated, healthy_topics()))["topic nudges"].status == "warn"


def test_expectations_come_from_the_settings() -> None:
    settings = Settings(topic_prefix="p", app_id="a", topic_partitions=6)
    expected = TopicExpectations.of(settings)
    assert expected.names == [*(f"p.{t}" for t in TOPICS), "a-call-state-changelog", "a-scorecards-changelog"]
    assert (expected.partitions, expected.max_message_bytes) == (6, settings.topic_max_message_bytes)


def test_broker_row_names_what_was_tried() -> None:
    kafka = Settings(kafka_bootstrap="k:9", kafka_security_protocol="SASL_SSL", kafka_sasl_username="u").kafka
    problem = "nothing answered at k:9 within 2 s (Connection refused): set CALLFOCUS_KAFKA_BOOTSTRAP"
    row = check_broker(kafka, problem, 2.0)
    assert row.status == "fail" and row.detail.startswith("nothing answered")
    assert row.fix == (
        "tried CALLFOCUS_KAFKA_BOOTSTRAP=k:9, CALLFOCUS_KAFKA_SECURITY_PROTOCOL=SASL_SSL, "
        "CALLFOCUS_KAFKA_SASL_USERNAME=u"
    )
    assert check_broker(kafka, None, 0.25).detail == "k:9 answered over SASL_SSL in 0.25 s"


def test_exit_status_is_3_for_the_broker_1_for_any_other_failure_0_with_warnings() -> None:
    ok, warn = Check("a", "ok", ""), Check("b", "warn", "")
    assert exit_status([ok, warn, Check("c", "skip", "")]) == EXIT_OK == 0
    assert exit_status([ok, Check("trackers", "fail", "")]) == EXIT_FAILED == 1
    assert exit_status([Check("broker", "fail", ""), Check("trackers", "fail", "")]) == EXIT_BROKER == 3


def test_table_is_aligned_with_the_fix_below_the_failed_row() -> None:
    rows = [
        Check("broker", "ok", "k:9092 answered"),
        Check("state directory", "fail", "/x: cannot write", "set CALLFOCUS_DATA_DIR"),
        Check("trackers", "ok", "none", "never shown"),
    ]
    lines = render_table(rows).splitlines()
    detail_at = lines[0].index("detail")
    assert all(line[detail_at - 2 : detail_at] == "  " for line in lines[1:5])
    assert lines[1][detail_at:] == "k:9092 answered" and lines[3][detail_at:] == "fix: set CALLFOCUS_DATA_DIR"
    assert "never shown" not in render_table(rows)
    assert lines[-1] == "2 ok, 1 fail: exit status 1"
    document = json.loads(render_json(rows))
    assert document["exit_status"] == 1 and document["checks"][1]["fix"] == "set CALLFOCUS_DATA_DIR"


def test_the_shipped_schemas_and_their_earlier_versions_pass() -> None:
    rows = check_schemas(SCHEMAS)
    assert [r.status for r in rows] == ["ok", "ok"]
    earlier = len(list((SCHEMAS / "previous").glob("*.avsc")))
    assert earlier >= 5 and rows[1].detail == f"{earlier} earlier versions decode into the current"


def test_a_broken_schema_folder_fails(tmp_path: Path) -> None:
    (tmp_path / "CallStarted.avsc").write_text('{"type": "record", "name": "CallStarted", "fields": [')
    rows = check_schemas(tmp_path)
    assert rows[0].status == "fail" and len(rows) == 1
    assert check_schemas(tmp_path / "empty")[0].status == "fail"


def test_an_earlier_version_that_no_longer_decodes_fails(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    current = json.loads((SCHEMAS / "CallSummary.avsc").read_text())
    # a current field with no default that the earlier version lacks: its records cannot be read
    current["fields"].append({"name": "added_without_default", "type": "string"})
    (tmp_path / "schemas" / "CallSummary.avsc").write_text(json.dumps(current))
    rows = check_schemas(tmp_path / "schemas")
    assert rows[0].status == "ok"
    assert rows[1].status == "fail" and "CallSummary-1.avsc" in rows[1].detail


def test_sample_datum_fills_every_nested_type() -> None:
    schema = json.loads((SCHEMAS / "CallMetrics.avsc").read_text())
    datum = sample_datum(schema)
    assert len(datum["windows"]) == 1 and datum["windows"][0]["window"] == "x"
    assert datum["customer_focus_score"] == 1.0  # the non-null branch


def test_state_dir_that_can_be_created_is_ok(tmp_path: Path) -> None:
    row = check_state_dir(tmp_path / "a" / "b", free_bytes=lambda _: 10 * 1024**3)
    assert row.status == "ok" and f"(created at start, in {tmp_path})" in row.detail
    assert not (tmp_path / "a").exists()  # the doctor creates nothing


def test_state_dir_under_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    row = check_state_dir(tmp_path / "file" / "data")
    assert row.status == "fail" and "is a file, not a folder" in row.detail


def test_state_dir_low_space_warns_then_fails(tmp_path: Path) -> None:
    assert check_state_dir(tmp_path, free_bytes=lambda _: 500 * 1024**2).status == "warn"
    assert check_state_dir(tmp_path, free_bytes=lambda _: FREE_FAIL_BYTES - 1).status == "fail"


def test_lexicons(tmp_path: Path) -> None:
    assert [r.status for r in check_lexicons("en", None, None)] == ["ok"]
    missing = check_lexicons("de", None, None)[0]
    assert missing.status == "fail" and "no lexicon for language 'de'" in missing.detail
    folder = tmp_path / "lexicons"
    folder.mkdir()
    (folder / "es.toml").write_text('pitch_terms = ["oferta"]\n')
    (folder / "fr.toml").write_text("pitch_terms = [\n")
    (folder / "my notes.toml").write_text("")
    rows = by_name(check_lexicons("es", None, folder))
    assert rows["lexicon es"].status == "ok" and rows["lexicon es (folder)"].status == "ok"
    assert rows["lexicon fr (folder)"].status == "fail" and "fr.toml" in rows["lexicon fr (folder)"].detail
    assert rows["lexicon folder"].status == "warn" and "my notes.toml" in rows["lexicon folder"].detail
    override = tmp_path / "override.toml"
    override.write_text("no_such_list = []\n")
    row = check_lexicons("en", override, None)[0]
    assert row.status == "fail" and "unknown lexicon lists ['no_such_list']" in row.detail
    assert check_lexicons("en", None, tmp_path / "nowhere")[0].status == "fail"


def test_trackers_and_nudge_rules(tmp_path: Path) -> None:
    trackers = tmp_path / "trackers.toml"
    trackers.write_text('[[trackers]]\nname = "refund"\nspeaker = "customer"\nphrases = ["refund"]\n')
    assert check_trackers(None).status == "ok"
    good = check_trackers(trackers)
    assert good.status == "ok" and "1 trackers" in good.detail
    trackers.write_text('[[trackers]]\nname = "refund"\nspeaker = "nobody"\nphrases = ["refund"]\n')
    bad = check_trackers(trackers)
    assert bad.status == "fail" and bad.detail.startswith(f"{trackers}:")
    rules = tmp_path / "rules.toml"
    rules.write_text("[monologue]\nthresh = 3\n")
    assert check_nudge_rules(True, None).status == "ok"
    assert check_nudge_rules(False, rules).status == "ok"  # nudges off: the file is not read
    assert check_nudge_rules(True, rules).status == "fail"
    rules.write_text("[monologue]\nthreshold = 100\n")
    assert check_nudge_rules(True, rules).status == "ok"


def test_settings_as_found_load_with_a_bad_tracker_file_that_settings_refuse(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text("[[tracker]\n")
    with pytest.raises(ValueError, match="trackers_file"):
        Settings(trackers_file=bad)
    assert SettingsAsFound(trackers_file=bad, language="de", nudge_rules_file=bad).trackers_file == bad
    with pytest.raises(ValueError, match="web_port"):
        SettingsAsFound(web_port=70000)


def prometheus(**changes: object) -> PrometheusFacts:
    facts: dict[str, object] = {
        "version": "2.53.0",
        "targets": (Target("callfocus", "w1:6066", "up"), Target("node", "n:9100", "down")),
        "worker_jobs": frozenset({"callfocus"}),
        "rules": (
            Rule("CallfocusMonologue", "alerting", "ok"),
            Rule("team:callfocus_x:avg", "recording", "ok"),
        ),
    }
    facts.update(changes)
    return PrometheusFacts(**facts)  # type: ignore[arg-type]


def test_prometheus_healthy() -> None:
    rows = check_prometheus("http://p:9090", prometheus())
    assert [r.status for r in rows] == ["ok", "ok", "ok"]
    assert rows[0].detail == "http://p:9090: Prometheus 2.53.0"
    assert rows[1].detail == "1 of 1 callfocus targets up (job callfocus)"
    assert rows[2].detail == "1 callfocus alerts, 1 recording rules loaded"


def test_prometheus_that_does_not_answer_fails_and_skips_the_rest() -> None:
    rows = check_prometheus("http://p:1", PrometheusFacts(error="no answer within 2 s (refused)"))
    assert [r.status for r in rows] == ["fail", "skip", "skip"]
    assert exit_status(rows) == EXIT_FAILED


def test_prometheus_targets() -> None:
    none = check_prometheus("u", prometheus(targets=(), worker_jobs=frozenset()))[1]
    assert none.status == "fail" and none.fix is not None and "scrape job" in none.fix
    # a job of another name counts when its targets exported callfocus series
    renamed = prometheus(targets=(Target("cf-prod", "w:6066", "up"),), worker_jobs=frozenset({"cf-prod"}))
    assert check_prometheus("u", renamed)[1].detail == "1 of 1 callfocus targets up (job cf-prod)"
    half = prometheus(
        targets=(Target("callfocus", "w1", "up"), Target("callfocus", "w2", "down", "connection refused"))
    )
    row = check_prometheus("u", half)[1]
    assert row.status == "warn" and row.detail.endswith("w2: connection refused")
    all_down = prometheus(targets=(Target("callfocus", "w2", "down", "refused"),))
    assert check_prometheus("u", all_down)[1].status == "fail"


def test_prometheus_rules() -> None:
    assert check_prometheus("u", prometheus(rules=()))[2].status == "warn"
    only_alerts = prometheus(rules=(Rule("CallfocusMonologue", "alerting", "ok"),))
    assert check_prometheus("u", only_alerts)[2].status == "warn"
    failing = prometheus(
        rules=(Rule("CallfocusMonologue", "alerting", "err"), Rule("team:callfocus_x:avg", "recording", "ok"))
    )
    assert "failing: CallfocusMonologue" in check_prometheus("u", failing)[2].detail


def test_doctor_with_nothing_listening_exits_3_in_one_table(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "CALLFOCUS_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "CALLFOCUS_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "doctor", "--timeout", "2", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_BROKER, done.stderr
    checks = by_name([Check(**c) for c in json.loads(done.stdout)["checks"]])
    assert checks["broker"].status == "fail" and "127.0.0.1:9" in checks["broker"].detail
    assert checks["topics"].status == "skip" and checks["schemas"].status == "ok"
    assert "Traceback" not in done.stderr


def test_topics_whose_configs_cannot_be_read_warn() -> None:
    found = healthy_topics()
    found[EXPECTED.name("call-events")] = TopicFacts(4, 0, 1, {})
    found[EXPECTED.changelog] = TopicFacts(4, 0, 1, {})
    rows = by_name(check_topics(EXPECTED, found))
    assert (rows["topic call-events"].status, rows["topic call-events"].detail) == (
        "warn",
        "4 partitions, configs not readable",
    )
    assert rows["topic state changelog"].status == "warn"  # not a failure: compaction unknown
    found[EXPECTED.name("call-events")] = TopicFacts(3, 0, 1, {})
    assert (
        by_name(check_topics(EXPECTED, found))["topic call-events"].status == "fail"
    )  # partitions still count
