"""Text that reaches a terminal: sender-controlled text escaped.

Senders choose much of what the CLI and the logs print (an ``operationContext``, a call id, an
event type, a path context). A terminal obeys the control characters in it: an escape sequence
can retitle the window, recolour or clear the screen, and a newline can forge a table row or a
log line. :func:`printable` escapes every character that is not printable, so what reaches the
terminal is text and nothing else.
"""

from __future__ import annotations


def printable(value: object) -> str:
    """``value`` as text with every non-printable character escaped (``\\x1b``, ``\\n``)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
