"""Language tags: what ``CallStarted.language`` and ``CALLFOCUS_LANGUAGE`` may hold.

A tag in the shape of BCP 47 (``en``, ``en-US``, ``es-419``, ``zh-Hant-TW``): a primary
subtag of 2-8 ASCII letters, then subtags of 1-8 ASCII letters or digits, each after a
hyphen, at most :data:`MAX_LANGUAGE_TAG_CHARS` characters in all. Only the shape is
checked, not the IANA registry. A tag names a lexicon; it is never part of a path
(``streams/engine/lexicon.py`` looks lexicons up by name in their folders).
"""

from __future__ import annotations

import re
from typing import Final

from streams.errors import shown

# RFC 5646 § 4.4.1: 35 characters hold every tag without extensions or private use
MAX_LANGUAGE_TAG_CHARS: Final = 35
# ASCII classes only (no \w, no \d: they match other scripts' letters and digits)
_TAG: Final = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


def is_language_tag(value: object) -> bool:
    """Whether ``value`` is a string in the shape of a language tag."""
    return (
        isinstance(value, str) and len(value) <= MAX_LANGUAGE_TAG_CHARS and _TAG.fullmatch(value) is not None
    )


def language_problem(value: object) -> str | None:
    """Why ``value`` is not a language tag (for an error detail), or None if it is one."""
    if is_language_tag(value):
        return None
    return (
        f"language {shown(value, 63)} is not a language tag (like en, en-US, es-419: ASCII letters, digits "
        f"and hyphens, at most {MAX_LANGUAGE_TAG_CHARS} characters)"
    )
