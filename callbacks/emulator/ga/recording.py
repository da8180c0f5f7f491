"""Call recordings: start, pause, resume, stop, each posting RecordingStateChanged.

A recording belongs to a server call and posts to ``recordingStateCallbackUri`` when the start
request gave one, else to the callback URI of the call connection it records, behind that
call's other callbacks. ``source`` and ``subject`` are
``calling/recordings/<serverCallId>/recordingId/<recordingId>``. When the call ends, its active
recording stops (RecordingStateChanged ``inactive`` before CallDisconnected). No media is kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from callbacks.emulator.ga.connection import Connection
from callbacks.emulator.ga.wire import event_time
from callbacks.emulator.journal import redact_url

RecordingState = Literal["active", "inactive"]
RECORDING_KIND = "azureCommunicationServices"


@dataclass(slots=True, eq=False)
class Recording:
    """One recording of one call."""

    connection: Connection
    callback_uri: str | None
    content: str
    channel: str
    format: str
    state: RecordingState = "active"
    stopped: bool = False
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_wire(self) -> dict[str, Any]:
        """``RecordingStateResponse``."""
        return {
            "recordingId": self.id,
            "recordingState": self.state,
            "recordingKind": RECORDING_KIND,
        }

    def change(self, state: RecordingState) -> None:
        """Move to ``state`` and post RecordingStateChanged."""
        self.state = state
        call = self.connection
        call.emit(
            "RecordingStateChanged",
            {
                "recordingId": self.id,
                "state": state,
                "startDateTime": event_time(self.started_at),
                "recordingKind": RECORDING_KIND,
            },
            url=self.callback_uri,
            source=f"calling/recordings/{call.server_call_id}/recordingId/{self.id}",
        )

    def stop(self) -> None:
        """Stop for good: ``inactive`` posted if it was active."""
        if self.stopped:
            return
        self.stopped = True
        if self.state == "active":
            self.change("inactive")
        self.state = "inactive"

    def to_json(self) -> dict[str, Any]:
        """The recording as the control API shows it."""
        return {
            "recording_id": self.id,
            "server_call_id": self.connection.server_call_id,
            "call_connection_id": self.connection.id,
            "state": self.state,
            "stopped": self.stopped,
            "content": self.content,
            "channel": self.channel,
            "format": self.format,
            "callback_uri": redact_url(self.callback_uri) if self.callback_uri else None,
        }
