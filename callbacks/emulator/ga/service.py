"""The GA side of an emulated resource: call connections, incoming calls and recordings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callbacks.emulator.config import EmulatorConfig
from callbacks.emulator.delivery import Delivery
from callbacks.emulator.errors import BadRequest, Conflict, NotFound
from callbacks.emulator.ga import codes, ringing
from callbacks.emulator.ga.connection import Connection, Environment
from callbacks.emulator.ga.incoming import IncomingCall, Subscription
from callbacks.emulator.ga.party import Party, PartyState, Role
from callbacks.emulator.ga.recording import Recording
from callbacks.emulator.ga.schemas import (
    AnswerBody,
    ConnectBody,
    CreateCallBody,
    RedirectBody,
    RejectBody,
    Setup,
    StartRecordingBody,
)
from callbacks.emulator.scenario import CalleeScript, Scenario
from callbacks.emulator.tasks import TaskSet
from callbacks.identifiers import Identifier

EVENT_GRID_QUEUE = "eventgrid"
"""The delivery queue of Event Grid events: they go out in order, apart from the calls'."""


def _check_setup(setup: Setup) -> None:
    if setup.transcription_options is not None and setup.cognitive_endpoint is None:
        error = BadRequest(
            "transcriptionOptions: live transcription needs callIntelligenceOptions."
            "cognitiveServicesEndpoint",
            code="8522",
        )
        error.status = 405
        raise error


