"""Build parsed 2021-dialect events of one call, as the emulator sends them, for flow tests."""

from __future__ import annotations

import json
from typing import Any

from callbacks.emulator.events2021 import EventFactory, ParticipantEntry
from callbacks.events import Event, parse_events
from callbacks.identifiers import Identifier

CALL = "7a1f0e00-0000-4000-8000-00000000f10w"


class CallEvents:
    """Events of one call; each method returns the parsed event."""

    def __init__(self, call_id: str = CALL) -> None:
        self.call_id = call_id
        self._factory = EventFactory("uuid")
        self._tones = 0

    @staticmethod
    def _parse(document: dict[str, Any]) -> Event:
        return parse_events(json.dumps(document).encode())[0]

    def state(self, state: str) -> Event:
        """CallLegStateChanged to ``state`` (Establishing, Established, Terminated...)."""
        conversation = None if state == "Establishing" else "conversation-1"
        return self._parse(self._factory.call_leg_state_changed(self.call_id, state, conversation))

    def participants(self, *raw_ids: str) -> Event:
        """ParticipantsUpdated with the full list ``raw_ids``."""
        entries = [
            ParticipantEntry(Identifier.model_validate(raw_id), f"p-{raw_id}") for raw_id in raw_ids
        ]
        return self._parse(self._factory.participants_updated(self.call_id, entries))

    def tone(self, key: str) -> Event:
        """DtmfReceived for ``key`` ("1", "#")."""
        self._tones += 1
        name = {"#": "Pound", "*": "Star"}.get(key, f"Tone{key}")
        return self._parse(self._factory.dtmf_received(self.call_id, self._tones, name))

    def played(self, operation_context: str, *, cancelled: bool = False) -> Event:
        """PlayAudioResult: completed, or cancelled (400/8508)."""
        return self._parse(
            self._factory.play_audio_result(self.call_id, operation_context, cancelled=cancelled)
        )

    def play_failed(self, operation_context: str) -> Event:
        """PlayAudioResult with status Failed (e.g. a missing audio file)."""
        document = self._factory.play_audio_result(self.call_id, operation_context)
        document["data"]["Status"] = "Failed"
        document["data"]["ResultInfo"] = {"Code": 404, "Subcode": 0, "Message": "not found"}
        return self._parse(document)

    def invite_result(self, operation_context: str, raw_id: str, *, failed: bool = False) -> Event:
        """InviteParticipantResult for ``raw_id``."""
        identifier = Identifier.model_validate(raw_id)
        return self._parse(self._factory.invite_participant_result(
            self.call_id, operation_context, [identifier], failed=failed
        ))
