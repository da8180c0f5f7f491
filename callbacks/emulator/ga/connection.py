"""A GA call connection: the application's leg of a call, its participants and its callbacks.

Life of a connection (each transition posts its callbacks at once, in this order)::

    create ─> connecting ─(a target answers)─> connected: CallConnected, ParticipantsUpdated
                 │ every target declines, is busy       │ answers, adds, removals, moves,
                 │ or does not answer                   │ mute, hold: ParticipantsUpdated
                 v                                      v
         CreateCallFailed, CallDisconnected   <── hang up, terminate, accepted transfer,
                                                  the last participant left: CallDisconnected

Ringing participants and their answers are in :mod:`.ringing`. Answer and connect go straight
to connected. Every callback carries ``callConnectionId``,
``serverCallId``, ``correlationId``, the ``operationContext`` of the request that caused it
(CallConnected: the create/answer/connect request's) and, where there is an outcome,
``resultInformation``. Nothing is posted after CallDisconnected. Methods run on the event loop
without awaiting, so transitions never interleave.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any

from callbacks.emulator.config import EmulatorConfig
from callbacks.emulator.cues import Cues
from callbacks.emulator.errors import BadRequest, NotFound
from callbacks.emulator.ga import codes
from callbacks.emulator.ga.codes import Result
from callbacks.emulator.ga.media import Media
from callbacks.emulator.ga.party import Party, PartyState
from callbacks.emulator.ga.schemas import Setup
from callbacks.emulator.ga.streams import Streams
from callbacks.emulator.ga.wire import cloud_event, identifier_ga, new_server_call_id
from callbacks.emulator.journal import redact_url
from callbacks.emulator.tasks import TaskSet
from callbacks.identifiers import Identifier, IdentifierKind


class ConnectionState(StrEnum):
    """``callConnectionState`` values the emulator goes through."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    TRANSFERRING = "transferring"
    TRANSFER_ACCEPTED = "transferAccepted"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class Environment:
    """What a connection needs from the emulator around it."""

    config: EmulatorConfig
    send: Callable[[str, str, dict[str, Any]], object]
    """``send(connection id, url, cloud event)`` queues a callback behind the call's others."""
    ending: Callable[[Connection], None]
    """Called just before CallDisconnected (recordings of the call stop)."""


