"""The shell commands of README.md and docs/*.md, as a reader would copy them.

A command is a line of a ``sh``/``bash``/``shell`` block (its ``\\`` continuations joined,
here-document bodies left out), a ``$ `` line of a ``console`` block, or an inline code span
that starts with ``callbacks `` or ``python `` (after ``NAME=value`` assignments, if any).
Each is split into simple commands (``&&``, ``|``, ``;``, ``&``, ``$(...)``), with leading
``NAME=value`` assignments dropped.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = {"sh", "bash", "shell"}
_FENCE = re.compile(r"^```(\w*)\s*$")
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
_SPAN = re.compile(r"`((?:\w+=\S+ )*(?:callbacks|python3?) [^`]+)`")
_OPERATORS = {"&&", "||", "|", ";", "&", "(", ")", ";;", "|&"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Block:
    """A fenced code block: where it starts, its language, its text."""

    path: Path
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        """``docs/flows.md:197``."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Command:
    """One command line of the documentation."""

    where: str
    text: str


def blocks(path: Path) -> list[Block]:
    """Every fenced code block of ``path``."""
    found: list[Block] = []
    language, start, lines = None, 0, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = _FENCE.match(line)
        if language is None and fence:
            language, start, lines = fence.group(1), number, []
        elif language is not None and line.strip() == "```":
            found.append(Block(path, start, language, "\n".join(lines)))
            language = None
        elif language is not None:
            lines.append(line)
    return found


def _logical_lines(text: str, start: int) -> Iterator[tuple[int, str]]:
    """Lines with their ``\\`` continuations joined, here-document bodies left out."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        first = i
        line = lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        i += 1
        heredoc = _HEREDOC.search(line)
        if heredoc:
            while i < len(lines) and lines[i].strip() != heredoc.group(1):
                i += 1
            i += 1
        yield start + first + 1, line


def commands(path: Path) -> list[Command]:
    """Every command line of ``path``: shell blocks, ``$`` lines of console blocks, spans."""
    found: list[Command] = []
    relative = path.relative_to(ROOT)
    for block in blocks(path):
        if block.language in SHELLS:
            found += [Command(f"{relative}:{n}", line)
                      for n, line in _logical_lines(block.text, block.line) if line.strip()]
        elif block.language == "console":
            for n, line in _logical_lines(block.text, block.line):
                if line.startswith("$ "):
                    found.append(Command(f"{relative}:{n}", line[2:]))
    prose = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    for span in _SPAN.finditer(prose):
        text = " ".join(span.group(1).split())
        found.append(Command(f"{relative} `{text[:40]}`", text))
    return found


def simple_commands(line: str) -> list[list[str]]:
    """The simple commands of a command line, each as its words.

    A part that starts with a flag continues the one before it: a synopsis's alternatives
    (``ID... | --dead``), not a command of its own.
    """
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    parts: list[list[str]] = [[]]
    for token in lexer:
        if token in _OPERATORS or token.startswith(("<", ">")):
            parts.append([])
        else:
            parts[-1].append(token)
    merged: list[list[str]] = []
    for part in parts:
        while part and _ASSIGNMENT.match(part[0]) and not part[0].startswith("-"):
            part = part[1:]
        if not part:
            continue
        if merged and part[0].startswith("-"):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def shell_blocks(path: Path, containing: str) -> list[Block]:
    """The shell blocks of ``path`` whose text contains ``containing``."""
    return [b for b in blocks(path) if b.language in SHELLS and containing in b.text]
