"""What a request plays and listens for: play sources, recognition choices, DTMF tones.

The names and arguments are those of Microsoft's SDK (``FileSource(url)``,
``TextSource(text=..., voice_name=...)``, ``RecognitionChoice(label, phrases, tone)``,
``DtmfTone.POUND``), so code written against its documentation reads the same here. Each knows
its wire form (:meth:`to_wire`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DtmfTone(StrEnum):
    """A DTMF tone as GA Call Automation names it on the wire."""

    ZERO = "zero"
    ONE = "one"
    TWO = "two"
    THREE = "three"
    FOUR = "four"
    FIVE = "five"
    SIX = "six"
    SEVEN = "seven"
    EIGHT = "eight"
    NINE = "nine"
    A = "a"
    B = "b"
    C = "c"
    D = "d"
    POUND = "pound"
    ASTERISK = "asterisk"


_BY_DIGIT = {
    **{str(i): tone for i, tone in enumerate(list(DtmfTone)[:10])},
    "a": DtmfTone.A, "b": DtmfTone.B, "c": DtmfTone.C, "d": DtmfTone.D,
    "#": DtmfTone.POUND, "*": DtmfTone.ASTERISK,
}


def tone(value: DtmfTone | str) -> DtmfTone:
    """A tone from its name (``"pound"``) or its key (``"#"``, ``"1"``); ValueError if neither."""
    if isinstance(value, DtmfTone):
        return value
    text = str(value).strip().lower()
    if text in _BY_DIGIT:
        return _BY_DIGIT[text]
    try:
        return DtmfTone(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a DTMF tone (0-9, a-d, #, * or their names)") from None


class RecognizeInputType(StrEnum):
    """What ``start_recognizing_media`` listens for."""

    DTMF = "dtmf"
    SPEECH = "speech"
    SPEECH_OR_DTMF = "speechOrDtmf"
    CHOICES = "choices"


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class FileSource:
    """An audio file to play (WAV, mono, 16-bit, 16 kHz), by URL."""

    url: str
    play_source_cache_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The play source as the REST API expects it."""
        return _compact({"kind": "file", "playSourceCacheId": self.play_source_cache_id,
                         "file": {"uri": self.url}})


@dataclass(frozen=True, slots=True)
class TextSource:
    """Text to speak: a voice by name, or a locale and a voice kind (needs cognitive services)."""

    text: str
    source_locale: str | None = None
    voice_kind: str | None = None
    voice_name: str | None = None
    custom_voice_endpoint_id: str | None = None
    play_source_cache_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The play source as the REST API expects it."""
        inner = _compact({"text": self.text, "sourceLocale": self.source_locale,
                          "voiceKind": self.voice_kind, "voiceName": self.voice_name,
                          "customVoiceEndpointId": self.custom_voice_endpoint_id})
        return _compact({"kind": "text", "playSourceCacheId": self.play_source_cache_id,
                         "text": inner})


@dataclass(frozen=True, slots=True)
class SsmlSource:
    """SSML to speak (needs cognitive services)."""

    ssml_text: str
    custom_voice_endpoint_id: str | None = None
    play_source_cache_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The play source as the REST API expects it."""
        inner = _compact({"ssmlText": self.ssml_text,
                          "customVoiceEndpointId": self.custom_voice_endpoint_id})
        return _compact({"kind": "ssml", "playSourceCacheId": self.play_source_cache_id,
                         "ssml": inner})


PlaySource = FileSource | TextSource | SsmlSource
"""Anything ``play_media`` plays."""


def play_sources(value: PlaySource | Sequence[PlaySource]) -> list[dict[str, Any]]:
    """One source or a list of them, on the wire; ValueError for anything else or none."""
    items = [value] if isinstance(value, FileSource | TextSource | SsmlSource) else list(value)
    if not items:
        raise ValueError("play_source must name at least one source")
    for item in items:
        if not isinstance(item, FileSource | TextSource | SsmlSource):
            raise ValueError(
                f"play sources are FileSource, TextSource or SsmlSource, not {type(item).__name__}"
            )
    return [item.to_wire() for item in items]


def needs_cognitive_services(value: PlaySource | Sequence[PlaySource] | None) -> bool:
    """Whether playing ``value`` needs the call's cognitive services (text and SSML do)."""
    if value is None:
        return False
    items = [value] if isinstance(value, FileSource | TextSource | SsmlSource) else list(value)
    return any(not isinstance(item, FileSource) for item in items)


@dataclass(frozen=True, slots=True)
class RecognitionChoice:
    """One answer a ``choices`` recognition listens for: spoken phrases and/or a key."""

    label: str
    phrases: Sequence[str] = field(default_factory=tuple)
    tone: DtmfTone | str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The choice as the REST API expects it."""
        return _compact({"label": self.label, "phrases": list(self.phrases),
                         "tone": tone(self.tone).value if self.tone is not None else None})
