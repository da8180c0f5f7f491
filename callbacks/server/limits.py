"""What one callback request may carry, and a cheap check of a JSON body's shape.

:func:`check_json` refuses nesting deeper than ``max_depth`` and string values (or keys) longer
than ``max_string`` bytes as encoded, and an array of more than ``max_events`` elements, by
scanning the raw bytes before anything parses them: a deeply nested body never reaches
``json.loads`` (whose recursion would fail with ``RecursionError``), a body of 30 000 tiny events
is refused before 30 000 models are built (~0.3 s of the event loop), and the scan costs a few
C-level passes over the bytes, not a second parse. A typical single event is let through by two
``bytes.count`` calls and a length test.

The scan is exact for valid JSON. For invalid JSON it may report a limit where the parser would
report a syntax error; both are refusals of the same body. No I/O here; the endpoint maps the
errors to HTTP.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DEFAULT_BODY_LIMIT = 1024 * 1024
DEFAULT_MAX_EVENTS = 1000
DEFAULT_MAX_DEPTH = 32
DEFAULT_MAX_STRING = 64 * 1024
DEFAULT_READ_TIMEOUT = 10.0
MAX_DEPTH_CEILING = 256
"""Deeper than this, Python's own recursion limit would be the one that answers."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one callback request may carry, and how long its body may take to arrive."""

    body_bytes: int = DEFAULT_BODY_LIMIT
    events: int = DEFAULT_MAX_EVENTS
    depth: int = DEFAULT_MAX_DEPTH
    string_bytes: int = DEFAULT_MAX_STRING
    read_timeout: float = DEFAULT_READ_TIMEOUT

    def __post_init__(self) -> None:
        if min(self.body_bytes, self.events, self.depth, self.string_bytes) <= 0:
            raise ValueError("request limits must be positive")
        if self.depth > MAX_DEPTH_CEILING:
            raise ValueError(f"the nesting depth limit may be at most {MAX_DEPTH_CEILING}")
        if not 0 < self.read_timeout < math.inf:
            raise ValueError("the read timeout must be a positive number of seconds")


class BodyRejected(ValueError):
    """A body refused before parsing; ``code`` names the reason for the client."""

    code = "invalid_event"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TooDeep(BodyRejected):
    """Arrays and objects nest deeper than the limit."""

    code = "json_too_deep"


class StringTooLong(BodyRejected):
    """A string value or key is longer than the limit."""

    code = "string_too_long"
    status = 413


class TooManyEvents(BodyRejected):
    """An array of more events than one request may carry."""

    code = "too_many_events"
    status = 413


class NotUtf8(BodyRejected):
    """A body in UTF-16 or UTF-32, which JSON between systems must not use (RFC 8259 §8.1)."""


_ESCAPED_BACKSLASH = b"\\\\"
_ESCAPED_QUOTE = b'\\"'
_SAME_LENGTH_FILLER = b"__"
# Brackets become parentheses so one replace per round peels a level of either kind; quotes stay
# so strings (whose brackets are text, not structure) can be cut out; everything else goes.
_TO_PARENS = bytes.maketrans(b"{[}]", b"(())")
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'{}[]"')))
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff")


def check_json(
    body: bytes, *, max_depth: int, max_string: int, max_events: int | None = None
) -> None:
    """Raise :class:`BodyRejected` if ``body`` nests, has strings or (with ``max_events``) has
    array elements beyond the limits."""
    if b"\x00" in body[:4] or body.startswith(_UTF16_32_BOMS):
        raise NotUtf8("body must be JSON encoded as UTF-8")
    # Upper bounds first: no more openers than the depth limit means no deeper than it, nor
    # more elements than the event limit (each event is an opener; the array is one more), and
    # a body no longer than the string limit holds no longer string. Typical events stop here.
    openers = body.count(b"{") + body.count(b"[")
    may_be_deep = openers > max_depth
    may_be_many = max_events is not None and openers - 1 > max_events
    may_be_long = len(body) > max_string + 2
    if not (may_be_deep or may_be_long or may_be_many):
        return
    if b"\\" in body:
        # Inside strings every backslash starts an escape; scanning pairs left to right finds
        # them as a parser would. Same-length filler keeps string lengths as encoded.
        body = body.replace(_ESCAPED_BACKSLASH, _SAME_LENGTH_FILLER)
        body = body.replace(_ESCAPED_QUOTE, _SAME_LENGTH_FILLER)
    structure = _structure(body) if may_be_deep or may_be_many else b""
    # The count first: it is the cheapest answer to a body of many small events.
    if max_events is not None and may_be_many and body.lstrip()[:1] == b"[" and (
        _elements(structure, max_depth) > max_events
    ):
        raise TooManyEvents(f"a request may carry at most {max_events} events")
    if may_be_long:
        strings = body.split(b'"')[1::2]
        if strings and max(map(len, strings)) > max_string:
            raise StringTooLong(f"a string in the body is longer than {max_string} bytes")
    if may_be_deep and _depth_exceeds(structure, max_depth):
        raise TooDeep(f"arrays and objects nest deeper than {max_depth} levels")


def _structure(body: bytes) -> bytes:
    """The brackets outside strings, each as ``(`` or ``)``."""
    # Dropping adjacent quote pairs first is safe (nothing between them is structure) and leaves
    # only the strings that hold brackets, usually none, for the split.
    structure = body.translate(_TO_PARENS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[0::2])
    return structure


def _depth_exceeds(structure: bytes, max_depth: int) -> bool:
    """Whether the brackets of ``structure`` nest deeper than ``max_depth``."""
    if b"(" * (max_depth + 1) in structure:
        return True
    # Each round deletes every innermost pair, so the rounds a balanced skeleton survives are its
    # depth. A round that removes nothing means unbalanced brackets: the parser will say so.
    for _ in range(max_depth):
        peeled = structure.replace(b"()", b"")
        if not peeled or len(peeled) == len(structure):
            return False
        structure = peeled
    return b"()" in structure


_WHOLE_GROUP = re.compile(rb"\(x*\)")
"""A pair of brackets holding only elements already reduced to ``x``."""


def _elements(structure: bytes, max_depth: int) -> int:
    """How many objects and arrays the outermost array of ``structure`` holds.

    Each round reduces every innermost group to one ``x``; once no bracket is left inside the
    outermost pair, each ``x`` is one of its elements. Scalars leave no trace in the structure,
    so they are not counted: the parser refuses them as events anyway, at the first one. At most
    ``max_depth`` rounds: a body nested deeper is refused for that, and may be undercounted.
    """
    inside = structure[1:-1].replace(b"()", b"x")
    for _ in range(max_depth):
        if b"(" not in inside:
            break
        inside = _WHOLE_GROUP.sub(b"x", inside)
    return inside.count(b"x")
