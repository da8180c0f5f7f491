"""Building blocks of event models: dialects, enumerations, data models, the ``Event`` base.

Data keys arrive PascalCase (2021 preview) or camelCase (callingserver, GA); every data model
accepts both and exposes snake_case attributes. Enumerations compare case-insensitively, and a
value this code does not know yet is kept as a plain string rather than rejected, so a new state
from the service never turns into a lost event. No I/O here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_pascal

from callbacks.identifiers import Identifier


class Dialect(StrEnum):
    """Which generation of the service produced an event."""

    PREVIEW_2021 = "preview2021"
    CALLINGSERVER = "callingserver"
    GA = "ga"
    EVENT_GRID = "eventgrid"


class _CaseInsensitiveEnum(StrEnum):
    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            folded = value.casefold()
            for member in cls:
                if member.value.casefold() == folded:
                    return member
        return None


class CallState(_CaseInsensitiveEnum):
    """State of a call leg (2021) or call connection (callingserver)."""

    UNKNOWN = "unknown"
    IDLE = "idle"
    INCOMING = "incoming"
    ESTABLISHING = "establishing"
    ESTABLISHED = "established"
    HOLD = "hold"
    UNHOLD = "unhold"
    TRANSFERRING = "transferring"
    REDIRECTING = "redirecting"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"
    DISCONNECTED = "disconnected"


_GA_TONE_NAMES = {
    "zero": "tone0", "one": "tone1", "two": "tone2", "three": "tone3", "four": "tone4",
    "five": "tone5", "six": "tone6", "seven": "tone7", "eight": "tone8", "nine": "tone9",
    "asterisk": "star",
}  # fmt: skip


class Tone(_CaseInsensitiveEnum):
    """A DTMF tone; GA names (``one``, ``asterisk``) map to the same members."""

    TONE0 = "tone0"
    TONE1 = "tone1"
    TONE2 = "tone2"
    TONE3 = "tone3"
    TONE4 = "tone4"
    TONE5 = "tone5"
    TONE6 = "tone6"
    TONE7 = "tone7"
    TONE8 = "tone8"
    TONE9 = "tone9"
    STAR = "star"
    POUND = "pound"
    A = "a"
    B = "b"
    C = "c"
    D = "d"
    FLASH = "flash"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            value = _GA_TONE_NAMES.get(value.casefold(), value)
        return super()._missing_(value)

    @property
    def digit(self) -> str:
        """The key as printed on a keypad: ``"1"``, ``"*"``, ``"#"``, ``"A"``."""
        if self.value.startswith("tone"):
            return self.value[4:]
        return {"star": "*", "pound": "#", "flash": "!"}.get(self.value, self.value.upper())

    @property
    def ga_name(self) -> str:
        """The tone as GA Call Automation spells it: ``"one"``, ``"asterisk"``, ``"pound"``."""
        return _GA_NAME_OF.get(self.value, self.value)


_GA_NAME_OF = {member: name for name, member in _GA_TONE_NAMES.items()}


class OperationStatus(_CaseInsensitiveEnum):
    """Status of a media or participant operation."""

    NOT_STARTED = "notStarted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class RecordingState(_CaseInsensitiveEnum):
    """Whether a recording is running."""

    ACTIVE = "active"
    INACTIVE = "inactive"


# A known member when the value is one (any casing), else the string as received.
_KEEP_UNKNOWN = Field(union_mode="left_to_right")
CallStateValue = Annotated[CallState | str, _KEEP_UNKNOWN]
ToneValue = Annotated[Tone | str, _KEEP_UNKNOWN]
OperationStatusValue = Annotated[OperationStatus | str, _KEEP_UNKNOWN]
RecordingStateValue = Annotated[RecordingState | str, _KEEP_UNKNOWN]


def _aliases(name: str) -> AliasChoices:
    return AliasChoices(name, to_camel(name), to_pascal(name))


class WireModel(BaseModel):
    """Accepts snake_case, camelCase and PascalCase keys; ignores keys it does not know."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=_aliases),
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


