"""What a recognize operation heard: the data of ``RecognizeCompleted`` and its accessors.

A flow branches on one of three results: DTMF tones, a choice's label, or free speech. The
accessors of :class:`RecognizeData` read whichever result arrived and return None (or no tones) for
the others, so a handler need not test for each result object first. No I/O here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field

from callbacks.events.base import CallData, Tone, ToneValue, WireModel, _CaseInsensitiveEnum


class RecognitionType(_CaseInsensitiveEnum):
    """Which kind of input a ``RecognizeCompleted`` reports."""

    DTMF = "dtmf"
    SPEECH = "speech"
    CHOICES = "choices"


RecognitionTypeValue = Annotated[RecognitionType | str, Field(union_mode="left_to_right")]


class DtmfResult(WireModel):
    """Tones collected by a recognize operation."""

    tones: list[ToneValue] = Field(default_factory=list)


class ChoiceResult(WireModel):
    """Choice recognized by a recognize operation."""

    label: str | None = None
    recognized_phrase: str | None = None
    confidence: float | None = None


class SpeechResult(WireModel):
    """Speech recognized by a recognize operation."""

    speech: str | None = None
    confidence: float | None = None


class RecognizeData(CallData):
    """``RecognizeCompleted`` data (GA): ``tones``/``digits``, ``choice_label``, ``speech_text``."""

    recognition_type: RecognitionTypeValue | None = None
    dtmf_result: DtmfResult | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "dtmf_result", "dtmfResult", "DtmfResult", "collectTonesResult", "CollectTonesResult"
        ),
    )
    choice_result: ChoiceResult | None = None
    speech_result: SpeechResult | None = None

    @property
    def tones(self) -> list[str]:
        """The tones collected, as GA names them (``["one", "pound"]``); empty without DTMF."""
        if self.dtmf_result is None:
            return []
        return [t.ga_name if isinstance(t, Tone) else t for t in self.dtmf_result.tones]

    @property
    def digits(self) -> str | None:
        """The tones as keypad keys, ``"1#"`` (``?`` for an unknown tone); None without DTMF."""
        if self.dtmf_result is None:
            return None
        return "".join(t.digit if isinstance(t, Tone) else "?" for t in self.dtmf_result.tones)

    @property
    def choice_label(self) -> str | None:
        """The label of the choice recognized; None unless choices were recognized."""
        return self.choice_result.label if self.choice_result is not None else None

    @property
    def recognized_phrase(self) -> str | None:
        """The phrase that matched the choice; None unless a choice was recognized by speech."""
        return self.choice_result.recognized_phrase if self.choice_result is not None else None

    @property
    def speech_text(self) -> str | None:
        """The speech recognized, as text; None unless speech was recognized."""
        return self.speech_result.speech if self.speech_result is not None else None
