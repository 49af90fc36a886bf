"""Every relative link and #anchor in the user docs resolves, as GitHub renders them.

The documents: README.md, docs/*.md and every README.md under deploy/. A link is checked
when it is relative (no scheme): its file or folder must exist inside the repository,
and an #anchor into a Markdown file must name one of that file's headings (GitHub's
slug: lower case, punctuation dropped, spaces to hyphens, "-1", "-2" ... for repeats)
or an explicit ``<a id>``/``<a name>``. Links inside code (fenced blocks, `spans`) are
text, not links.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\s+[^>]*?(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str

    def __str__(self) -> str:
        shown = self.source.relative_to(ROOT) if self.source.is_relative_to(ROOT) else self.source
        return f"{shown}:{self.line}: {self.target}"


def documents(root: Path = ROOT) -> list[Path]:
    found = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    found += sorted((root / "deploy").rglob("README.md"))
    return [p for p in found if p.is_file()]


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        marker = match.group(1) if match else ""
        if fence is None and marker:
            fence = marker
        elif fence is not None and marker[:1] == fence[0] and len(marker) >= len(fence):
            fence = None
        elif fence is None:
            lines.append((number, line))
    return lines


def _heading_text(raw: str) -> str:
    """What GitHub shows of a heading's Markdown: code spans' text, links' text, no emphasis."""
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), raw)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return text.replace("*", "")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (before the "-1" of a repeat)."""
    kept = []
    for char in _heading_text(heading).strip().lower():
        category = unicodedata.category(char)
        if char in " -_" or category[0] in "LN" or category == "Mn":
            kept.append("-" if char == " " else char)
    return "".join(kept)


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    found: set[str] = set()
    seen: dict[str, int] = {}
    lines = _prose_lines(text)
    previous = ""
    for _, line in lines:
        found.update(HTML_ANCHOR.findall(line))
        heading = None
        if match := ATX_HEADING.match(line):
            heading = match.group(2)
        elif SETEXT_UNDERLINE.match(line) and previous.strip() and previous.lstrip()[:1] not in "-*|":
            heading = previous
        previous = line
        if heading is None:
            continue
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[Link]:
    found = []
    for number, line in _prose_lines(path.read_text(encoding="utf-8")):
        prose = CODE_SPAN.sub("", line)
        targets = INLINE_LINK.findall(prose)
        if definition := REFERENCE_DEFINITION.match(prose):
            targets.append(definition.group(1))
        found += [Link(path, number, t) for t in targets if t and not SCHEME.match(t)]
    return found


def problem(link: Link, root: Path = ROOT) -> str | None:
    """Why ``link`` does not resolve, or None."""
    target, _, anchor = link.target.partition("#")
    target = unquote(target)
    destination = (link.source.parent / target).resolve() if target else link.source
    if not destination.is_relative_to(root.resolve()):
        return "points outside the repository"
    if not destination.exists():
        return "no such file or folder"
    if anchor and destination.suffix == ".md" and unquote(anchor) not in anchors(destination):
        return f"no heading or anchor #{anchor} in {destination.name}"
    return None


def broken(paths: list[Path], root: Path = ROOT) -> list[str]:
    return [f"{link} ({why})" for path in paths for link in links(path) if (why := problem(link, root))]


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert not broken([path]), "\n".join(broken([path]))


def test_the_documents_are_found_and_have_links() -> None:
    names = {str(p.relative_to(ROOT)) for p in documents()}
    assert {"README.md", "docs/console.md", "docs/score.md", "deploy/helm/callfocus/README.md"} <= names
    assert sum(len(links(p)) for p in documents()) > 20  # the parser finds the links there are


def test_the_checker_catches_a_broken_link_and_a_broken_anchor(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\n## Reading the `score`: bands & caveats\n\n## Set-up\n\n## Set-up\n\n"
        'Setext heading\n--------------\n\n<a id="custom-spot"></a>\n',
        encoding="utf-8",
    )
    (tmp_path / "README.md").write_text(
        "\n".join(
            [
                "[ok](docs/guide.md#reading-the-score-bands--caveats)",
                "[repeat](docs/guide.md#set-up-1)",
                "[setext](docs/guide.md#setext-heading)",
                "[html](docs/guide.md#custom-spot)",
                "[folder](docs/)",
                "[self](#title)",
                "# Title",
                "`[not a link](missing.md)`",
                "```",
                "[in a fence](missing.md)",
                "```",
                "[site](https://example.com/missing.md)",
                "[missing file](docs/nothing.md)",
                "[missing anchor](docs/guide.md#set-up-2)",
                "[outside](../elsewhere.md)",
                "![missing image](docs/images/none.png)",
                "[ref]: docs/gone.md",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    found = broken([tmp_path / "README.md"], tmp_path)
    assert len(found) == 5, "\n".join(found)
    assert any(":13: docs/nothing.md (no such file" in f for f in found)
    assert any(":14: docs/guide.md#set-up-2 (no heading or anchor #set-up-2" in f for f in found)
    assert any(":15: ../elsewhere.md (points outside" in f for f in found)
    assert any(":16: docs/images/none.png" in f for f in found)
    assert any(":17: docs/gone.md" in f for f in found)


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Reading the score", "reading-the-score"),
        ("`callfocus score --json`", "callfocus-score---json"),
        ("Why not a Faust `GlobalTable`", "why-not-a-faust-globaltable"),
        ("Upgrades and rollback", "upgrades-and-rollback"),
        ("Prometheus export and its size", "prometheus-export-and-its-size"),
        ("**Bold** and [a link](x.md)", "bold-and-a-link"),
        ("at_least_once, 3.5 s?", "at_least_once-35-s"),
        ("Café — ünïcode", "café--ünïcode"),
    ],
)
def test_slugs_follow_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected
