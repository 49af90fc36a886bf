"""README.md's settings and tuning tables are the ones the settings' descriptions generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import ENV_PREFIX, GROUPS, Settings
from streams.tools import settings_doc


def test_readme_tables_are_current() -> None:
    readme = settings_doc.README.read_text(encoding="utf-8")
    assert settings_doc.render(readme) == readme, (
        f"README.md's settings tables are stale: run `{settings_doc.COMMAND}`"
    )


def test_every_setting_has_a_description_and_one_row() -> None:
    readme = settings_doc.README.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description for the README"
        assert readme.count(f"| `{ENV_PREFIX}{name.upper()}` |") == 1, name


def test_tuning_settings_are_in_their_own_table_only() -> None:
    blocks = settings_doc.blocks()
    tuning = "\n".join(blocks["tuning"])
    settings = "\n".join(blocks["settings"])
    assert "`CALLFOCUS_GC_AUTOMATIC_COLLECTIONS`" in tuning
    assert "`CALLFOCUS_COMMIT_INTERVAL_SECONDS`" in tuning
    assert "GC_" not in settings and "FETCH_" not in settings
    assert [f"### {g.title}" for g in GROUPS if g.attribute != "tuning"] == [
        line for line in blocks["settings"] if line.startswith("### ")
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, settings_doc.NO_DEFAULT),
        ({}, settings_doc.NO_DEFAULT),
        (True, "`true`"),
        (2.8, "`2.8`"),
        (600.0, "`600`"),
        (1048576, "`1048576`"),
        ((60, 180), "`[60, 180]`"),
        (Path("/tmp/x"), "`/tmp/x`"),
    ],
)
def test_defaults_are_written_as_a_user_sets_them(value: object, text: str) -> None:
    assert settings_doc.default_text(value) == text


def test_the_command_rewrites_a_stale_readme_and_check_fails_on_it(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    current = settings_doc.README.read_text(encoding="utf-8")
    stale = current.replace("| `CALLFOCUS_WEB_PORT` | `6066` |", "| `CALLFOCUS_WEB_PORT` | `6067` |")
    assert stale != current
    readme.write_text(stale, encoding="utf-8")
    assert settings_doc.main(["--check", "--readme", str(readme)]) == 1
    assert readme.read_text(encoding="utf-8") == stale
    assert settings_doc.main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == current
    assert settings_doc.main(["--check", "--readme", str(readme)]) == 0