class GaService:
    """Every GA call connection, incoming call and recording of one emulator."""

    def __init__(
        self, config: EmulatorConfig, delivery: Delivery, scenario: Callable[[], Scenario]
    ) -> None:
        self.config = config
        self._delivery = delivery
        self._scenario = scenario
        self.connections: dict[str, Connection] = {}
        self.incoming: dict[str, IncomingCall] = {}
        """Incoming calls by their context."""
        self.recordings: dict[str, Recording] = {}
        self.subscription = Subscription(config.incoming_url) if config.incoming_url else None
        self.timers = TaskSet("incoming")
        self._env = Environment(config, self._send, self._ending)

    def _send(self, connection_id: str, url: str, event: dict[str, Any]) -> None:
        self._delivery.send(connection_id, url, event, batch=True)

    def _ending(self, connection: Connection) -> None:
        for recording in self.recordings.values():
            if recording.connection is connection:
                recording.stop()

    async def stop(self) -> None:
        """Cancel every timer of every call."""
        for connection in self.connections.values():
            await connection.timers.close()
        await self.timers.close()

    async def reset(self) -> None:
        """Back to the state at start (the handshake is done again)."""
        await self.stop()
        self.connections.clear()
        self.incoming.clear()
        self.recordings.clear()
        if self.subscription is not None:
            self.subscription.validated = False

    # -- call connections ----------------------------------------------------------------------

    def _add(self, connection: Connection) -> Connection:
        self.connections[connection.id] = connection
        return connection

    def create(self, body: CreateCallBody) -> Connection:
        """Create a call and ring its targets."""
        _check_setup(body)
        extra: dict[str, Any] = {}
        if body.source_caller_id_number is not None:
            extra["sourceCallerIdNumber"] = {"value": body.source_caller_id_number.phone_number}
        if body.source_display_name is not None:
            extra["sourceDisplayName"] = body.source_display_name
        connection = Connection(
            self._env, body, source=body.source, targets=body.targets, extra=extra
        )
        self._add(connection)
        scenario = self._scenario()
        for target in body.targets:
            ringing.ring(connection, Party(target, scenario.script_for(target), Role.TARGET))
        return connection

    def connection(self, connection_id: str) -> Connection:
        """The call connection ``connection_id``; 404/8522 if there is none."""
        connection = self.connections.get(connection_id)
        if connection is None:
            raise NotFound(f"call connection {connection_id} not found", code="8522")
        return connection

    def _live_call(self, call_id: str) -> Connection | None:
        """The newest live connection on the server call, group call or room ``call_id``."""
        live = [c for c in self.connections.values()
                if call_id in (c.server_call_id, c.locator_id) and not c.ended]
        return live[-1] if live else None

    def connect(self, body: ConnectBody) -> Connection:
        """Join an existing call (server call id), a group call or a room."""
        _check_setup(body)
        locator = body.call_locator
        existing = self._live_call(locator.id)
        connection = self._add(Connection(
            self._env, body, server_call_id=existing.server_call_id if existing else None,
            correlation_id=existing.correlation_id if existing else None,
        ))
        connection.locator_id = locator.group_call_id or locator.room_id
        if locator.server_call_id and existing is None:
            connection.emit("ConnectFailed", {}, operation_context=body.operation_context,
                            result=codes.SERVER_CALL_NOT_FOUND)
            connection.end(codes.SERVER_CALL_NOT_FOUND)
            return connection
        for party in existing.parties if existing else []:
            if party.connected:
                # the same people, but their scripts already run in the other connection
                connection.parties.append(
                    Party(party.identifier, CalleeScript(), Role.MOVED_IN, PartyState.CONNECTED)
                )
        connection.connect_now()
        return connection

    # -- incoming calls ------------------------------------------------------------------------

    async def ring(self, caller: Identifier, callee: Identifier, display_name: str) -> IncomingCall:
        """An incoming call: the handshake if not done yet, then IncomingCall through Event Grid."""
        subscription = self.subscription
        if subscription is None:
            raise Conflict(
                "no Event Grid subscription: start the emulator with --incoming-url URL",
                code="NoSubscription",
            )
        await subscription.validate(self._delivery.client, self.config.delivery.timeout)
        call = IncomingCall(caller, callee, display_name)
        self.incoming[call.context] = call

        def give_up() -> None:
            if call.state == "ringing":
                call.state = "timed_out"

        self.timers.later(self.config.ring_timeout, give_up, "incoming")
        self._delivery.send(
            EVENT_GRID_QUEUE, subscription.url, call.event(), batch=True,
            headers={"aeg-event-type": "Notification"}, signed=False,
        )
        return call

    def _ringing(self, context: str) -> IncomingCall:
        call = self.incoming.get(context)
        if call is None:
            raise BadRequest("incomingCallContext: not the context of an incoming call")
        if call.state == "answered":
            raise Conflict("the incoming call was already answered", code="8519")
        if call.state == "timed_out":
            raise BadRequest(
                f"Incoming call not answered within time: it rang {self.config.ring_timeout:g} s "
                "and was given up.",
                code="8587",
            )
        if call.state != "ringing":
            raise NotFound(f"the incoming call was {call.state}", code="8522")
        return call

    def answer(self, body: AnswerBody) -> Connection:
        """Answer an incoming call: the caller is connected at once."""
        call = self._ringing(body.incoming_call_context)
        _check_setup(body)
        extra: dict[str, Any] = {}
        if body.answered_by is not None:
            extra["answeredBy"] = {"id": body.answered_by.raw_id}
        connection = self._add(Connection(
            self._env, body, server_call_id=call.server_call_id,
            correlation_id=call.correlation_id, source=call.caller, targets=[call.callee],
            extra=extra,
        ))
        call.state = "answered"
        call.call_connection_id = connection.id
        caller = Party(call.caller, self._scenario().script_for(call.caller), Role.CALLER,
                       PartyState.CONNECTED)
        connection.parties.append(caller)
        connection.connect_now()
        connection.follow_script(caller)
        return connection

    def redirect(self, body: RedirectBody) -> None:
        """Send an incoming call elsewhere; nothing more reaches the application."""
        call = self._ringing(body.incoming_call_context)
        call.state = "redirected"
        call.detail = body.target.raw_id

    def reject(self, body: RejectBody) -> None:
        """Refuse an incoming call."""
        call = self._ringing(body.incoming_call_context)
        call.state = "rejected"
        call.detail = body.call_reject_reason

    # -- recordings ----------------------------------------------------------------------------

    def start_recording(self, body: StartRecordingBody) -> Recording:
        """Start recording a call (RecordingStateChanged follows)."""
        if body.call_connection_id is not None:
            connection = self.connection(body.call_connection_id)
        else:
            assert body.call_locator is not None
            found = self._live_call(body.call_locator.id)
            if found is None:
                raise NotFound(f"callLocator: no call {body.call_locator.id} is up", code="8522")
            connection = found
        connection.require_connected()
        if any(r.connection.server_call_id == connection.server_call_id and not r.stopped
               for r in self.recordings.values()):
            raise BadRequest("a recording is already in progress in this call", code="8559")
        recording = Recording(
            connection, body.recording_state_callback_uri, body.recording_content_type,
            body.recording_channel_type, body.recording_format_type,
        )
        self.recordings[recording.id] = recording
        recording.change("inactive" if body.pause_on_start else "active")
        return recording

    def recording(self, recording_id: str) -> Recording:
        """A recording that has not been stopped; 404/8522 otherwise."""
        recording = self.recordings.get(recording_id)
        if recording is None or recording.stopped:
            raise NotFound(f"recording {recording_id} not found", code="8522")
        return recording
