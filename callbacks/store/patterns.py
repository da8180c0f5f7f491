"""Glob filters on the log's text columns, with the router's semantics.

``--operation-context 'reminder:*'`` selects the events a route registered with
``operation_context="reminder:*"`` receives: a value with none of ``*?[`` matches exactly, any
other is an :func:`fnmatch.fnmatchcase` glob (case-sensitive, ``*`` also across ``:`` and
``/``), and a missing value never matches a glob.

SQL has no operator with exactly these semantics (SQLite's ``GLOB`` writes a negated class
``[^...]``, PostgreSQL has none), so a query narrows with ``LIKE`` on the glob's literal parts,
a superset, and the exact test runs on each row it returns (:func:`glob_matches`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

_GLOB_CHARS = frozenset("*?[")
LIKE_ESCAPE = "\\"
"""The escape character of the ``LIKE`` patterns made here (``ESCAPE '\\'``)."""


def is_glob(pattern: str) -> bool:
    """Whether ``pattern`` is a glob rather than an exact value (as the router decides)."""
    return not _GLOB_CHARS.isdisjoint(pattern)


def glob_matches(value: str | None, pattern: str) -> bool:
    """Whether ``value`` matches the glob ``pattern`` (the router's test)."""
    return value is not None and fnmatch.fnmatchcase(value, pattern)


def glob_test(pattern: str | None) -> Callable[[str | None], bool] | None:
    """The exact test for the rows a ``LIKE`` narrowed to, or None when ``pattern`` is exact."""
    if pattern is None or not is_glob(pattern):
        return None
    return lambda value: glob_matches(value, pattern)


def like_superset(pattern: str) -> str:
    """A ``LIKE`` pattern matching at least every value the glob matches (escape ``\\``).

    ``*`` becomes ``%``; ``?`` and a bracket class (one character) become ``_``; the rest is
    literal, with ``%``, ``_`` and the escape character escaped.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char == "[" and (end := _class_end(pattern, i)) is not None:
            out.append("_")
            i = end + 1
        elif char in ("%", "_", LIKE_ESCAPE):
            out.append(LIKE_ESCAPE + char)
        else:
            out.append(char)
    return "".join(out)


def _class_end(pattern: str, start: int) -> int | None:
    """The index of the ``]`` closing a class opened before ``start``, as fnmatch finds it."""
    j = start
    if j < len(pattern) and pattern[j] == "!":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    end = pattern.find("]", j)
    return end if end >= 0 else None
