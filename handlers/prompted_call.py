"""A call that plays a prompt until a key is pressed, as a pure fold over the call's events.

Both built-in flows are such calls: the reminder (1 confirms, 2 asks for an agent) and the
outage notification (any key acknowledges). The fold drives their handlers (the state before an
event against the state after it says what to do) and reports their outcomes
(``callbacks flows``), so the two never disagree. Which play of the prompt is running travels in
each play's ``operationContext`` (``reminder:prompt:2/3``): nothing is remembered between events.

On a 2021 call each prompt is a PlayAudio and keys arrive as DtmfReceived while it plays. On a GA
call each prompt is a ``start_recognizing_media`` (DTMF, one key, the prompt played first): its
RecognizeCompleted carries the key, and a RecognizeFailed for no input (8510) or a key that means
nothing here ends that prompt unanswered, as the end of a 2021 play without a key does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from callbacks.events import (
    AddParticipantFailed,
    AddParticipantSucceeded,
    Event,
    InviteParticipantResult,
    OperationStatus,
    PlayCompleted,
    PlayFailed,
)
from handlers.call_events import (
    ended,
    established,
    play_end,
    recognize_end,
    recognized_key,
    tone,
)

ANY_KEY = "acknowledged"
"""The decision of a call whose every key counts (``keys`` None)."""


@dataclass(frozen=True, slots=True)
class CallProgress:
    """What a prompted call's events so far add up to."""

    established: bool = False
    ended: bool = False
    decision: str | None = None
    """A key's meaning, ``no-response`` (the last play ended without a key) or ``failed`` (a
    play failed)."""
    prompts: int = 0
    """Plays of the prompt that ran to their end before the decision (GA: prompts whose
    recognize ended, answered or not)."""
    closing_played: bool = False
    """The closing prompt (confirmation, thanks) has ended."""
    invite: Literal["answered", "unreached"] | None = None

    @property
    def outcome(self) -> str:
        """The decision (``agent-unreached`` if the invitee did not answer), else
        ``hung-up``, ``no-answer`` or ``in-progress``."""
        if self.decision is not None:
            return f"{self.decision}-unreached" if self.invite == "unreached" else self.decision
        if self.ended:
            return "hung-up" if self.established else "no-answer"
        return "in-progress"


@dataclass(frozen=True, slots=True)
class PromptedCall:
    """The operation contexts and key meanings of one kind of prompted call."""

    prefix: str
    """Operation contexts are ``<prefix>:prompt:<n>/<of>``, ``<prefix>:closing``,
    ``<prefix>:invite``."""
    keys: Mapping[str, str] | None = field(default=None)
    """Key -> decision; other keys are ignored. None: any key decides :data:`ANY_KEY`."""

    @property
    def closing(self) -> str:
        """The operationContext of the closing prompt."""
        return f"{self.prefix}:closing"

    @property
    def invite(self) -> str:
        """The operationContext of an invitation (an agent)."""
        return f"{self.prefix}:invite"

    def prompt_context(self, number: int, of: int) -> str:
        """The operationContext of the ``number``-th of ``of`` plays of the prompt."""
        return f"{self.prefix}:prompt:{number}/{of}"

    def parse_prompt(self, operation_context: str | None) -> tuple[int, int] | None:
        """(number, of) from a play's operationContext, or None if not a prompt's."""
        head = f"{self.prefix}:prompt:"
        if not operation_context or not operation_context.startswith(head):
            return None
        number, _, of = operation_context[len(head):].partition("/")
        if not (number.isdigit() and of.isdigit()):
            return None
        return int(number), int(of)

    def decision_for(self, key: str) -> str | None:
        """What pressing ``key`` decides, or None if the key means nothing here."""
        return ANY_KEY if self.keys is None else self.keys.get(key)

    def _after_play(self, progress: CallProgress, event: Event) -> CallProgress:
        end = play_end(event)
        prompt = self.parse_prompt(event.operation_context)
        if prompt is not None:
            if progress.decision is not None:
                return progress
            number, of = prompt
            if end == "failed":
                return replace(progress, decision="failed")
            if end == "completed":
                progress = replace(progress, prompts=max(progress.prompts, number))
                return replace(progress, decision="no-response") if number >= of else progress
        elif event.operation_context == self.closing:
            return replace(progress, closing_played=True)
        return progress

    def _after_recognize(self, progress: CallProgress, event: Event) -> CallProgress:
        prompt = self.parse_prompt(event.operation_context)
        end = recognize_end(event)
        if prompt is None or end == "cancelled" or progress.decision is not None:
            return progress
        if end == "failed":
            return replace(progress, decision="failed")
        number, of = prompt
        progress = replace(progress, prompts=max(progress.prompts, number))
        key = recognized_key(event)
        decision = self.decision_for(key) if key is not None else None
        if decision is not None and progress.established:
            return replace(progress, decision=decision)
        return replace(progress, decision="no-response") if number >= of else progress

    def _invited(self, progress: CallProgress, event: Event) -> CallProgress:
        if isinstance(event, InviteParticipantResult):
            answered = event.data.status == OperationStatus.COMPLETED
        else:
            answered = isinstance(event, AddParticipantSucceeded)
        return replace(progress, invite="answered" if answered else "unreached")

    def advance(self, progress: CallProgress, event: Event) -> CallProgress:
        """The progress after ``event``; nothing counts once the call has ended."""
        if progress.ended:
            return progress
        if ended(event):
            return replace(progress, ended=True)
        if established(event):
            return replace(progress, established=True)
        key = tone(event)
        if key is not None:
            decision = self.decision_for(key)
            if progress.established and progress.decision is None and decision is not None:
                return replace(progress, decision=decision)
            return progress
        if play_end(event) is not None:
            return self._after_play(progress, event)
        if recognize_end(event) is not None:
            return self._after_recognize(progress, event)
        closing = event.operation_context == self.closing
        if closing and isinstance(event, PlayCompleted | PlayFailed):
            return replace(progress, closing_played=True)
        if isinstance(event, InviteParticipantResult | AddParticipantSucceeded |
                      AddParticipantFailed) and event.operation_context == self.invite:
            return self._invited(progress, event)
        return progress

    def fold(self, events: Iterable[Event]) -> CallProgress:
        """The progress after ``events``, in order."""
        progress = CallProgress()
        for event in events:
            progress = self.advance(progress, event)
        return progress
