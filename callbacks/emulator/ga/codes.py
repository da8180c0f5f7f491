"""``resultInformation`` of GA callbacks: the service's codes, subcodes and messages.

Codes and messages follow Microsoft's published tables (recognize and play event codes, the Call
Automation subcodes, the call-end codes); where the service documents none for a case, the
emulator uses the nearest documented one and says so in ``docs/emulator.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Result:
    """One ``resultInformation``: HTTP-like code, subcode, message."""

    code: int
    sub_code: int
    message: str

    def to_wire(self) -> dict[str, Any]:
        """``{"code", "subCode", "message"}``."""
        return {"code": self.code, "subCode": self.sub_code, "message": self.message}


COMPLETED = Result(200, 0, "Action completed successfully.")
STARTED = Result(200, 0, "Action started.")
CANCELED = Result(400, 8508, "Action failed, the operation was canceled.")

# call state
CONNECTED = Result(200, 0, "Call connected.")
ENDED_BY_APP = Result(0, 7000, "Call was ended by Azure Communication Service Call Automation API.")
ENDED_BY_REMOTE = Result(0, 0, "Call ended successfully by remote participant.")
ENDED_BY_REMOTE_PSTN = Result(0, 560000, "Call ended successfully by remote PSTN participant.")
TRANSFERRED = Result(0, 7015, "Call ended as it was transferred to another participant.")
DECLINED = Result(603, 0, "Call ended successfully as it was declined from callee.")
BUSY = Result(486, 560486, "Call ended because remote participant was busy.")
NO_ANSWER = Result(
    487, 10004, "Call was canceled on timeout, as target user didn't accept or reject it on time."
)
INVITATION_CANCELED = Result(487, 8542, "Call canceled by the application.")
NOT_IN_CALL = Result(404, 8558, "Participant not present in the call.")
SERVER_CALL_NOT_FOUND = Result(404, 8522, "Call not found.")

# play
PLAY_BAD_FORMAT = Result(400, 8535, "Action failed, file format is invalid.")
COGNITIVE_BAD_REQUEST = Result(
    400,
    8565,
    "Action failed, bad request to Cognitive Services. Please check your input parameters.",
)

# recognize
MAX_DIGITS = Result(200, 8531, "Action completed, max digits received.")
STOP_TONE = Result(200, 8514, "Action completed as stop tone was detected.")
DTMF_OPTION_MATCHED = Result(200, 8533, "Action completed, DTMF option matched.")
SPEECH_OPTION_MATCHED = Result(200, 8545, "Action completed, speech option matched.")
SPEECH_RECOGNIZED = Result(200, 8569, "Action completed, speech was recognized.")
INTER_DIGIT_TIMEOUT = Result(400, 8532, "Action failed, inter-digit silence timeout reached.")
INITIAL_SILENCE_TIMEOUT = Result(400, 8510, "Action failed, initial silence timeout reached.")
PROMPT_FAILED = Result(
    500, 8511, "Action failed, encountered failure while trying to play the prompt."
)
SPEECH_OPTION_NOT_MATCHED = Result(
    400, 8547, "Action failed, recognized phrase does not match a valid option."
)
INCORRECT_TONE = Result(500, 8534, "Action failed, incorrect tone entered.")

# streaming and transcription
STREAM_URL_MISSING = Result(400, 8581, "Action failed, the stream URL is missing.")
