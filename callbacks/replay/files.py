"""Read a replay file as a stream of JSON values, a chunk at a time, with line numbers.

Accepted, in any mix: JSON Lines (one object per line, blank lines ignored), a JSON array of
objects (read element by element, never as a whole), several arrays one after another, and
pretty-printed objects. Each value comes with the line it starts on.

A malformed value at the top level is reported and reading resumes at the next line (what
JSON Lines needs); a syntax error inside an array ends the file, since nothing after it can be
told apart reliably.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

CHUNK = 1 << 20
"""Characters read at a time."""
MAX_VALUE = 16 << 20
"""A value longer than this (characters) is reported, not buffered further."""
_WHITESPACE = " \t\r\n\ufeff"
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Value:
    """One JSON value of the file (``document`` and its ``text``), or why it is not one."""

    line: int
    document: Any = None
    text: str | None = None
    error: str | None = None


class _Reader:
    """A sliding window over the stream that knows the line number of its position."""

    def __init__(self, stream: TextIO, chunk: int) -> None:
        self.stream = stream
        self.chunk = chunk
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def more(self) -> bool:
        """Read the next chunk (dropping what was consumed); False at the end of the file."""
        if self.eof:
            return False
        chunk = self.stream.read(self.chunk)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def advance(self, to: int) -> None:
        """Consume up to index ``to``, counting the lines passed."""
        self.line += self.buf.count("\n", self.pos, to)
        self.pos = to

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end of the file)."""
        while True:
            buf, pos = self.buf, self.pos
            end = len(buf)
            while pos < end and buf[pos] in _WHITESPACE:
                pos += 1
            self.advance(pos)
            if pos < end:
                return buf[pos]
            if not self.more():
                return ""

    def skip_line(self) -> None:
        """Consume through the end of the current line."""
        while True:
            newline = self.buf.find("\n", self.pos)
            if newline >= 0:
                self.advance(newline + 1)
                return
            self.advance(len(self.buf))
            if not self.more():
                return

    def decode(self) -> tuple[Any, str] | str:
        """The JSON value at the position and its text, or an error message."""
        while True:
            try:
                document, end = _DECODER.raw_decode(self.buf, self.pos)
            except RecursionError:  # the decoder recurses per level: no event nests so deep
                return "nested too deeply to be an event"
            except json.JSONDecodeError as exc:
                if self._incomplete(exc) and len(self.buf) - self.pos < MAX_VALUE and self.more():
                    continue
                if len(self.buf) - self.pos >= MAX_VALUE:
                    return f"a value longer than {MAX_VALUE} characters"
                line = self.line + self.buf.count("\n", self.pos, exc.pos)
                where = f" (line {line})" if line != self.line else ""
                return f"not valid JSON: {exc.msg}{where}"
            if end == len(self.buf) and not self.eof and self.more():
                continue  # a number or literal may go on in the next chunk
            text = self.buf[self.pos : end]
            self.advance(end)
            return document, text

    def _incomplete(self, exc: json.JSONDecodeError) -> bool:
        # Truncated input fails at the very end, or inside a string still open there.
        return not self.eof and (
            exc.pos >= len(self.buf) - 1 or exc.msg.startswith("Unterminated string")
        )


def iter_values(stream: TextIO, *, chunk: int = CHUNK) -> Iterator[Value]:
    """The file's values in order; array elements one by one; ``chunk`` characters a read."""
    reader = _Reader(stream, chunk)
    while True:
        first = reader.peek()
        if not first:
            return
        line = reader.line
        if first == "[":
            reader.advance(reader.pos + 1)
            ended = yield from _array(reader)
            if not ended:
                return
            continue
        if first != "{":
            yield Value(line, error="expected a JSON object or array")
            reader.skip_line()
            continue
        decoded = reader.decode()
        if isinstance(decoded, str):
            yield Value(line, error=decoded)
            reader.skip_line()
            continue
        yield Value(line, decoded[0], decoded[1])


def _array(reader: _Reader) -> Generator[Value, None, bool]:
    """An array's elements after its ``[``; returns whether it was read to its ``]``."""
    if reader.peek() == "]":
        reader.advance(reader.pos + 1)
        return True
    while True:
        if not reader.peek():
            yield Value(reader.line, error="the array is not closed: the file ends inside it")
            return False
        line = reader.line
        decoded = reader.decode()
        if isinstance(decoded, str):
            yield Value(line, error=f"{decoded}; the rest of the array cannot be read")
            return False
        yield Value(line, decoded[0], decoded[1])
        after = reader.peek()
        if after == "]":
            reader.advance(reader.pos + 1)
            return True
        if not after:
            yield Value(reader.line, error="the array is not closed: the file ends inside it")
            return False
        if after != ",":
            yield Value(
                reader.line,
                error=f"expected ',' or ']' after an array element, found {after!r}; "
                "the rest of the array cannot be read",
            )
            return False
        reader.advance(reader.pos + 1)
