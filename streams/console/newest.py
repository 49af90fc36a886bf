"""Holders of the latest value per key, bounded: the least recently written go first. Pure.

The console reads compacted topics whole (nudge acknowledgements, the scorecard table) and
keeps the latest record of each key; a cap bounds its memory on a topic that holds more.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


def put_newest(held: OrderedDict[Key, Value], key: Key, value: Value, cap: int) -> int:
    """Hold ``value`` under ``key`` as the most recently written; past ``cap``, drop the least
    recently written. Returns how many were dropped."""
    held[key] = value
    held.move_to_end(key)
    dropped = 0
    while len(held) > cap:
        held.popitem(last=False)
        dropped += 1
    return dropped
