"""A simulated call: its state machine, its callees' scripts and its prompts.

Life of a call (every transition posts its callback at once, in this order)::

    create ─> Establishing ─(first callee answers)─> Established + ParticipantsUpdated
                   │                                   │  more answers, invites, removals,
                   │ nobody answers                    │  hang-ups: ParticipantsUpdated
                   v                                   v
              Terminating, Terminated  <── Hangup, or the last participant left

Prompts play one at a time in request order; each ends with ``PlayAudioResult`` (Completed,
200/0) after ``play_duration``, a looping one only when cancelled (400/8508). When the call ends,
queued and playing prompts are dropped without a result: nothing is posted after Terminated.
Every method runs on the event loop without awaiting, so a transition is never interleaved.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from callbacks.emulator.config import EmulatorConfig
from callbacks.emulator.cues import Cues
from callbacks.emulator.errors import BadRequest, NotFound
from callbacks.emulator.events2021 import EventFactory
from callbacks.emulator.participants import CallState, LegState, Participant, Play, PlayState
from callbacks.emulator.scenario import Scenario, Timing
from callbacks.emulator.tasks import TaskSet
from callbacks.identifiers import Identifier

DTMF_EVENTS = "dtmfreceived"


@dataclass(frozen=True, slots=True)
class CallEnvironment:
    """What a call needs from the emulator around it."""

    config: EmulatorConfig
    events: EventFactory
    send: Callable[[str, str, dict[str, Any]], object]
    """``send(call_id, callback_uri, event)`` queues a callback."""
    scenario: Callable[[], Scenario]
    """The scenario in force now (the control API may replace it)."""


class Call:
    """One call leg created by ``POST /calls``."""

    def __init__(
        self,
        env: CallEnvironment,
        targets: Sequence[Identifier],
        callback_uri: str,
        requested_events: Sequence[str],
        subject: str | None = None,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.callback_uri = callback_uri
        self.requested_events = frozenset(e.lower() for e in requested_events)
        self.subject = subject
        self.created_at = datetime.now(UTC)
        self.state = CallState.ESTABLISHING
        self.conversation_id: str | None = None
        self.participants: list[Participant] = []
        self.timers = TaskSet(f"call:{self.id}")
        self._env = env
        self._targets = list(targets)
        self._plays: deque[Play] = deque()
        self._playing: Play | None = None
        self._play_timer: asyncio.Task[None] | None = None
        self._prompts = 0
        self._dtmf_sequence = 0
        self._cues = Cues(self.timers)
        self.finished_plays: list[Play] = []

    @property
    def active(self) -> bool:
        """Whether the call has not started ending."""
        return self.state in (CallState.ESTABLISHING, CallState.ESTABLISHED)

    @property
    def dtmf_requested(self) -> bool:
        """Whether the create-call asked for ``dtmfReceived`` events."""
        return DTMF_EVENTS in self.requested_events

    def _emit(self, event: dict[str, Any]) -> None:
        self._env.send(self.id, self.callback_uri, event)

    def _emit_state(self) -> None:
        events = self._env.events
        self._emit(events.call_leg_state_changed(self.id, self.state.value, self.conversation_id))

    def _emit_participants(self) -> None:
        entries = [p.entry() for p in self.participants if p.connected]
        self._emit(self._env.events.participants_updated(self.id, entries))

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Post Establishing and ring every target."""
        self._emit_state()
        for target in self._targets:
            self._ring(Participant(target, self._env.scenario().script_for(target)))

    def _ring(self, participant: Participant) -> None:
        config = self._env.config
        self.participants.append(participant)
        script = participant.script
        delay = config.answer_delay if script.answer_after is None else script.answer_after
        if script.answer is True:
            self.timers.later(delay, lambda: self.answer(participant), "answer")
        elif script.answer:
            # busy or decline: the 2021 dialect has no word for it, the invitation just fails
            self.timers.later(delay, lambda: self._no_answer(participant), "refuse")
        self.timers.later(config.ring_timeout, lambda: self._no_answer(participant), "ring")

    def answer(self, participant: Participant) -> None:
        """``participant`` picks up (its script's timer, or the control API)."""
        if not self.active or participant.state is not LegState.RINGING:
            return
        participant.state = LegState.CONNECTED
        if self.state is CallState.ESTABLISHING:
            self.state = CallState.ESTABLISHED
            self.conversation_id = str(uuid.uuid4())
            self._emit_state()
        if participant.invited:
            self._emit(
                self._env.events.invite_participant_result(
                    self.id, participant.invite_context, [participant.identifier]
                )
            )
        self._emit_participants()
        self._follow_script(participant)

    def _no_answer(self, participant: Participant) -> None:
        if not self.active or participant.state is not LegState.RINGING:
            return
        participant.state = LegState.NO_ANSWER
        if participant.invited:
            self._emit(
                self._env.events.invite_participant_result(
                    self.id, participant.invite_context, [participant.identifier], failed=True
                )
            )
        self._end_if_empty()

    def leave(self, participant: Participant, *, removed: bool = False) -> None:
        """``participant`` hangs up (or is removed); the call ends when nobody is left."""
        if not self.active or not participant.connected:
            return
        participant.state = LegState.REMOVED if removed else LegState.LEFT
        self._emit_participants()
        self._end_if_empty()

    def _end_if_empty(self) -> None:
        if self.state is CallState.ESTABLISHED:
            if not any(p.connected for p in self.participants):
                self.hang_up()
        elif not any(p.state is LegState.RINGING for p in self.participants):
            self.hang_up()

    def hang_up(self) -> None:
        """End the call for everyone: Terminating, then Terminated; idempotent."""
        if not self.active:
            return
        self.state = CallState.TERMINATING
        self._emit_state()
        for play in [*([self._playing] if self._playing else []), *self._plays]:
            play.state = PlayState.DROPPED
            self.finished_plays.append(play)
        self._playing = None
        self._plays.clear()
        for participant in self.participants:
            if participant.state in (LegState.RINGING, LegState.CONNECTED):
                participant.state = LegState.LEFT
        self.state = CallState.TERMINATED
        self._emit_state()
        self.timers.cancel()

    def _require_established(self) -> None:
        if self.state is CallState.ESTABLISHING:
            raise BadRequest(f"call {self.id} is not established yet", code="CallNotEstablished")
        if not self.active:
            raise BadRequest(f"call {self.id} has ended", code="CallEnded")

    # -- participants ----------------------------------------------------------------------

    def invite(self, identifiers: Sequence[Identifier], operation_context: str | None) -> None:
        """Ring each identifier; an answer posts InviteParticipantResult, ParticipantsUpdated."""
        self._require_established()
        for index, identifier in enumerate(identifiers):
            if any(
                p.identifier == identifier and p.state in (LegState.RINGING, LegState.CONNECTED)
                for p in self.participants
            ):
                raise BadRequest(f"participants[{index}]: already in the call")
        scenario = self._env.scenario()
        for identifier in identifiers:
            script = scenario.script_for(identifier)
            self._ring(Participant(identifier, script, True, operation_context))

    def remove(self, participant_id: str) -> None:
        """Remove a connected participant by its ``ParticipantId``."""
        self._require_established()
        for participant in self.participants:
            if participant.participant_id == participant_id and participant.connected:
                self.leave(participant, removed=True)
                return
        raise NotFound(
            f"participant {participant_id} is not in the call", code="ParticipantNotFound"
        )

    def find(self, who: str | None, *states: LegState) -> Participant:
        """The participant named ``who`` (any id form), or the first one; in one of ``states``."""
        for participant in self.participants:
            if participant.state in states and (who is None or participant.named(who)):
                return participant
        wanted = " or ".join(state.value for state in states)
        name = f" {who}" if who else ""
        raise NotFound(
            f"no {wanted} participant{name} in call {self.id}", code="ParticipantNotFound"
        )

    # -- callee scripts and tones ----------------------------------------------------------

    def _follow_script(self, participant: Participant) -> None:
        script = participant.script
        for press in script.press:
            self._schedule(press, participant, partial(self._press_now, participant, press.tones))
        if script.hang_up is not None:
            self._schedule(script.hang_up, participant, partial(self.leave, participant))

    def _press_now(self, participant: Participant, tones: Sequence[str]) -> None:
        self.press(participant, tones)

    def _schedule(
        self, timing: Timing, participant: Participant, action: Callable[[], None]
    ) -> None:
        self._cues.schedule(timing, lambda: self.active and participant.connected, action)

    def press(self, participant: Participant, tones: Sequence[str]) -> bool:
        """``participant`` presses ``tones`` (wire names), one every ``tone_interval`` seconds.

        Returns whether DtmfReceived events will be posted (only if the call asked for them).
        """
        interval = self._env.config.tone_interval
        for index, tone in enumerate(tones):
            self.timers.later(index * interval, partial(self._tone, participant, tone), "tone")
        return self.dtmf_requested

    def _tone(self, participant: Participant, tone: str) -> None:
        if not (self.active and participant.connected and self.dtmf_requested):
            return
        self._dtmf_sequence += 1
        self._emit(self._env.events.dtmf_received(self.id, self._dtmf_sequence, tone))

    # -- prompts ---------------------------------------------------------------------------

    def play(self, audio_file_uri: str, loop: bool, operation_context: str | None) -> Play:
        """Queue a prompt; it starts when the ones before it have ended."""
        self._require_established()
        play = Play(audio_file_uri, loop, operation_context)
        self._plays.append(play)
        if self._playing is None:
            self._next_play()
        return play

    def _next_play(self) -> None:
        if not self._plays or self.state is not CallState.ESTABLISHED:
            return
        play = self._plays.popleft()
        self._prompts += 1
        play.prompt = self._prompts
        play.state = PlayState.PLAYING
        self._playing = play
        self._cues.prompt_event("prompt_start", play.prompt)
        if not play.loop:
            duration = self._env.config.play_duration
            self._play_timer = self.timers.later(duration, lambda: self._end_play(play), "play")

    def _end_play(self, play: Play, *, cancelled: bool = False) -> None:
        if self._playing is not play:
            return
        self._playing = None
        play.state = PlayState.CANCELLED if cancelled else PlayState.COMPLETED
        self.finished_plays.append(play)
        result = self._env.events.play_audio_result
        self._emit(result(self.id, play.operation_context, cancelled=cancelled))
        self._cues.prompt_event("prompt_end", play.prompt)
        self._next_play()

    def cancel_media(self) -> int:
        """End the playing prompt and drop the queued ones, each with the cancelled result."""
        if not self.active:
            raise BadRequest(f"call {self.id} has ended", code="CallEnded")
        queued = list(self._plays)
        self._plays.clear()
        cancelled = 0
        if self._playing is not None:
            if self._play_timer is not None:
                self._play_timer.cancel()
            self._end_play(self._playing, cancelled=True)
            cancelled += 1
        for play in queued:
            play.state = PlayState.CANCELLED
            self.finished_plays.append(play)
            self._emit(
                self._env.events.play_audio_result(self.id, play.operation_context, cancelled=True)
            )
            cancelled += 1
        return cancelled

    @property
    def plays(self) -> list[Play]:
        """Every prompt of the call: ended ones, the playing one, then the queued ones."""
        playing = [self._playing] if self._playing else []
        return [*self.finished_plays, *playing, *self._plays]
