"""What reaches a terminal: sender text escaped; tables wrapped by rich there, plain elsewhere."""

from __future__ import annotations

import io
import re

import pytest

from callbacks.terminal import Column, TableWriter, printable

SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own colours and bold: the only escapes allowed
HOSTILE = "ctx\x1b]0;pwned\x07\r\n      99  FORGED\u202e\x9b2J\x00"


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_printable_escapes_every_control_character_and_keeps_the_rest() -> None:
    assert printable("reminder:prompt:1/3 café ☎") == "reminder:prompt:1/3 café ☎"
    assert printable(HOSTILE) == (
        "ctx\\x1b]0;pwned\\x07\\r\\n      99  FORGED\\u202e\\x9b2J\\x00"
    )
    assert printable(42) == "42"


COLUMNS = (Column("SEQ", width=4, justify="right"), Column("TYPE", plain=12),
           Column("CONTEXT", plain=8), Column("ID"))


def test_off_a_terminal_each_row_is_one_plain_line_never_cut() -> None:
    out = io.StringIO()
    table = TableWriter(out, COLUMNS)
    table.add(1, "ContinuousDtmfRecognitionToneReceived", HOSTILE, "id-1")
    table.add(22, "PlayCompleted", "-", "id-2")
    table.close()
    assert out.getvalue().splitlines() == [
        " SEQ  TYPE          CONTEXT   ID",
        "   1  ContinuousDtmfRecognitionToneReceived  " + printable(HOSTILE) + "  id-1",
        "  22  PlayCompleted  -         id-2",
    ]


def test_an_empty_table_off_a_terminal_still_has_its_header() -> None:
    out = io.StringIO()
    TableWriter(out, COLUMNS).close()
    assert out.getvalue() == " SEQ  TYPE          CONTEXT   ID\n"


@pytest.mark.parametrize("rows", [2, 120])  # one batch at its own width; several, spanning
def test_on_a_terminal_long_cells_wrap_within_the_width_and_nothing_escapes(
    monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = Terminal()
    table = TableWriter(out, COLUMNS)
    for n in range(rows):
        table.add(n, "ContinuousDtmfRecognitionToneReceived", HOSTILE, f"id-{n}")
    table.close()
    text = SGR.sub("", out.getvalue())
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "\r" not in text and "\u202e" not in text
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert lines[0].split() == ["SEQ", "TYPE", "CONTEXT", "ID"]
    assert sum(1 for line in lines if line.split()[:1] == ["SEQ"]) == 1  # one header
    start, end = lines[0].index("TYPE"), lines[0].index("CONTEXT")
    first_row = [lines[1]]
    for line in lines[2:]:
        if line[:4].strip():  # the next row
            break
        first_row.append(line)
    wrapped = "".join(line[start:end].strip() for line in first_row)
    assert wrapped == "ContinuousDtmfRecognitionToneReceived"  # wrapped, not cut
    assert len(first_row) > 1
    # each batch lines up with the first: the ID column starts where its header does
    starts = {line.index("id-") for line in lines if "id-" in line}
    assert starts == {lines[0].index("ID")}
