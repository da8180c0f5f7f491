"""Request bodies of the GA media operations: play, recognize, DTMF, hold, streaming, transcription.

Play sources are ``{"kind": "file"|"text"|"ssml", "file": {"uri"}, "text": {"text", ...},
"ssml": {"ssmlText"}}``; tones are GA names (``one``, ``pound``, ``asterisk``), kept inside the
emulator in the 2021 spelling (``Tone1``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from callbacks.emulator.ga.schemas import Body, OperationBody
from callbacks.emulator.schemas import absolute_url
from callbacks.emulator.tones import parse_tones, wire_tone
from callbacks.identifiers import Identifier

InputType = Literal["dtmf", "speech", "speechOrDtmf", "choices"]


def _tone_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("expected a list of tone names such as 'one' or 'pound'")
    return parse_tones(value) if value else []


class FileSource(Body):
    """``file``."""

    uri: str

    @field_validator("uri")
    @classmethod
    def _check_uri(cls, value: str) -> str:
        return absolute_url(value)


class TextSource(Body):
    """``text``: text to speech."""

    text: str = Field(min_length=1)
    source_locale: str | None = Field(default=None, alias="sourceLocale")
    voice_kind: str | None = Field(default=None, alias="voiceKind")
    voice_name: str | None = Field(default=None, alias="voiceName")


class SsmlSource(Body):
    """``ssml``."""

    ssml_text: str = Field(alias="ssmlText", min_length=1)


class PlaySource(Body):
    """One prompt: a file, text, or SSML."""

    kind: Literal["file", "text", "ssml"]
    file: FileSource | None = None
    text: TextSource | None = None
    ssml: SsmlSource | None = None

    @model_validator(mode="after")
    def _matching_source(self) -> PlaySource:
        if getattr(self, self.kind) is None:
            raise ValueError(f"a source of kind {self.kind!r} needs its {self.kind!r} object")
        return self

    @property
    def needs_cognitive_services(self) -> bool:
        """Text and SSML are spoken by Azure AI Speech."""
        return self.kind != "file"

    def describe(self) -> str:
        """A short description for the control API."""
        if self.file is not None:
            return self.file.uri
        if self.text is not None:
            return f"text: {self.text.text}"
        return "ssml"


class PlayOptions(Body):
    """``playOptions``."""

    loop: bool = False


class PlayBody(OperationBody):
    """``POST /calling/callConnections/{id}:play``."""

    play_sources: list[PlaySource] = Field(alias="playSources", min_length=1, max_length=10)
    play_to: list[Identifier] = Field(default_factory=list, alias="playTo")
    play_options: PlayOptions = Field(default_factory=PlayOptions, alias="playOptions")
    interrupt: bool = Field(default=False, alias="interruptCallMediaOperation")


class DtmfOptions(Body):
    """``recognizeOptions.dtmfOptions``."""

    inter_tone_timeout: int | None = Field(
        default=None, alias="interToneTimeoutInSeconds", ge=1, le=60
    )
    max_tones: int | None = Field(default=None, alias="maxTonesToCollect", ge=1)
    stop_tones: list[str] = Field(default_factory=list, alias="stopTones")

    @field_validator("stop_tones", mode="before")
    @classmethod
    def _stop_tones(cls, value: Any) -> list[str]:
        return [] if value is None else _tone_list(value)


class Choice(Body):
    """One ``choices`` entry: a label, the phrases that pick it, and a tone that does."""

    label: str = Field(min_length=1)
    phrases: list[str] = Field(min_length=1)
    tone: str | None = None

    @field_validator("tone", mode="before")
    @classmethod
    def _tone(cls, value: Any) -> str | None:
        return None if value is None else wire_tone(str(value))


class RecognizeOptions(Body):
    """``recognizeOptions``."""

    target_participant: Identifier = Field(alias="targetParticipant")
    interrupt_prompt: bool = Field(default=False, alias="interruptPrompt")
    initial_silence_timeout: int | None = Field(
        default=None, alias="initialSilenceTimeoutInSeconds", ge=0, le=300
    )
    speech_language: str | None = Field(default=None, alias="speechLanguage")
    dtmf_options: DtmfOptions | None = Field(default=None, alias="dtmfOptions")
    choices: list[Choice] = Field(default_factory=list)

    @field_validator("choices", mode="before")
    @classmethod
    def _no_choices(cls, value: Any) -> Any:
        return [] if value is None else value


class RecognizeBody(OperationBody):
    """``POST /calling/callConnections/{id}:recognize``."""

    input_type: InputType = Field(alias="recognizeInputType")
    play_prompt: PlaySource | None = Field(default=None, alias="playPrompt")
    play_prompts: list[PlaySource] = Field(default_factory=list, alias="playPrompts")
    interrupt: bool = Field(default=False, alias="interruptCallMediaOperation")
    options: RecognizeOptions = Field(alias="recognizeOptions")

    @model_validator(mode="after")
    def _complete(self) -> RecognizeBody:
        if self.input_type in ("dtmf", "speechOrDtmf"):
            dtmf = self.options.dtmf_options
            if dtmf is None or dtmf.max_tones is None:
                raise ValueError(
                    "recognizeOptions.dtmfOptions.maxTonesToCollect: required for "
                    f"{self.input_type} recognition"
                )
        if self.input_type == "choices" and not self.options.choices:
            raise ValueError("recognizeOptions.choices: required for choices recognition")
        return self

    @property
    def prompts(self) -> list[PlaySource]:
        """Every prompt, ``playPrompt`` first."""
        return [*([self.play_prompt] if self.play_prompt else []), *self.play_prompts]


class ParticipantBody(OperationBody):
    """Start or stop continuous DTMF recognition, and unhold: one target participant."""

    target_participant: Identifier = Field(alias="targetParticipant")


class SendDtmfBody(OperationBody):
    """``POST .../{id}:sendDtmfTones``."""

    tones: list[str] = Field(min_length=1, max_length=18)
    target_participant: Identifier = Field(alias="targetParticipant")

    @field_validator("tones", mode="before")
    @classmethod
    def _tones(cls, value: Any) -> list[str]:
        return _tone_list(value)


class HoldBody(ParticipantBody):
    """``POST .../{id}:hold``: hold music optional."""

    play_source: PlaySource | None = Field(default=None, alias="playSourceInfo")


class TranscriptionBody(OperationBody):
    """Start, stop and update transcription."""

    locale: str | None = None
