"""The media of one GA call connection: play and recognize operations, continuous DTMF.

Operations run one at a time in request order. A play posts PlayStarted, then PlayCompleted
after ``play_duration`` per source (a looping one plays until cancelled); a recognize plays its
prompts, then listens (:mod:`.recognition`). ``interruptCallMediaOperation`` cancels the running
operation and starts the new one at once. Cancel-all ends the running and the queued operations,
each with its PlayCanceled or RecognizeCanceled (400/8508). A file whose name has an extension
other than .wav or .mp3 fails (PlayFailed 400/8535, or RecognizeFailed 500/8511), and so does
SSML that is not a ``<speak>`` document (400/8565); ``failedPlaySourceIndex`` names the source.
When the call ends, operations are dropped without a result.

A tone a participant presses goes to the recognize operation targeting it (with
``interruptPrompt`` a tone or phrase during the prompt cuts the prompt short; without, it is
not heard) and, while continuous DTMF recognition is on for it, to a ToneReceived event.
"""

from __future__ import annotations

import asyncio
import posixpath
import uuid
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from callbacks.emulator.ga import codes
from callbacks.emulator.ga.codes import Result
from callbacks.emulator.ga.media_schemas import PlayBody, PlaySource, RecognizeBody
from callbacks.emulator.ga.party import Party
from callbacks.emulator.ga.recognition import Recognition
from callbacks.emulator.scenario import Reply
from callbacks.emulator.tones import ga_tone
from callbacks.identifiers import Identifier

if TYPE_CHECKING:
    from callbacks.emulator.ga.connection import Connection

AUDIO_EXTENSIONS = frozenset({".wav", ".mp3"})
OpState = Literal["queued", "playing", "listening", "completed", "failed", "canceled", "dropped"]


