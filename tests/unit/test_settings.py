from __future__ import annotations

import re
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from streams.settings import (
    GROUPS,
    Settings,
    SettingsFileError,
    group_settings,
    setting_name,
    unknown_variables,
)
from streams.tools.cli import main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CALLFOCUS_"):
            monkeypatch.delenv(name)


def test_environment_variables_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLFOCUS_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("CALLFOCUS_WINDOWS_SECONDS", "[180, 60, 60]")
    monkeypatch.setenv("CALLFOCUS_PER_CALL_SERIES", "false")
    settings = Settings()
    assert settings.kafka_bootstrap == "k1:9092,k2:9092"
    assert settings.windows_seconds == (60, 180)
    assert settings.window_labels == ("60s", "180s", "call")
    assert settings.per_call_series is False
    assert settings.topic("call-events") == "callfocus.call-events"


def test_yaml_and_toml_files_under_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    yaml_file = tmp_path / "callfocus.yaml"
    yaml_file.write_text("web_port: 7001\ntopic_prefix: floor1\n")
    monkeypatch.setenv("CALLFOCUS_CONFIG_FILE", str(yaml_file))
    monkeypatch.setenv("CALLFOCUS_WEB_PORT", "7002")
    settings = Settings()
    assert settings.topic_prefix == "floor1"
    assert settings.web_port == 7002  # environment beats the file
    toml_file = tmp_path / "callfocus.toml"
    toml_file.write_text('store = "rocksdb"\n')
    monkeypatch.setenv("CALLFOCUS_CONFIG_FILE", str(toml_file))
    assert Settings().store == "rocksdb"


def test_secrets_are_hidden_and_settings_frozen() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL", kafka_sasl_username="u", kafka_sasl_password="s3cret"
    )
    assert "s3cret" not in repr(settings)
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings.kafka)
    with pytest.raises(ValidationError):
        settings.web_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("web_port", 0),
        ("store", "redis"),
        ("windows_seconds", []),
        ("topic_partitions", 0),
        ("no_such", 1),
        ("fetch_max_wait_seconds", 2.0),  # above Faust's own 1.5 s it would only add delay
        ("fetch_min_bytes", 0),
        ("fetch_max_records", 0),
        ("nudge_interval_seconds", -1),
        ("console_idle_seconds", 0),
    ],
)
def test_invalid_settings_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLFOCUS_CONFIG_FILE", "/nonexistent/callfocus.yaml")
    with pytest.raises(ValueError, match="no such file"):
        Settings()


def test_topic_retention_from_the_environment_and_unknown_topics_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLFOCUS_TOPIC_RETENTION_MS", '{"call-metrics": 86400000, "call-events": -1}')
    assert Settings().topic_retention_ms == {"call-metrics": 86400000, "call-events": -1}
    monkeypatch.setenv("CALLFOCUS_TOPIC_RETENTION_MS", '{"call-metric": 1000}')
    with pytest.raises(ValueError, match="call-metric"):
        Settings()


ROOT = Path(__file__).resolve().parents[2]


def test_an_unknown_variable_is_named_with_the_closest_setting() -> None:
    warnings = unknown_variables(
        {
            "CALLFOCUS_KAFKA_BOOTSTRAPS": "kafka:9092",  # one letter too many
            "CALLFOCUS_WEBPORT": "6066",  # the underscore missing
            "CALLFOCUS_NOTHING_LIKE_IT": "1",
            "CALLFOCUS_KAFKA_BOOTSTRAP": "kafka:9092",  # a setting
            "CALLFOCUS_LOCAL_KAFKA_PORT": "9092",  # the local Kafka's scripts
            "CALLFOCUS_SCHEMA_DIR": "/schemas",  # the codec
            "PATH": "/usr/bin",
        }
    )
    assert warnings == [
        "CALLFOCUS_KAFKA_BOOTSTRAPS is not a callfocus setting and is ignored; "
        "did you mean CALLFOCUS_KAFKA_BOOTSTRAP?",
        "CALLFOCUS_NOTHING_LIKE_IT is not a callfocus setting and is ignored",
        "CALLFOCUS_WEBPORT is not a callfocus setting and is ignored; did you mean CALLFOCUS_WEB_PORT?",
    ]


