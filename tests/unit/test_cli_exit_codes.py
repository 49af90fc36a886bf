"""Every command reports an invalid setting value in one line, exit status 2, before any work
(docs/cli.md, Exit status)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "samples" / "calls.jsonl")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("settings")
    files = {
        "list.yaml": "- a\n- b\n",
        "rules.toml": "[monologue]\nthresh = 3\n",
        "lexicon.toml": "pitch_terms = [\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return {name: folder / name for name in files}


# files whose content the doctor checks as rows of its report, where other commands refuse them
DOCTOR_CHECKS = {"CALLFOCUS_NUDGE_RULES_FILE", "CALLFOCUS_LEXICON_FILE", "CALLFOCUS_TRACKERS_FILE"}


def commands(harper_valley: Path) -> list[list[str]]:
    return [
        ["worker"],
        ["topics"],
        ["replay", SAMPLE, "--max-speed"],
        ["score", SAMPLE],
        ["simulate", "--calls", "1", "--max-speed"],
        ["eval", "harper-valley", str(harper_valley)],
        ["doctor"],
        ["backfill", "--since", "1d"],
        ["report", "--since", "7d", "--format", "csv"],
    ]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CALLFOCUS_TOPIC_PARTITIONS", "abc", "topic_partitions: Input should be a valid integer"),
        ("CALLFOCUS_WEB_PORT", "70000", "web_port: Input should be less than or equal to 65535"),
        ("CALLFOCUS_CONFIG_FILE", "list.yaml", "expected a mapping of setting names to values"),
        (
            "CALLFOCUS_CONFIG_FILE",
            "/no/such/file.yaml",
            "CALLFOCUS_CONFIG_FILE=/no/such/file.yaml: no such file",
        ),
        ("CALLFOCUS_NUDGE_RULES_FILE", "rules.toml", "unexpected keyword argument 'thresh'"),
        ("CALLFOCUS_LEXICON_FILE", "lexicon.toml", "lexicon_file: "),
        ("CALLFOCUS_LEXICON_FILE", "/no/such/lexicon.toml", "cannot read: No such file or directory"),
    ],
)
def test_every_command_reports_an_invalid_setting_in_one_line_with_exit_status_2(
    variable: str, value: str, expected: str, bad_files: dict[str, Path], harper_valley_dir: Path
) -> None:
    value = str(bad_files.get(value, value))
    for command in commands(harper_valley_dir):
        if command == ["doctor"] and variable in DOCTOR_CHECKS:
            continue  # the next test
        result = CliRunner().invoke(main, command, env={variable: value})
        assert result.exit_code == 2, (command, result.output)
        assert result.stdout == "", command  # nothing done before the settings were read
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("callfocus: invalid settings: "), (command, lines)
        assert expected in lines[0], (command, lines)


def test_the_doctor_reports_a_bad_file_it_checks_as_a_failed_check_not_a_setting(tmp_path: Path) -> None:
    # what the doctor checks (trackers, lexicons, nudge rules) fails its row, and the others still run
    bad = tmp_path / "rules.toml"
    bad.write_text("[monologue]\nthresh = 3\n")
    result = CliRunner().invoke(
        main, ["doctor", "--timeout", "1"], env={"CALLFOCUS_NUDGE_RULES_FILE": str(bad)}
    )
    assert result.exit_code == 3  # and the broker of the unit tests (port 9) does not answer
    rule_row = next(line for line in result.stdout.splitlines() if line.startswith("nudge rules"))
    assert "fail" in rule_row and "thresh" in rule_row


def test_simulate_to_a_file_reads_no_settings() -> None:
    # it neither sends nor scores: a setting it does not read cannot stop it
    with CliRunner().isolated_filesystem():
        result = CliRunner().invoke(
            main, ["simulate", "--calls", "1", "--jsonl", "calls.jsonl"], env={"CALLFOCUS_WEB_PORT": "70000"}
        )
    assert result.exit_code == 0 and "wrote" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bogus"], "callfocus: No such option: --bogus (help: callfocus -h)"),
        (["nosuch"], "callfocus: No such command 'nosuch'. (help: callfocus -h)"),
        (
            ["score", SAMPLE, "--limit", "x"],
            "callfocus: Invalid value for '--limit': 'x' is not a valid integer",
        ),
        (
            ["doctor", "--timeout", "0"],
            "callfocus: Invalid value for '--timeout': 0.0 is not in the range x>0.",
        ),
        (["eval", "harper-valley", "/no/such/corpus"], "callfocus: Invalid value for 'DIRECTORY': Directory"),
    ],
)
def test_a_mistake_in_the_arguments_is_one_line_with_exit_status_2(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(main, args, prog_name="callfocus")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(expected), result.stderr


def test_no_command_shows_the_help() -> None:
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 2 and "Commands:" in result.output and "doctor" in result.output
