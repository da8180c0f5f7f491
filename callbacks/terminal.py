"""Text that reaches a terminal: escaped, and laid out as tables with ``rich`` on a terminal.

Senders choose much of what the CLI and the logs print (an ``operationContext``, a call id, an
event type, a path context). A terminal obeys the control characters in it: an escape sequence
can retitle the window, recolour or clear the screen, and a newline can forge a table row or a
log line. :func:`printable` escapes every character that is not printable, so what reaches the
terminal is text and nothing else.

:class:`TableWriter` prints rows as they come. On a terminal they go through ``rich``, which
wraps long cells (``ContinuousDtmfRecognitionToneReceived``) within the terminal's width; off a
terminal (a pipe, a file, the tests) each row is one plain line, columns padded to their
nominal width and never cut, so ``grep`` and ``awk`` keep working and a long listing streams at
the speed of the log. Both print the cells through :func:`printable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    from rich.console import Console


def printable(value: object) -> str:
    """``value`` as text with every non-printable character escaped (``\\x1b``, ``\\n``)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (what a person reads), not a pipe or a file."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # closed
        return False


def console(stream: TextIO) -> Console:
    """A ``rich`` console on ``stream`` that takes no markup and adds no colour of its own."""
    from rich.console import Console  # here: the logs need printable() only, not rich

    return Console(
        file=stream, highlight=False, markup=False, emoji=False, soft_wrap=False,
        force_terminal=is_terminal(stream),
    )


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a :class:`TableWriter`."""

    header: str
    width: int | None = None
    """Fixed: a terminal never wraps it. None: it shares what is left, wrapping as needed."""
    plain: int = 0
    """Off a terminal, the width it is padded to (a longer cell is printed whole)."""
    justify: Literal["left", "right"] = "left"


class TableWriter:
    """Rows of a table printed as they come: ``rich`` on a terminal, plain lines otherwise.

    On a terminal, rows are drawn a batch at a time so a long listing shows as it is read. A
    table that fits in one batch takes the width its cells need; a longer one spans the
    terminal, its wrapping columns sharing the width equally, so that every batch lines up.
    """

    def __init__(
        self,
        out: TextIO,
        columns: Sequence[Column],
        *,
        header: bool = True,
        indent: int = 0,
        batch: int = 50,
    ) -> None:
        self._out = out
        self._columns = tuple(columns)
        self._header = header
        self._indent = indent
        self._batch = batch
        self._rows: list[tuple[str, ...]] = []
        self._expand = False
        self._console = console(out) if is_terminal(out) else None

    def add(self, *cells: object) -> None:
        """Add one row (cells in column order, made printable)."""
        row = tuple(printable(cell) for cell in cells)
        if self._console is None:
            self._plain_header()
            self._out.write(self._plain(row))
            return
        self._rows.append(row)
        if len(self._rows) >= self._batch:
            self._expand = True  # more may come: every batch spans the terminal alike
            self._draw()

    def close(self) -> None:
        """Print what is left (a table without rows still has its header)."""
        if self._console is None:
            self._plain_header()
        elif self._rows or self._header:
            self._draw()

    def _draw(self) -> None:
        from rich.padding import Padding
        from rich.table import Table
        from rich.text import Text

        assert self._console is not None
        table = Table(box=None, show_header=self._header, header_style="bold",
                      expand=self._expand, pad_edge=False, show_edge=False)
        for column in self._columns:
            if column.width is not None:
                table.add_column(column.header, width=column.width, no_wrap=True,
                                 justify=column.justify)
            else:
                table.add_column(column.header, ratio=1 if self._expand else None,
                                 overflow="fold", justify=column.justify)
        for row in self._rows:
            table.add_row(*(Text(cell) for cell in row))
        padded = Padding(table, (0, 0, 0, self._indent), expand=False) if self._indent else table
        self._console.print(padded)
        self._rows.clear()
        self._header = False

    def _plain_header(self) -> None:
        if self._header:
            self._out.write(self._plain(tuple(column.header for column in self._columns)))
            self._header = False

    def _plain(self, cells: tuple[str, ...]) -> str:
        parts = []
        for column, cell in zip(self._columns, cells, strict=True):
            width = column.width or column.plain
            parts.append(cell.rjust(width) if column.justify == "right" else cell.ljust(width))
        return " " * self._indent + "  ".join(parts).rstrip() + "\n"