class ResultInfo(WireModel):
    """Outcome code of an operation (``resultInfo`` / ``resultInformation``)."""

    code: int | None = None
    subcode: int | None = Field(
        default=None, validation_alias=AliasChoices("subcode", "Subcode", "subCode", "sub_code")
    )
    message: str | None = None


class ToneInfo(WireModel):
    """One received DTMF tone and its position in the call's tone sequence."""

    sequence_id: int
    tone: ToneValue


class Participant(WireModel):
    """A call participant as listed in ``ParticipantsUpdated``."""

    identifier: Identifier
    participant_id: str | None = None
    is_muted: bool = False
    is_on_hold: bool | None = None


class CallData(WireModel):
    """Fields every call event may carry; subclasses add their own."""

    REQUIRES_CALL: ClassVar[bool] = True

    call_leg_id: str | None = None
    call_connection_id: str | None = None
    server_call_id: str | None = None
    correlation_id: str | None = None
    operation_context: str | None = None
    result_info: ResultInfo | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "result_info", "resultInfo", "ResultInfo", "resultInformation", "ResultInformation"
        ),
    )

    @model_validator(mode="after")
    def _has_call(self) -> CallData:
        if self.REQUIRES_CALL and not (self.call_leg_id or self.call_connection_id):
            raise ValueError("a call event needs CallLegId or callConnectionId")
        return self

    @property
    def call_id(self) -> str | None:
        """The call this event belongs to, whichever dialect named it."""
        return self.call_leg_id or self.call_connection_id

    @property
    def sequence(self) -> int | None:
        """The event's own sequence number, where its type carries one."""
        return None


class Event(BaseModel):
    """Base of every event model; handlers receive subclasses of it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str] = ""
    """Short type name, such as ``PlayAudioResult``."""
    NAMESPACE: ClassVar[str] = "Microsoft.Communication"

    id: str | None = None
    full_type: str
    time: datetime | None = None
    subject: str | None = None
    source: str | None = None
    dialect: Dialect
    data: Any = None
    identity: str = Field(default="", repr=False)
    """The event id, or a stable hash of its content when the id is null."""
    raw: bytes = Field(default=b"", repr=False, exclude=True)
    """This event's JSON element as received."""

    @field_validator("time")
    @classmethod
    def _reaches_utc(cls, value: datetime | None) -> datetime | None:
        """The log keeps times in UTC, which a time near year 1 or 9999 may not reach."""
        if value is not None and value.tzinfo is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("out of range once in UTC (years 1 to 9999)") from None
        return value

    @property
    def type(self) -> str:
        """Short type name, such as ``PlayAudioResult``."""
        return self.TYPE or self.full_type.rsplit(".", 1)[-1]

    @property
    def call_id(self) -> str | None:
        """callLegId or callConnectionId; None for events outside a call (IncomingCall)."""
        return getattr(self.data, "call_id", None)

    @property
    def operation_context(self) -> str | None:
        """The ``operationContext`` echoed from the request that caused the event."""
        return getattr(self.data, "operation_context", None)

    @property
    def sequence(self) -> int | None:
        """ToneInfo.SequenceId or sequenceNumber, where the event carries one."""
        return getattr(self.data, "sequence", None)

    @property
    def result_info(self) -> ResultInfo | None:
        """The outcome the event reports (``resultInformation``, or ``resultInfo`` before GA)."""
        info = getattr(self.data, "result_info", None)
        return info if isinstance(info, ResultInfo) else None

    @property
    def result_code(self) -> int | None:
        """``resultInformation.code`` (an HTTP-like status), where the event carries one."""
        info = self.result_info
        return info.code if info is not None else None

    @property
    def result_subcode(self) -> int | None:
        """``resultInformation.subCode`` (8510: no input in time), where the event carries one."""
        info = self.result_info
        return info.subcode if info is not None else None
