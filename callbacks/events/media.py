"""Event models of GA Call Automation's media operations: play, recognize, DTMF tones, hold audio,
media streaming and transcription (CloudEvents, camelCase data). No I/O.
"""

from __future__ import annotations

from callbacks.events.base import CallData, Event
from callbacks.events.data import (
    CallSummaryData,
    ContinuousToneData,
    FailedPlayData,
    MediaStreamingData,
    TranscriptionData,
)
from callbacks.events.recognition import RecognitionTypeValue, RecognizeData


class PlayStarted(Event):
    """Playing started (GA)."""

    TYPE = "PlayStarted"
    data: CallData


class PlayCompleted(Event):
    """Playing completed (GA)."""

    TYPE = "PlayCompleted"
    data: CallData


class PlayCanceled(Event):
    """Playing was cancelled (GA)."""

    TYPE = "PlayCanceled"
    data: CallData


class PlayFailed(Event):
    """Playing failed (GA)."""

    TYPE = "PlayFailed"
    data: FailedPlayData


class PlayPaused(Event):
    """Playing was paused (GA)."""

    TYPE = "PlayPaused"
    data: CallData


class PlayResumed(Event):
    """Paused playing resumed (GA)."""

    TYPE = "PlayResumed"
    data: CallData


class RecognizeCompleted(Event):
    """Input was recognized (GA): ``digits``/``tones``, ``choice_label`` or ``speech_text``."""

    TYPE = "RecognizeCompleted"
    data: RecognizeData

    @property
    def recognition_type(self) -> RecognitionTypeValue | None:
        """``dtmf``, ``speech`` or ``choices``: which result the event carries."""
        return self.data.recognition_type

    @property
    def tones(self) -> list[str]:
        """The tones collected, as GA names them (``["one", "pound"]``); empty without DTMF."""
        return self.data.tones

    @property
    def digits(self) -> str | None:
        """The tones as keypad keys, ``"1#"`` (``?`` for an unknown tone); None without DTMF."""
        return self.data.digits

    @property
    def choice_label(self) -> str | None:
        """The label of the choice recognized; None unless choices were recognized."""
        return self.data.choice_label

    @property
    def recognized_phrase(self) -> str | None:
        """The phrase that matched the choice; None unless a choice was recognized by speech."""
        return self.data.recognized_phrase

    @property
    def speech_text(self) -> str | None:
        """The speech recognized, as text; None unless speech was recognized."""
        return self.data.speech_text


class RecognizeFailed(Event):
    """Recognition failed (GA)."""

    TYPE = "RecognizeFailed"
    data: FailedPlayData


class RecognizeCanceled(Event):
    """Recognition was cancelled (GA)."""

    TYPE = "RecognizeCanceled"
    data: CallData


class ContinuousDtmfRecognitionToneReceived(Event):
    """A tone arrived during continuous DTMF recognition (GA)."""

    TYPE = "ContinuousDtmfRecognitionToneReceived"
    data: ContinuousToneData


class ContinuousDtmfRecognitionToneFailed(Event):
    """Continuous DTMF recognition failed (GA)."""

    TYPE = "ContinuousDtmfRecognitionToneFailed"
    data: CallData


class ContinuousDtmfRecognitionStopped(Event):
    """Continuous DTMF recognition stopped (GA)."""

    TYPE = "ContinuousDtmfRecognitionStopped"
    data: CallData


class SendDtmfTonesCompleted(Event):
    """Sending DTMF tones completed (GA)."""

    TYPE = "SendDtmfTonesCompleted"
    data: CallData


class SendDtmfTonesFailed(Event):
    """Sending DTMF tones failed (GA)."""

    TYPE = "SendDtmfTonesFailed"
    data: CallData


class HoldAudioStarted(Event):
    """The audio played to a participant on hold (``hold(play_source=...)``) started (GA)."""

    TYPE = "HoldAudioStarted"
    data: CallData


class HoldAudioPaused(Event):
    """The audio played to a participant on hold was paused (GA)."""

    TYPE = "HoldAudioPaused"
    data: CallData


class HoldAudioResumed(Event):
    """The audio played to a participant on hold resumed (GA)."""

    TYPE = "HoldAudioResumed"
    data: CallData


class HoldAudioCompleted(Event):
    """The audio played to a participant on hold ended (GA)."""

    TYPE = "HoldAudioCompleted"
    data: CallData


class MediaStreamingStarted(Event):
    """Media streaming started (GA)."""

    TYPE = "MediaStreamingStarted"
    data: MediaStreamingData


class MediaStreamingStopped(Event):
    """Media streaming stopped (GA)."""

    TYPE = "MediaStreamingStopped"
    data: MediaStreamingData


class MediaStreamingFailed(Event):
    """Media streaming failed (GA)."""

    TYPE = "MediaStreamingFailed"
    data: MediaStreamingData


class TranscriptionStarted(Event):
    """Transcription started (GA)."""

    TYPE = "TranscriptionStarted"
    data: TranscriptionData


class TranscriptionStopped(Event):
    """Transcription stopped (GA)."""

    TYPE = "TranscriptionStopped"
    data: TranscriptionData


class TranscriptionUpdated(Event):
    """Transcription status changed (GA)."""

    TYPE = "TranscriptionUpdated"
    data: TranscriptionData


class TranscriptionFailed(Event):
    """Transcription failed (GA)."""

    TYPE = "TranscriptionFailed"
    data: TranscriptionData


class TranscriptionCallSummaryUpdated(Event):
    """A summary of the transcribed call is ready or changed (GA)."""

    TYPE = "TranscriptionCallSummaryUpdated"
    data: CallSummaryData