def test_every_command_warns_of_an_unknown_variable_on_stderr() -> None:
    result = CliRunner().invoke(main, ["score", "--help"], env={"CALLFOCUS_TOPIC_PREFX": "acme"})
    assert result.exit_code == 0
    assert (
        "callfocus: warning: CALLFOCUS_TOPIC_PREFX is not a callfocus setting and is ignored; "
        "did you mean CALLFOCUS_TOPIC_PREFIX?"
    ) in result.stderr


def test_no_variable_the_project_itself_sets_is_called_unknown() -> None:
    """Every CALLFOCUS_* name in the code, chart, scripts and tests is a setting or one of
    the listed other variables: a new one must be added to one of them, not warned of."""
    paths = [
        path
        for folder in ("streams", "deploy", "tests", "bench", ".ci")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in {".py", ".sh", ".yaml", ".yml", ".tpl", ".txt", ""}
        and path != Path(__file__)  # its own misspelt examples
    ] + [ROOT / "Makefile"]
    names = {
        name
        for path in paths
        for name in re.findall(r"\bCALLFOCUS_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="ignore"))
    }
    assert len(names) > 30
    # Kubernetes' service links for a Service named callfocus: the chart turns them off
    service_links = {"CALLFOCUS_SERVICE_HOST", "CALLFOCUS_PORT"}
    assert unknown_variables(dict.fromkeys(names - service_links, "")) == []


def test_every_setting_is_in_exactly_one_group() -> None:
    grouped = [name for group in GROUPS for name in group_settings(group)]
    assert sorted(grouped) == sorted(Settings.model_fields)  # none left out, none twice
    assert len(grouped) == len(set(grouped))


def test_a_group_view_holds_its_settings_values(tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap="k:9092",
        kafka_ssl_cafile=tmp_path / "ca.pem",
        topic_prefix="floor1",
        console_idle_seconds=30,
        nudges_enabled=False,
        nudge_webhook_retries=5,
        fetch_min_bytes=1,
    )
    assert (settings.kafka.bootstrap, settings.kafka.ssl_cafile) == ("k:9092", tmp_path / "ca.pem")
    assert settings.topics.name("call-events") == settings.topic("call-events") == "floor1.call-events"
    assert settings.console.idle_seconds == 30
    assert (settings.nudges.enabled, settings.nudges.webhook_retries) == (False, 5)
    assert settings.tuning.fetch_min_bytes == 1
    for group in GROUPS:
        view = getattr(settings, group.attribute)
        assert isinstance(view, group.view)
        for field in fields(view):
            assert getattr(view, field.name) == getattr(settings, setting_name(group.view, field.name))
        with pytest.raises(FrozenInstanceError):
            setattr(view, fields(view)[0].name, None)


def test_a_copy_with_other_values_has_views_of_them() -> None:
    settings = Settings()
    assert settings.kafka.bootstrap == "127.0.0.1:9092"
    copy = settings.model_copy(update={"kafka_bootstrap": "k:9092", "console_idle_seconds": 5.0})
    assert (copy.kafka.bootstrap, copy.console.idle_seconds) == ("k:9092", 5.0)


def test_a_config_file_that_is_not_a_mapping_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    listed = tmp_path / "callfocus.yaml"
    listed.write_text("- web_port: 7001\n")
    monkeypatch.setenv("CALLFOCUS_CONFIG_FILE", str(listed))
    with pytest.raises(SettingsFileError, match="expected a mapping of setting names to values"):
        Settings()


@pytest.mark.parametrize(
    ("name", "text"),
    [("callfocus.yaml", "web_port: [7001\n"), ("callfocus.toml", "web_port = \n")],
)
def test_a_config_file_that_does_not_parse_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, text: str
) -> None:
    file = tmp_path / name
    file.write_text(text)
    monkeypatch.setenv("CALLFOCUS_CONFIG_FILE", str(file))
    with pytest.raises(SettingsFileError) as raised:
        Settings()
    message = str(raised.value)
    assert message.startswith(f"CALLFOCUS_CONFIG_FILE={file}: ")
    assert "\n" not in message