class Connection:
    """One call connection of the application."""

    def __init__(
        self,
        env: Environment,
        setup: Setup,
        *,
        server_call_id: str | None = None,
        correlation_id: str | None = None,
        source: Identifier | None = None,
        targets: Sequence[Identifier] = (),
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.server_call_id = server_call_id or new_server_call_id()
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self.config = env.config
        self.setup = setup
        self.callback_uri = setup.callback_uri
        self.cognitive_endpoint = setup.cognitive_endpoint
        self.source = source
        self.targets = list(targets)
        self.locator_id: str | None = None
        """The group call or room id a connect request joined."""
        self.created_at = datetime.now(UTC)
        self.state = ConnectionState.CONNECTING
        self.parties: list[Party] = []
        self.timers = TaskSet(f"connection:{self.id}")
        self.cues = Cues(self.timers)
        self.media = Media(self)
        self.streams = Streams(self, setup.media_streaming_options, setup.transcription_options)
        self._env = env
        self._extra = extra or {}
        self._sequence = 0
        self._prompts = 0

    # -- callbacks -----------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        extra: dict[str, Any],
        *,
        operation_context: str | None = None,
        result: Result | None = None,
        url: str | None = None,
        source: str | None = None,
    ) -> None:
        """Post ``Microsoft.Communication.<event_type>`` to ``url`` (default: the callback URI)."""
        if self.state is ConnectionState.DISCONNECTED:
            return
        data: dict[str, Any] = {
            "callConnectionId": self.id,
            "serverCallId": self.server_call_id,
            "correlationId": self.correlation_id,
        }
        if operation_context is not None:
            data["operationContext"] = operation_context
        if result is not None:
            data["resultInformation"] = result.to_wire()
        data.update(extra)
        event = cloud_event(event_type, source or f"calling/callConnections/{self.id}", data)
        self._env.send(self.id, url or self.callback_uri, event)

    def participants_updated(self) -> None:
        """ParticipantsUpdated with every connected participant and the next sequence number."""
        self._sequence += 1
        self.emit(
            "ParticipantsUpdated",
            {
                "sequenceNumber": self._sequence,
                "participants": [p.wire() for p in self.parties if p.connected],
            },
        )

    # -- state ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether media and participant operations can run."""
        return self.state in (ConnectionState.CONNECTED, ConnectionState.TRANSFERRING)

    @property
    def ended(self) -> bool:
        """Whether CallDisconnected has been posted."""
        return self.state is ConnectionState.DISCONNECTED

    def require_connected(self) -> None:
        """The service's errors for an operation on a call that is not up."""
        if self.ended:
            raise NotFound(f"call connection {self.id} has ended", code="8522")
        if not self.connected:
            raise BadRequest("Action is not supported, call is not established.", code="8501")

    def require_cognitive_services(self) -> None:
        """405/8522 unless the call was set up with a cognitive services endpoint."""
        if self.cognitive_endpoint is None:
            error = BadRequest(
                "Request not allowed when Cognitive Service Configuration not set during call "
                "setup: create or answer the call with cognitive_services_endpoint",
                code="8522",
            )
            error.status = 405
            raise error

    def party(self, identifier: Identifier, *, field: str = "participant") -> Party:
        """The connected participant ``identifier``; 404/8522 when it is not in the call."""
        for party in self.parties:
            if party.connected and party.identifier == identifier:
                return party
        raise NotFound(f"{field}: {identifier.raw_id} is not in the call", code="8522")

    def find(self, who: str | None, *states: PartyState) -> Party:
        """The participant named ``who`` (or the first one) in one of ``states`` (control API)."""
        for party in self.parties:
            if party.state in states and (who is None or party.named(who)):
                return party
        name = f" {who}" if who else ""
        raise NotFound(f"no {' or '.join(states)} participant{name} in call connection {self.id}")

    def prompt_started(self) -> int:
        """Number the prompt starting now (from 1) and run the cues waiting for it."""
        self._prompts += 1
        self.cues.prompt_event("prompt_start", self._prompts)
        return self._prompts

    def prompt_ended(self, prompt: int) -> None:
        """Prompt number ``prompt`` ended: run the cues waiting for that."""
        self.cues.prompt_event("prompt_end", prompt)

    # -- connecting ----------------------------------------------------------------------------

    def connect_now(self) -> None:
        """The call is up: CallConnected, ParticipantsUpdated, and media streaming or
        transcription if the call asked to start them."""
        if self.state is not ConnectionState.CONNECTING:
            return
        self.state = ConnectionState.CONNECTED
        self.emit(
            "CallConnected", {}, operation_context=self.setup.operation_context,
            result=codes.CONNECTED,
        )
        self.participants_updated()
        self.streams.on_connected()

    # -- scripts -------------------------------------------------------------------------------

    def guarded(self, party: Party, action: Callable[[], None]) -> Callable[[], None]:
        """``action``, run only while the call is up and ``party`` in it."""

        def run() -> None:
            if self.connected and party.connected:
                action()

        return run

    def follow_script(self, party: Party) -> None:
        """Schedule the presses and the hang-up of ``party``'s script."""
        script = party.script
        guard = partial(lambda p: self.connected and p.connected, party)
        for press in script.press:
            self.cues.schedule(press, guard, partial(self.press, party, press.tones))
        if script.hang_up is not None:
            self.cues.schedule(script.hang_up, guard, partial(self.leave, party))

    def press(self, party: Party, tones: Sequence[str]) -> None:
        """``party`` presses ``tones`` (2021 spelling), one every ``tone_interval`` seconds."""
        interval = self.config.tone_interval
        for index, tone in enumerate(tones):
            action = self.guarded(party, partial(self.media.tone, party, tone))
            self.timers.later(index * interval, action, "tone")

    def leave(self, party: Party, state: PartyState = PartyState.LEFT) -> None:
        """``party`` hangs up (or is removed or moved); the call ends when nobody is left."""
        if self.ended or not party.connected:
            return
        party.state = state
        if not any(p.connected for p in self.parties):
            phone = party.identifier.kind is IdentifierKind.PHONE_NUMBER
            remote = codes.ENDED_BY_REMOTE_PSTN if phone else codes.ENDED_BY_REMOTE
            self.end(codes.ENDED_BY_APP if state is not PartyState.LEFT else remote)
            return
        self.participants_updated()

    # -- the end -------------------------------------------------------------------------------

    def end(self, result: Result) -> None:
        """CallDisconnected, then nothing more: media dropped, timers stopped."""
        if self.ended:
            return
        self._env.ending(self)
        self.emit("CallDisconnected", {}, result=result)
        self.state = ConnectionState.DISCONNECTED
        self.media.drop()
        for party in self.parties:
            if party.state in (PartyState.RINGING, PartyState.CONNECTED):
                party.state = PartyState.LEFT
        self.timers.cancel()

    # -- views ---------------------------------------------------------------------------------

    def properties(self) -> dict[str, Any]:
        """``CallConnectionProperties``."""
        wire: dict[str, Any] = {
            "callConnectionId": self.id,
            "serverCallId": self.server_call_id,
            "targets": [identifier_ga(t) for t in self.targets],
            "callConnectionState": self.state.value,
            "callbackUri": self.callback_uri,
            "correlationId": self.correlation_id,
            **self._extra,
            **self.streams.subscriptions(),
        }
        if self.source is not None:
            wire["source"] = identifier_ga(self.source)
        return wire

    def to_json(self) -> dict[str, Any]:
        """The connection as the control API shows it (the callback URL's secret masked)."""
        return {
            "call_connection_id": self.id,
            "server_call_id": self.server_call_id,
            "correlation_id": self.correlation_id,
            "state": self.state.value,
            "callback_uri": redact_url(self.callback_uri),
            "cognitive_services": self.cognitive_endpoint is not None,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "participants": [p.to_json() for p in self.parties],
            "media": [op.to_json() for op in self.media.operations],
            **self.streams.to_json(),
        }