@dataclass(slots=True, eq=False)
class MediaOp:
    """One play or recognize request."""

    kind: Literal["play", "recognize"]
    sources: list[PlaySource]
    operation_context: str | None
    callback_uri: str | None
    loop: bool = False
    play_to: list[Identifier] = field(default_factory=list)
    recognize: RecognizeBody | None = None
    target: Party | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: OpState = "queued"
    prompt: int = 0
    recognition: Recognition | None = None
    reply: Reply | None = None

    def to_json(self) -> dict[str, Any]:
        """The operation as the control API shows it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "sources": [source.describe() for source in self.sources],
            "loop": self.loop,
            "operation_context": self.operation_context,
            "state": self.state,
            "prompt": self.prompt,
            "target": self.target.identifier.raw_id if self.target else None,
        }


def bad_source(sources: list[PlaySource]) -> tuple[int, Result] | None:
    """The index of the first source the service could not play, and why."""
    for index, source in enumerate(sources):
        if source.file is not None:
            extension = posixpath.splitext(urlsplit(source.file.uri).path)[1].lower()
            if extension and extension not in AUDIO_EXTENSIONS:
                return index, codes.PLAY_BAD_FORMAT
        if source.ssml is not None and not source.ssml.ssml_text.lstrip().startswith("<speak"):
            return index, codes.COGNITIVE_BAD_REQUEST
    return None


class Media:
    """Play and recognize operations of one call, and its continuous DTMF recognition."""

    def __init__(self, call: Connection) -> None:
        self._call = call
        self._queue: deque[MediaOp] = deque()
        self._timer: asyncio.Task[None] | None = None
        self.current: MediaOp | None = None
        self.finished: list[MediaOp] = []
        self._continuous: dict[str, tuple[str | None, str | None]] = {}
        self._tone_sequence = 0

    @property
    def operations(self) -> list[MediaOp]:
        """Every operation: ended ones, the running one, then the queued ones."""
        running = [self.current] if self.current else []
        return [*self.finished, *running, *self._queue]

    # -- requests ------------------------------------------------------------------------------

    def play(self, body: PlayBody, play_to: list[Identifier]) -> MediaOp:
        """Queue (or, interrupting, start) a play."""
        op = MediaOp(
            "play", body.play_sources, body.operation_context, body.operation_callback_uri,
            loop=body.play_options.loop, play_to=play_to,
        )
        self._submit(op, body.interrupt)
        return op

    def recognize(self, body: RecognizeBody, target: Party) -> MediaOp:
        """Queue (or, interrupting, start) a recognize targeting ``target``."""
        op = MediaOp(
            "recognize", body.prompts, body.operation_context, body.operation_callback_uri,
            recognize=body, target=target,
        )
        self._submit(op, body.interrupt)
        return op

    def _submit(self, op: MediaOp, interrupt: bool) -> None:
        if interrupt and self.current is not None:
            self._cancel(self.current)
            self.current = None
            self._queue.appendleft(op)
        else:
            self._queue.append(op)
        if self.current is None:
            self._next()

    def cancel_all(self) -> None:
        """End the running and every queued operation with its cancelled event."""
        ops = [*([self.current] if self.current else []), *self._queue]
        self.current = None
        self._queue.clear()
        for op in ops:
            self._cancel(op)

    def drop(self) -> None:
        """The call ended: forget every operation without a result."""
        for op in [*([self.current] if self.current else []), *self._queue]:
            if op.recognition is not None:
                op.recognition.stop()
            op.state = "dropped"
            self.finished.append(op)
        self.current = None
        self._queue.clear()
        self._continuous.clear()

    def _cancel(self, op: MediaOp) -> None:
        if self._timer is not None and op is self.current:
            self._timer.cancel()
        if op.recognition is not None:
            op.recognition.stop()
        op.state = "canceled"
        self.finished.append(op)
        event = "PlayCanceled" if op.kind == "play" else "RecognizeCanceled"
        self._emit(op, event, codes.CANCELED)

    # -- running -------------------------------------------------------------------------------

    def _emit(self, op: MediaOp, event_type: str, result: Result, **extra: Any) -> None:
        self._call.emit(
            event_type, extra, operation_context=op.operation_context, result=result,
            url=op.callback_uri,
        )

    def _wait(self, seconds: float, action: Any) -> None:
        self._timer = self._call.timers.later(seconds, action, "media")

    def _next(self) -> None:
        if self.current is not None or not self._queue or not self._call.connected:
            return
        op = self._queue.popleft()
        self.current = op
        failure = bad_source(op.sources)
        if op.kind == "recognize":
            self._start_recognize(op, failure)
            return
        if failure is not None:
            self._end(op, "failed", "PlayFailed", failure[1], failedPlaySourceIndex=failure[0])
            return
        op.state = "playing"
        self._emit(op, "PlayStarted", codes.STARTED)
        op.prompt = self._call.prompt_started()
        self._wait(self._duration(op), partial(self._played, op))

    def _duration(self, op: MediaOp) -> float:
        return self._call.config.play_duration * len(op.sources)

    def _played(self, op: MediaOp) -> None:
        if op is not self.current:
            return
        if op.loop:
            self._wait(self._duration(op), partial(self._played, op))
            return
        self._call.prompt_ended(op.prompt)
        self._end(op, "completed", "PlayCompleted", codes.COMPLETED)

    def _end(
        self, op: MediaOp, state: OpState, event_type: str, result: Result, **extra: Any
    ) -> None:
        op.state = state
        self.finished.append(op)
        if op is self.current:
            self.current = None
        self._emit(op, event_type, result, **extra)
        self._next()

    def _start_recognize(self, op: MediaOp, failure: tuple[int, Result] | None) -> None:
        assert op.recognize is not None and op.target is not None
        op.reply = op.target.next_reply()
        if failure is not None:
            index, _ = failure
            self._end(op, "failed", "RecognizeFailed", codes.PROMPT_FAILED,
                      failedPlaySourceIndex=index)
            return
        op.recognition = Recognition(
            op.recognize, self._call.timers, self._call.config.timeout_scale,
            partial(self._recognized, op),
        )
        if not op.sources:
            self._listen(op)
            return
        op.state = "playing"
        op.prompt = self._call.prompt_started()
        self._wait(self._duration(op), partial(self._listen, op))

    def _listen(self, op: MediaOp) -> None:
        if op is not self.current or op.recognition is None or op.recognition.listening:
            return
        if self._timer is not None:
            self._timer.cancel()
        if op.prompt:
            self._call.prompt_ended(op.prompt)
        op.state = "listening"
        op.recognition.listen()
        self._reply(op)

    def _reply(self, op: MediaOp) -> None:
        reply, target, recognition = op.reply, op.target, op.recognition
        if reply is None or reply.silent or target is None or recognition is None:
            return
        if reply.tones is not None:
            tones = reply.tones
            action = partial(self._call.press, target, tones)
        else:
            text = reply.say if reply.say is not None else recognition.phrase_of(reply.choice or "")
            action = partial(self.speech, target, text)
        self._call.timers.later(reply.delay, self._call.guarded(target, action), "reply")

    def _recognized(
        self, op: MediaOp, event_type: str, result: Result, extra: dict[str, Any]
    ) -> None:
        if op is not self.current:
            return
        if event_type == "RecognizeFailed":
            extra = {"failedPlaySourceIndex": None, **extra}
        state: OpState = "completed" if event_type == "RecognizeCompleted" else "failed"
        self._end(op, state, event_type, result, **extra)

    # -- input ---------------------------------------------------------------------------------

    def _heard(self, party: Party, speech: bool) -> Recognition | None:
        op = self.current
        if op is None or op.target is not party or op.recognition is None:
            return None
        recognition = op.recognition
        hears = recognition.hears_speech if speech else recognition.hears_tones
        barge_in = op.recognize is not None and op.recognize.options.interrupt_prompt
        if hears and barge_in and not recognition.listening:
            self._listen(op)
        return recognition

    def tone(self, party: Party, tone: str) -> None:
        """``party`` pressed ``tone`` (2021 spelling)."""
        watching = self._continuous.get(party.id)
        name = ga_tone(tone)
        if watching is not None and name is not None:
            context, url = watching
            self._tone_sequence += 1
            self._call.emit(
                "ContinuousDtmfRecognitionToneReceived",
                {"tone": name, "sequenceId": self._tone_sequence},
                operation_context=context, result=codes.COMPLETED, url=url,
            )
        recognition = self._heard(party, speech=False)
        if recognition is not None:
            recognition.tone(tone)

    def speech(self, party: Party, text: str) -> None:
        """``party`` said ``text``."""
        recognition = self._heard(party, speech=True)
        if recognition is not None:
            recognition.speech(text)

    def start_continuous(self, party: Party, context: str | None, url: str | None) -> None:
        """Report every tone ``party`` presses from now on."""
        self._continuous[party.id] = (context, url)

    def stop_continuous(self, party: Party, context: str | None, url: str | None) -> None:
        """Stop reporting ``party``'s tones: ContinuousDtmfRecognitionStopped."""
        self._continuous.pop(party.id, None)
        self._call.emit(
            "ContinuousDtmfRecognitionStopped", {}, operation_context=context,
            result=codes.COMPLETED, url=url,
        )
