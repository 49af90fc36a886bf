"""Read-only value classes that compile to C: the events and the metric values.

A plain class with ``Final`` attributes rather than a frozen dataclass: compiled with
mypyc (streams/native.py), its ``__init__`` is C, while a dataclass's generated
``__init__`` stays interpreted and, frozen, sets each field through
``object.__setattr__``: 2.3 µs per ``TranscriptSegment``, 3 µs per ``WindowMetrics``.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

V = TypeVar("V", bound="Value")


class Value:
    """A read-only value (``Final`` attributes, checked by mypy) with equality, a hash, a
    repr, a dict form and ``replace`` over its ``FIELDS`` (the ``__init__`` arguments)."""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def replace(self: V, **changes: Any) -> V:
        """A copy with ``changes`` (``dataclasses.replace`` for these classes)."""
        unknown = set(changes) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no fields {sorted(unknown)}")
        return type(self)(**{**self.to_dict(), **changes})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Value) and other.values() == self.values()

    # explicit: mypyc cannot derive it for subclasses compiled in other modules
    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({fields})"
