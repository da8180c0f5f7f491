"""A remote participant of a GA call connection: callee, invitee, caller or transfer target."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from callbacks.emulator.ga.wire import identifier_ga, participant_ga
from callbacks.emulator.scenario import CalleeScript, Reply
from callbacks.identifiers import Identifier


class PartyState(StrEnum):
    """Where one participant stands."""

    RINGING = "ringing"
    CONNECTED = "connected"
    DECLINED = "declined"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CANCELED = "canceled"
    LEFT = "left"
    REMOVED = "removed"
    MOVED = "moved"


class Role(StrEnum):
    """Why the participant is in the call."""

    TARGET = "target"
    """A target of create-call."""
    CALLER = "caller"
    """Who placed an incoming call the application answered."""
    INVITEE = "invitee"
    """Added with participants:add."""
    TRANSFER_TARGET = "transfer_target"
    MOVED_IN = "moved_in"
    """Moved here from another call with participants:moveHere."""


@dataclass(slots=True, eq=False)
class Party:
    """One participant, with the script it follows."""

    identifier: Identifier
    script: CalleeScript
    role: Role
    state: PartyState = PartyState.RINGING
    muted: bool = False
    on_hold: bool = False
    holding_music: bool = False
    """Whether hold music plays to it (HoldAudioCompleted follows on unhold)."""
    invitation_id: str | None = None
    operation_context: str | None = None
    """The operation context of the request that invited it (add, transfer)."""
    callback_uri: str | None = None
    """Where that request's events go, when it overrode the call's callback URI."""
    transferee: Identifier | None = None
    """For a transfer target: who is being transferred to it."""
    recognitions: int = 0
    """Recognize operations that have targeted it so far (its n-th gets its n-th reply)."""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def connected(self) -> bool:
        """Whether the participant is in the call now."""
        return self.state is PartyState.CONNECTED

    @property
    def ringing(self) -> bool:
        """Whether it is being rung and has not answered yet."""
        return self.state is PartyState.RINGING

    def named(self, who: str) -> bool:
        """Whether ``who`` is its raw id, phone number or ACS user id."""
        ident = self.identifier
        return who in (ident.raw_id, ident.phone_number, ident.communication_user_id)

    def next_reply(self) -> Reply | None:
        """The script's reply to the recognize operation starting now (None: silence)."""
        replies = self.script.recognize
        reply = replies[self.recognitions] if self.recognitions < len(replies) else None
        self.recognitions += 1
        return reply

    def wire(self) -> dict[str, Any]:
        """The participant as ``CallParticipant``."""
        return participant_ga(self.identifier, muted=self.muted, on_hold=self.on_hold)

    def identifier_wire(self) -> dict[str, Any]:
        """Its identifier in the GA shape."""
        return identifier_ga(self.identifier)

    def to_json(self) -> dict[str, Any]:
        """The participant as the control API shows it."""
        return {
            "raw_id": self.identifier.raw_id,
            "identifier": self.identifier_wire(),
            "role": self.role.value,
            "state": self.state.value,
            "muted": self.muted,
            "on_hold": self.on_hold,
            "invitation_id": self.invitation_id,
        }