def test_an_unknown_or_invalid_setting_in_the_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    file = tmp_path / "callfocus.toml"
    monkeypatch.setenv("CALLFOCUS_CONFIG_FILE", str(file))
    file.write_text("web_prot = 7001\n")  # misspelt: it would otherwise be ignored
    with pytest.raises(ValidationError, match="web_prot"):
        Settings()
    file.write_text("web_port = 0\n")
    with pytest.raises(ValidationError, match="web_port"):
        Settings()
    assert Settings(web_port=7003).web_port == 7003  # keyword arguments beat the file


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"CALLFOCUS_CONFIG_FILE": "/nonexistent/callfocus.yaml"},
            "callfocus: invalid settings: CALLFOCUS_CONFIG_FILE=/nonexistent/callfocus.yaml: no such file\n",
        ),
        (
            {"CALLFOCUS_WEB_PORT": "0", "CALLFOCUS_STORE": "redis"},
            "callfocus: invalid settings: web_port: Input should be greater than or equal to 1; "
            "store: Input should be 'memory' or 'rocksdb'\n",
        ),
        (
            {"CALLFOCUS_WINDOWS_SECONDS": "[60,"},
            'callfocus: invalid settings: error parsing value for field "windows_seconds" from source '
            '"EnvSettingsSource"\n',
        ),
    ],
)
def test_the_cli_reports_invalid_settings_in_one_line(env: dict[str, str], expected: str) -> None:
    result = CliRunner().invoke(main, ["topics"], env=env)
    assert result.exit_code == 2
    assert result.stderr == expected  # no traceback


def test_the_cli_reports_a_bad_settings_file_in_one_line(tmp_path: Path) -> None:
    file = tmp_path / "callfocus.yaml"
    file.write_text("web_port: 7001\nweb_prot: 7002\nkafka_sasl_password: [s3cret\n")
    result = CliRunner().invoke(main, ["topics"], env={"CALLFOCUS_CONFIG_FILE": str(file)})
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert "s3cret" not in result.stderr  # YAML shows no snippet of a file it read
    assert len(lines) == 1 and lines[0].startswith(
        f"callfocus: invalid settings: CALLFOCUS_CONFIG_FILE={file}: "
    )
    file.write_text("web_port: 7001\nweb_prot: 7002\n")
    result = CliRunner().invoke(main, ["topics"], env={"CALLFOCUS_CONFIG_FILE": str(file)})
    assert result.stderr == "callfocus: invalid settings: web_prot: Extra inputs are not permitted\n"


def test_the_trackers_file_is_checked_at_start(tmp_path: Path) -> None:
    file = tmp_path / "trackers.toml"
    file.write_text('[[trackers]]\nname = "escalation"\nphrases = ["manager"]\n')
    settings = Settings(trackers_file=file, trackers_reload_seconds=2.5)
    assert settings.engine.trackers_file == file
    assert settings.engine.trackers_reload_seconds == 2.5
    file.write_text('[[trackers]]\nname = "escalation"\nphrases = ["manager"]\nspeaker = "boss"\n')
    result = CliRunner().invoke(main, ["topics"], env={"CALLFOCUS_TRACKERS_FILE": str(file)})
    assert result.exit_code == 2
    assert result.stderr == (
        f"callfocus: invalid settings: trackers_file: {file}:4: tracker 1 (escalation): "
        "speaker 'boss' is not one of agent, customer, any\n"
    )
    result = CliRunner().invoke(
        main, ["topics"], env={"CALLFOCUS_TRACKERS_FILE": str(tmp_path / "none.yaml")}
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"callfocus: invalid settings: trackers_file: {tmp_path}/none.yaml: cannot read"
    )
