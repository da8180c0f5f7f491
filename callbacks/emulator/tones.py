"""DTMF tone names: what users may write, what the 2021 dialect sends (``Tone1``, ``Pound``)
and what GA sends and accepts (``one``, ``pound``, ``asterisk``).

Tones are kept in the 2021 spelling inside the emulator; :func:`ga_tone` gives the GA name.
"""

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
_GA_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_BY_NAME.update({name: f"Tone{digit}" for digit, name in enumerate(_GA_DIGITS)})
_GA_BY_WIRE = {
    **{f"Tone{digit}": name for digit, name in enumerate(_GA_DIGITS)},
    "Star": "asterisk",
    "Pound": "pound",
    **{c: c.lower() for c in "ABCD"},
}


def wire_tone(token: str) -> str:
    """One tone as the 2021 dialect names it; accepts ``1``, ``*``, ``#``, ``tone1``, ``one``,
    ``Star``."""
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


def ga_tone(wire: str) -> str | None:
    """The GA name of a tone in the 2021 spelling (``Tone1`` -> ``one``); None for ``Flash``."""
    return _GA_BY_WIRE.get(wire)
