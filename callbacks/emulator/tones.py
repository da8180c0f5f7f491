"""DTMF tone names: what users may write, and what the 2021 dialect sends (``Tone1``, ``Pound``)."""

from __future__ import annotations

from collections.abc import Sequence

_BY_CHAR = {
    **{str(d): f"Tone{d}" for d in range(10)},
    "*": "Star",
    "#": "Pound",
    "A": "A",
    "B": "B",
    "C": "C",
    "D": "D",
}
_BY_NAME = {
    **{f"tone{d}": f"Tone{d}" for d in range(10)},
    "star": "Star",
    "asterisk": "Star",
    "pound": "Pound",
    "hash": "Pound",
    "flash": "Flash",
    **{c.lower(): c for c in "ABCD"},
}


def wire_tone(token: str) -> str:
    """One tone as the 2021 dialect names it; accepts ``1``, ``*``, ``#``, ``tone1``, ``Star``."""
    name = _BY_CHAR.get(token.upper()) or _BY_NAME.get(token.lower())
    if name is None:
        raise ValueError(
            f"unknown DTMF tone {token!r}: use 0-9, *, #, A-D or names like tone1, star, pound"
        )
    return name


def parse_tones(tones: str | Sequence[str]) -> list[str]:
    """``"12#"`` (one tone per character) or ``["tone1", "pound"]`` (one per item) as wire names."""
    tokens = list(tones)
    if not tokens:
        raise ValueError("no DTMF tones given")
    return [wire_tone(token) for token in tokens]
