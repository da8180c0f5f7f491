"""A GA call's media: play, recognize, cancel, DTMF, hold, media streaming, transcription.

:class:`CallMedia` is the base of :class:`~callbacks.client.connection.CallConnection` (the SDK
keeps these on a call media client of its own; one object is simpler for handlers). Of these
operations the service de-duplicates only ``send_dtmf_tones``: a repeated play plays again,
which is what the event log's record of a handler run's requests guards against (see
:mod:`callbacks.client.pipeline`). Results arrive as callbacks (PlayCompleted,
RecognizeCompleted, ...) carrying the request's ``operation_context``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from callbacks.client.models import SendDtmfTonesResult
from callbacks.client.pipeline import Pipeline, parse, segment
from callbacks.client.sources import (
    DtmfTone,
    PlaySource,
    RecognitionChoice,
    RecognizeInputType,
    play_sources,
    tone,
)
from callbacks.identifiers import Identifier, identifier


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class CallMedia:
    """The media operations of one call; the base of ``CallConnection``."""

    __slots__ = ("_path", "_pipeline", "call_connection_id")

    def __init__(self, pipeline: Pipeline, call_connection_id: str) -> None:
        self._path = "/calling/callConnections/" + segment(
            call_connection_id, "call_connection_id"
        )
        self._pipeline = pipeline
        self.call_connection_id = call_connection_id

    @property
    def api_version(self) -> str:
        """The API version this call is addressed in."""
        return self._pipeline.version

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(call_connection_id={self.call_connection_id!r}, "
            f"api_version={self.api_version!r})"
        )

    async def play_media(
        self,
        play_source: PlaySource | Sequence[PlaySource],
        play_to: Literal["all"] | Sequence[Identifier | str] = "all",
        *,
        loop: bool = False,
        operation_context: str | None = None,
        operation_callback_url: str | None = None,
        interrupt_call_media_operation: bool = False,
    ) -> None:
        """Play to everyone (``play_to`` left out or ``"all"``) or to some participants."""
        everyone = isinstance(play_to, str)
        if everyone and play_to != "all":
            raise ValueError('play_to is "all" or a list of participants')
        body = _compact({
            "playSources": play_sources(play_source),
            "playTo": [] if everyone else [identifier(p).to_wire() for p in play_to],
            "interruptCallMediaOperation": interrupt_call_media_operation and everyone,
            "playOptions": {"loop": loop},
            "operationContext": operation_context,
            "operationCallbackUri": operation_callback_url,
        })
        await self._pipeline.send("play_media", "POST", f"{self._path}:play", body)

    async def play_media_to_all(
        self,
        play_source: PlaySource | Sequence[PlaySource],
        *,
        loop: bool = False,
        operation_context: str | None = None,
        operation_callback_url: str | None = None,
        interrupt_call_media_operation: bool = False,
    ) -> None:
        """``play_media`` to everyone (the SDK's earlier name, kept for its samples)."""
        await self.play_media(
            play_source, "all", loop=loop, operation_context=operation_context,
            operation_callback_url=operation_callback_url,
            interrupt_call_media_operation=interrupt_call_media_operation,
        )

    async def start_recognizing_media(
        self,
        input_type: RecognizeInputType | str,
        target_participant: Identifier | str,
        *,
        initial_silence_timeout: int | None = None,
        play_prompt: PlaySource | Sequence[PlaySource] | None = None,
        interrupt_call_media_operation: bool = False,
        operation_context: str | None = None,
        interrupt_prompt: bool = False,
        dtmf_inter_tone_timeout: int | None = None,
        dtmf_max_tones_to_collect: int | None = None,
        dtmf_stop_tones: Sequence[DtmfTone | str] | None = None,
        speech_language: str | None = None,
        choices: Sequence[RecognitionChoice] | None = None,
        end_silence_timeout: int | None = None,
        speech_recognition_model_endpoint_id: str | None = None,
        operation_callback_url: str | None = None,
    ) -> None:
        """Listen to a participant for DTMF, speech, either, or one of ``choices``, after an
        optional ``play_prompt``; RecognizeCompleted or RecognizeFailed follows."""
        kind = RecognizeInputType(input_type)
        dtmf = _compact({
            "interToneTimeoutInSeconds": dtmf_inter_tone_timeout,
            "maxTonesToCollect": dtmf_max_tones_to_collect,
            "stopTones": [tone(t).value for t in dtmf_stop_tones] if dtmf_stop_tones else None,
        })
        speech = _compact({
            "endSilenceTimeoutInMs": end_silence_timeout * 1000
            if end_silence_timeout is not None else None,
        })
        options: dict[str, Any] = _compact({
            "interruptPrompt": interrupt_prompt,
            "initialSilenceTimeoutInSeconds": initial_silence_timeout,
            "targetParticipant": identifier(target_participant).to_wire(),
            "speechLanguage": speech_language,
            "speechRecognitionModelEndpointId": speech_recognition_model_endpoint_id,
        })
        if kind in (RecognizeInputType.DTMF, RecognizeInputType.SPEECH_OR_DTMF):
            options["dtmfOptions"] = dtmf
        if kind in (RecognizeInputType.SPEECH, RecognizeInputType.SPEECH_OR_DTMF):
            options["speechOptions"] = speech
        if kind is RecognizeInputType.CHOICES:
            if not choices:
                raise ValueError("a choices recognition needs at least one RecognitionChoice")
            options["choices"] = [choice.to_wire() for choice in choices]
        prompt = play_sources(play_prompt) if play_prompt is not None else None
        body = _compact({
            "recognizeInputType": kind.value,
            "playPrompt": prompt[0] if prompt is not None and len(prompt) == 1 else None,
            "playPrompts": prompt if prompt is not None and len(prompt) > 1 else None,
            "interruptCallMediaOperation": interrupt_call_media_operation,
            "recognizeOptions": options,
            "operationContext": operation_context,
            "operationCallbackUri": operation_callback_url,
        })
        await self._pipeline.send("start_recognizing_media", "POST", f"{self._path}:recognize",
                                  body)

    async def cancel_all_media_operations(self) -> None:
        """Stop what plays or listens; PlayCanceled / RecognizeCanceled follow."""
        await self._pipeline.send("cancel_all_media_operations", "POST",
                                  f"{self._path}:cancelAllMediaOperations")

    async def start_continuous_dtmf_recognition(
        self, target_participant: Identifier | str, *, operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> None:
        """Report each key the participant presses (ContinuousDtmfRecognitionToneReceived)."""
        await self._continuous(
            "start_continuous_dtmf_recognition", ":startContinuousDtmfRecognition",
            target_participant, operation_context, operation_callback_url,
        )

    async def stop_continuous_dtmf_recognition(
        self, target_participant: Identifier | str, *, operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> None:
        """Stop reporting keys; ContinuousDtmfRecognitionStopped follows."""
        await self._continuous(
            "stop_continuous_dtmf_recognition", ":stopContinuousDtmfRecognition",
            target_participant, operation_context, operation_callback_url,
        )

    async def _continuous(
        self, operation: str, action: str, target: Identifier | str,
        operation_context: str | None, operation_callback_url: str | None,
    ) -> None:
        body = _compact({"targetParticipant": identifier(target).to_wire(),
                         "operationContext": operation_context,
                         "operationCallbackUri": operation_callback_url})
        await self._pipeline.send(operation, "POST", f"{self._path}{action}", body)

    async def send_dtmf_tones(
        self,
        tones: Sequence[DtmfTone | str],
        target_participant: Identifier | str,
        *,
        operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> SendDtmfTonesResult:
        """Send tones to a participant; SendDtmfTonesCompleted or ...Failed follows."""
        body = _compact({"tones": [tone(t).value for t in tones],
                         "targetParticipant": identifier(target_participant).to_wire(),
                         "operationContext": operation_context,
                         "operationCallbackUri": operation_callback_url})
        response = await self._pipeline.send("send_dtmf_tones", "POST",
                                             f"{self._path}:sendDtmfTones", body, repeatable=True)
        return parse(SendDtmfTonesResult, response)

    async def hold(
        self,
        target_participant: Identifier | str,
        *,
        play_source: PlaySource | None = None,
        operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> None:
        """Put a participant on hold, with music from ``play_source`` if given."""
        body = _compact({
            "targetParticipant": identifier(target_participant).to_wire(),
            "playSourceInfo": play_sources(play_source)[0] if play_source is not None else None,
            "operationContext": operation_context,
            "operationCallbackUri": operation_callback_url,
        })
        await self._pipeline.send("hold", "POST", f"{self._path}:hold", body)

    async def unhold(
        self, target_participant: Identifier | str, *, operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> None:
        """Take a participant off hold."""
        body = _compact({"targetParticipant": identifier(target_participant).to_wire(),
                         "operationContext": operation_context,
                         "operationCallbackUri": operation_callback_url})
        await self._pipeline.send("unhold", "POST", f"{self._path}:unhold", body)

    async def start_media_streaming(
        self, *, operation_context: str | None = None, operation_callback_url: str | None = None
    ) -> None:
        """Start streaming the call's audio to the configured transport; MediaStreamingStarted."""
        await self._simple("start_media_streaming", ":startMediaStreaming",
                           operation_context=operation_context,
                           operation_callback_url=operation_callback_url)

    async def stop_media_streaming(
        self, *, operation_context: str | None = None, operation_callback_url: str | None = None
    ) -> None:
        """Stop streaming the call's audio; MediaStreamingStopped follows."""
        await self._simple("stop_media_streaming", ":stopMediaStreaming",
                           operation_context=operation_context,
                           operation_callback_url=operation_callback_url)

    async def start_transcription(
        self, *, locale: str | None = None, operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> None:
        """Start live transcription; TranscriptionStarted follows."""
        await self._simple("start_transcription", ":startTranscription", locale=locale,
                           operation_context=operation_context,
                           operation_callback_url=operation_callback_url)

    async def stop_transcription(
        self, *, operation_context: str | None = None, operation_callback_url: str | None = None
    ) -> None:
        """Stop live transcription; TranscriptionStopped follows."""
        await self._simple("stop_transcription", ":stopTranscription",
                           operation_context=operation_context,
                           operation_callback_url=operation_callback_url)

    async def update_transcription(
        self, locale: str, *, operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> None:
        """Change the transcription's language; TranscriptionUpdated follows."""
        await self._simple("update_transcription", ":updateTranscription", locale=locale,
                           operation_context=operation_context,
                           operation_callback_url=operation_callback_url)

    async def _simple(self, operation: str, action: str, **fields: str | None) -> None:
        names = {"locale": "locale", "operation_context": "operationContext",
                 "operation_callback_url": "operationCallbackUri"}
        body = _compact({names[key]: value for key, value in fields.items()})
        await self._pipeline.send(operation, "POST", f"{self._path}{action}", body)
