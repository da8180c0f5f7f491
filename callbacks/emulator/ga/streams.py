"""Media streaming and live transcription of one call: their state and their events, no audio.

Both need their options (a websocket ``transportUrl``) given when the call was created, answered
or connected; without them, starting posts MediaStreamingFailed / TranscriptionFailed with
``streamUrlMissing`` (400/8581). ``startMediaStreaming`` / ``startTranscription`` in those
options start them as the call connects. Starting what runs, or stopping or updating what does
not, is a 400 (8523). Transcription also needs the call's cognitive services endpoint (405/8522).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from callbacks.emulator.errors import BadRequest
from callbacks.emulator.ga import codes
from callbacks.emulator.ga.schemas import StreamingOptions, TranscriptionOptions

if TYPE_CHECKING:
    from callbacks.emulator.ga.connection import Connection


def _streaming_update(status: str, details: str) -> dict[str, Any]:
    return {
        "mediaStreamingUpdate": {
            "contentType": "Audio",
            "mediaStreamingStatus": status,
            "mediaStreamingStatusDetails": details,
        }
    }


def _transcription_update(status: str, details: str) -> dict[str, Any]:
    return {
        "transcriptionUpdate": {
            "transcriptionStatus": status,
            "transcriptionStatusDetails": details,
        }
    }


class Streams:
    """Whether media streaming and transcription run in one call."""

    def __init__(
        self,
        call: Connection,
        streaming: StreamingOptions | None,
        transcription: TranscriptionOptions | None,
    ) -> None:
        self._call = call
        self._streaming_options = streaming
        self._transcription_options = transcription
        self.streaming = False
        self.transcribing = False
        self.locale = transcription.locale if transcription else None
        self._streaming_id = str(uuid.uuid4())
        self._transcription_id = str(uuid.uuid4())

    def on_connected(self) -> None:
        """Start what the call's options ask to start with the call."""
        if self._streaming_options and self._streaming_options.start_media_streaming:
            self.start_streaming(None, None)
        if self._transcription_options and self._transcription_options.start_transcription:
            self.start_transcription(None, None, None)

    def start_streaming(self, context: str | None, url: str | None) -> None:
        """MediaStreamingStarted, or MediaStreamingFailed without a transport URL."""
        if self.streaming:
            raise BadRequest("media streaming is already started in this call", code="8523")
        options = self._streaming_options
        if options is None or not options.transport_url:
            self._call.emit(
                "MediaStreamingFailed",
                _streaming_update("mediaStreamingFailed", "streamUrlMissing"),
                operation_context=context, result=codes.STREAM_URL_MISSING, url=url,
            )
            return
        self.streaming = True
        self._call.emit(
            "MediaStreamingStarted",
            _streaming_update("mediaStreamingStarted", "subscriptionStarted"),
            operation_context=context, result=codes.COMPLETED, url=url,
        )

    def stop_streaming(self, context: str | None, url: str | None) -> None:
        """MediaStreamingStopped."""
        if not self.streaming:
            raise BadRequest("media streaming is not started in this call", code="8523")
        self.streaming = False
        self._call.emit(
            "MediaStreamingStopped",
            _streaming_update("mediaStreamingStopped", "subscriptionStopped"),
            operation_context=context, result=codes.COMPLETED, url=url,
        )

    def start_transcription(self, locale: str | None, context: str | None, url: str | None) -> None:
        """TranscriptionStarted, or TranscriptionFailed without a transport URL."""
        self._call.require_cognitive_services()
        if self.transcribing:
            raise BadRequest("transcription is already started in this call", code="8523")
        options = self._transcription_options
        if options is None or not options.transport_url:
            self._call.emit(
                "TranscriptionFailed",
                _transcription_update("transcriptionFailed", "streamUrlMissing"),
                operation_context=context, result=codes.STREAM_URL_MISSING, url=url,
            )
            return
        self.transcribing = True
        self.locale = locale or self.locale
        self._call.emit(
            "TranscriptionStarted",
            _transcription_update("transcriptionStarted", "subscriptionStarted"),
            operation_context=context, result=codes.COMPLETED, url=url,
        )

    def update_transcription(
        self, locale: str | None, context: str | None, url: str | None
    ) -> None:
        """TranscriptionUpdated (a new locale)."""
        if not self.transcribing:
            raise BadRequest("transcription is not started in this call", code="8523")
        self.locale = locale or self.locale
        self._call.emit(
            "TranscriptionUpdated",
            _transcription_update("transcriptionUpdated", "transcriptionLocaleUpdated"),
            operation_context=context, result=codes.COMPLETED, url=url,
        )

    def stop_transcription(self, context: str | None, url: str | None) -> None:
        """TranscriptionStopped."""
        if not self.transcribing:
            raise BadRequest("transcription is not started in this call", code="8523")
        self.transcribing = False
        self._call.emit(
            "TranscriptionStopped",
            _transcription_update("transcriptionStopped", "subscriptionStopped"),
            operation_context=context, result=codes.COMPLETED, url=url,
        )

    def subscriptions(self) -> dict[str, Any]:
        """The ``mediaStreamingSubscription`` / ``transcriptionSubscription`` properties."""
        wire: dict[str, Any] = {}
        if self._streaming_options is not None:
            wire["mediaStreamingSubscription"] = {
                "id": self._streaming_id,
                "state": "active" if self.streaming else "inactive",
                "subscribedContentTypes": ["audio"],
            }
        if self._transcription_options is not None:
            wire["transcriptionSubscription"] = {
                "id": self._transcription_id,
                "state": "active" if self.transcribing else "inactive",
                "subscribedResultTypes": ["final"],
                "locale": self.locale,
            }
        return wire

    def to_json(self) -> dict[str, Any]:
        """What the control API shows."""
        return {"media_streaming": self.streaming, "transcription": self.transcribing}
