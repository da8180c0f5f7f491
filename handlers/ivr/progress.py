"""What an IVR call's events add up to: a pure fold, and the outcome ``callbacks flows`` lists.

The fold reads only the events and their operation contexts (:mod:`handlers.ivr.contexts`), never
the settings, so an outcome stays what it was when the menus change. Outcomes:

- ``transferred``: a transfer was accepted (``transferred_to`` says to whom);
- ``voicemail``: a voicemail was recorded, ended by ``#``, by the caller hanging up, or by its
  maximum length;
- ``info``: the caller heard a message chosen from a menu, and the call ended;
- ``ended``: the caller chose an option that ends the call (after its goodbye);
- ``no-input``: the last replay of a menu got no valid input, and the fallback played or hung up;
- ``failed``: answering, a prompt, a message, the transfer or the recording failed;
- ``abandoned``: the caller hung up before any of these; ``in-progress`` while the call runs.

No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from callbacks.events import (
    AnswerFailed,
    CallConnected,
    CallDisconnected,
    CallTransferAccepted,
    CallTransferFailed,
    Event,
    PlayCompleted,
    PlayFailed,
    PlayStarted,
    RecognizeCompleted,
    RecognizeFailed,
    RecordingState,
    RecordingStateChanged,
)
from handlers.ivr.contexts import ANSWER, Step, parse, seconds_left

PROMPT_FAILED = 8511
ACTED = (PlayStarted, PlayCompleted, PlayFailed, CallTransferAccepted, CallTransferFailed)
"""The events of an action's step: its message playing, or its transfer's result."""
VoicemailEnd = Literal["pound", "hang-up", "max-length"]


def pound(event: RecognizeCompleted) -> bool:
    """Whether a voicemail's listening heard ``#`` (a stop tone, left out of the tones)."""
    digits = event.digits or ""
    return not digits or "#" in digits


@dataclass(frozen=True, slots=True)
class IvrProgress:
    """An IVR call so far."""

    connected: bool = False
    ended: bool = False
    decided: str | None = None
    """An outcome that stands whatever follows (transferred, voicemail, ended, no-input,
    failed)."""
    info: bool = False
    """A message chosen from a menu was played."""
    unanswered_last: bool = False
    """The last asking of a menu ended without a valid choice so far: the fallback is next."""
    choices: tuple[str, ...] = ()
    """Each input heard, as ``<menu>:<key or label>``."""
    fallback: bool = False
    transferred_to: str | None = None
    recording_due: bool = False
    """A voicemail's message was said: its recording starts next."""
    recording_id: str | None = None
    voicemail_end: VoicemailEnd | None = None
    failure: str | None = None

    @property
    def outcome(self) -> str:
        """transferred, voicemail, info, ended, no-input, failed, abandoned or in-progress."""
        if self.decided is not None:
            return self.decided
        if not self.ended:
            return "in-progress"
        if self.unanswered_last:
            return "no-input"
        return "info" if self.info else "abandoned"

    def decide(self, outcome: str) -> IvrProgress:
        """With ``outcome`` decided, unless one already is (the first one stands)."""
        return self if self.decided is not None else replace(self, decided=outcome)

    def fail(self, why: str) -> IvrProgress:
        """Failed, for the first reason ``why``."""
        return replace(self.decide("failed"), failure=self.failure or why)


def _asked(progress: IvrProgress, event: Event, step: Step) -> IvrProgress:
    if isinstance(event, RecognizeFailed):
        if event.result_subcode == PROMPT_FAILED:
            return progress.fail(f"the prompt of menu {step.menu} could not be played")
        return replace(progress, unanswered_last=step.last)
    assert isinstance(event, RecognizeCompleted)
    heard = event.choice_label or event.digits or event.speech_text or "?"
    return replace(progress, choices=(*progress.choices, f"{step.menu}:{heard}"),
                   unanswered_last=step.last)


def _acted(progress: IvrProgress, event: Event, step: Step) -> IvrProgress:
    progress = replace(progress, unanswered_last=False,
                       fallback=progress.fallback or step.fallback)
    if isinstance(event, PlayFailed):
        return progress.fail(f"the message of {step.action} {step.ref} could not be played")
    if isinstance(event, CallTransferAccepted):
        target = event.data.transfer_target
        return replace(progress.decide("transferred"),
                       transferred_to=target.raw_id if target else None)
    if isinstance(event, CallTransferFailed):
        return progress.fail(f"the transfer of {step.ref} failed")
    if step.fallback and step.action in ("play", "hangup"):
        return progress.decide("no-input")
    if step.action == "hangup":
        return progress.decide("ended")
    if step.action == "play":
        return replace(progress, info=True)
    if step.action == "voicemail" and isinstance(event, PlayCompleted):
        return replace(progress, recording_due=True)
    return progress


def _recorded(progress: IvrProgress, event: Event, step: Step) -> IvrProgress:
    progress = replace(progress.decide("voicemail"), recording_id=step.recording_id,
                       fallback=progress.fallback or step.fallback)
    if progress.voicemail_end is not None:
        return progress
    if isinstance(event, RecognizeCompleted):
        if pound(event):
            return replace(progress, voicemail_end="pound")
        if seconds_left(step, event.time) < 1:
            return replace(progress, voicemail_end="max-length")
        return progress  # another key: the listening goes on
    return replace(progress, voicemail_end="max-length")


def advance(progress: IvrProgress, event: Event) -> IvrProgress:
    """The progress after ``event``; nothing counts once the call has ended."""
    if progress.ended:
        return progress
    if isinstance(event, CallConnected):
        return replace(progress, connected=True)
    if isinstance(event, AnswerFailed):
        return progress.fail("answering failed")
    if isinstance(event, CallDisconnected):
        if progress.recording_id is not None and progress.voicemail_end is None:
            progress = replace(progress, voicemail_end="hang-up")
        elif progress.recording_due and progress.recording_id is None:
            progress = progress.fail("the voicemail could not be recorded")
        return replace(progress, ended=True)
    if isinstance(event, RecordingStateChanged) and event.data.state == RecordingState.ACTIVE:
        return replace(progress.decide("voicemail"), recording_id=event.data.recording_id)
    step = parse(event.operation_context)
    if step is None or event.operation_context == ANSWER:
        return progress
    if step.kind == "ask" and isinstance(event, RecognizeCompleted | RecognizeFailed):
        return _asked(progress, event, step)
    if step.kind == "record" and isinstance(event, RecognizeCompleted | RecognizeFailed):
        return _recorded(progress, event, step)
    if step.kind == "action" and isinstance(event, ACTED):
        return _acted(progress, event, step)
    return progress


def fold(events: Iterable[Event]) -> IvrProgress:
    """The progress after ``events``, in order."""
    progress = IvrProgress()
    for event in events:
        progress = advance(progress, event)
    return progress
