"""Build parsed GA events of one call, in the emulator's wire shapes, for flow unit tests."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from callbacks.emulator.ga.wire import cloud_event, event_grid_event, event_time, identifier_ga
from callbacks.events import Event, parse_events
from callbacks.identifiers import identifier

CALL = "9b2c0e00-0000-4000-8000-0000000ga001"
SERVER_CALL = "aHR0cHM6Ly9lbXVsYXRvci5sb2NhbC9jb252L3Rlc3Q"


class GaCallEvents:
    """Events of one GA call connection; each method returns the parsed event."""

    def __init__(self, call_id: str = CALL) -> None:
        self.call_id = call_id

    def event(
        self,
        event_type: str,
        operation_context: str | None = None,
        result: tuple[int, int] | None = None,
        *,
        at: datetime | None = None,
        **data: Any,
    ) -> Event:
        """``Microsoft.Communication.<event_type>`` with ``data`` besides the call's ids."""
        body: dict[str, Any] = {
            "callConnectionId": self.call_id, "serverCallId": SERVER_CALL,
            "correlationId": "c0ffee00-0000-4000-8000-000000000001", **data,
        }
        if operation_context is not None:
            body["operationContext"] = operation_context
        if result is not None:
            body["resultInformation"] = {"code": result[0], "subCode": result[1], "message": ""}
        document = cloud_event(event_type, f"calling/callConnections/{self.call_id}", body)
        if at is not None:
            document["time"] = event_time(at)
        return parse_events(json.dumps([document]).encode())[0]

    def connected(self, operation_context: str | None = None) -> Event:
        """CallConnected."""
        return self.event("CallConnected", operation_context, (200, 0))

    def disconnected(self) -> Event:
        """CallDisconnected."""
        return self.event("CallDisconnected", None, (0, 7000))

    def recognized(self, operation_context: str, *, tones: str = "", label: str | None = None,
                   at: datetime | None = None) -> Event:
        """RecognizeCompleted with DTMF ``tones`` ("12#") or a choice's ``label``."""
        names = {"#": "pound", "*": "asterisk"}
        digit_names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                       "nine"]
        if label is not None:
            return self.event("RecognizeCompleted", operation_context, (200, 8545), at=at,
                              recognitionType="choices",
                              choiceResult={"label": label, "recognizedPhrase": label})
        wire = [names.get(t) or digit_names[int(t)] for t in tones]
        return self.event("RecognizeCompleted", operation_context, (200, 8531), at=at,
                          recognitionType="dtmf", dtmfResult={"tones": wire})

    def recognize_failed(self, operation_context: str, subcode: int = 8510) -> Event:
        """RecognizeFailed: 8510 no input, 8511 the prompt could not play, 8534 a wrong key."""
        return self.event("RecognizeFailed", operation_context, (400, subcode))

    def played(self, operation_context: str, *, failed: bool = False) -> Event:
        """PlayCompleted, or PlayFailed (400/8535)."""
        if failed:
            return self.event("PlayFailed", operation_context, (400, 8535))
        return self.event("PlayCompleted", operation_context, (200, 0))

    def play_started(self, operation_context: str) -> Event:
        """PlayStarted."""
        return self.event("PlayStarted", operation_context, (200, 0))

    def transfer(self, operation_context: str, target: str, *, failed: bool = False) -> Event:
        """CallTransferAccepted (to ``target``), or CallTransferFailed."""
        if failed:
            return self.event("CallTransferFailed", operation_context, (603, 0))
        return self.event("CallTransferAccepted", operation_context, (200, 0),
                          transferTarget=identifier_ga(identifier(target)))

    def recording(self, recording_id: str, state: str = "active") -> Event:
        """RecordingStateChanged."""
        return self.event("RecordingStateChanged", None, None, recordingId=recording_id,
                          state=state)

    def added(self, operation_context: str, target: str, *, failed: bool = False) -> Event:
        """AddParticipantSucceeded, or AddParticipantFailed (603)."""
        kind = "AddParticipantFailed" if failed else "AddParticipantSucceeded"
        return self.event(kind, operation_context, (603, 0) if failed else (200, 0),
                          participant=identifier_ga(identifier(target)))


def incoming_call(caller: str, callee: str, context: str = "incoming-context-1") -> Event:
    """An Event Grid IncomingCall from ``caller`` to ``callee``."""
    data = {"from": identifier_ga(identifier(caller)), "to": identifier_ga(identifier(callee)),
            "incomingCallContext": context, "correlationId": "c0ffee00-0000-4000-8000-0000000001",
            "serverCallId": SERVER_CALL, "callerDisplayName": ""}
    document = event_grid_event("Microsoft.Communication.IncomingCall", "/caller", data, "/topic")
    return parse_events(json.dumps([document]).encode())[0]
