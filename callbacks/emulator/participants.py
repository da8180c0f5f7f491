"""The parts of a simulated call: its state, its participants, its prompts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from callbacks.emulator.events2021 import ParticipantEntry, identifier_2021
from callbacks.emulator.scenario import CalleeScript
from callbacks.identifiers import Identifier


class CallState(StrEnum):
    """The call leg states the emulator goes through (the 2021 dialect's spelling)."""

    ESTABLISHING = "Establishing"
    ESTABLISHED = "Established"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class LegState(StrEnum):
    """Where one participant stands."""

    RINGING = "ringing"
    CONNECTED = "connected"
    NO_ANSWER = "no_answer"
    LEFT = "left"
    REMOVED = "removed"


class PlayState(StrEnum):
    """Where one prompt stands."""

    QUEUED = "queued"
    PLAYING = "playing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    DROPPED = "dropped"
    """The call ended while it was queued or playing; no result is posted after the call ends."""


@dataclass(slots=True, eq=False)
class Participant:
    """A simulated callee or invitee."""

    identifier: Identifier
    script: CalleeScript
    invited: bool = False
    invite_context: str | None = None
    participant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: LegState = LegState.RINGING

    @property
    def connected(self) -> bool:
        """Whether the participant is in the call now."""
        return self.state is LegState.CONNECTED

    def entry(self) -> ParticipantEntry:
        """This participant as an element of ``ParticipantsUpdated``."""
        return ParticipantEntry(self.identifier, self.participant_id)

    def named(self, who: str) -> bool:
        """Whether ``who`` is this participant's id, raw id, phone number or ACS user id."""
        ident = self.identifier
        return who in (
            self.participant_id,
            ident.raw_id,
            ident.phone_number,
            ident.communication_user_id,
        )

    def to_json(self) -> dict[str, Any]:
        """The participant as the control API shows it."""
        return {
            "participant_id": self.participant_id,
            "identifier": identifier_2021(self.identifier),
            "raw_id": self.identifier.raw_id,
            "state": self.state.value,
            "invited": self.invited,
        }


@dataclass(slots=True, eq=False)
class Play:
    """One PlayAudio request."""

    audio_file_uri: str
    loop: bool
    operation_context: str | None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: PlayState = PlayState.QUEUED
    prompt: int = 0
    """1-based number of this prompt in the call once it started; 0 before."""

    def to_json(self) -> dict[str, Any]:
        """The prompt as the control API shows it."""
        return {
            "id": self.id,
            "audio_file_uri": self.audio_file_uri,
            "loop": self.loop,
            "operation_context": self.operation_context,
            "state": self.state.value,
            "prompt": self.prompt,
        }
