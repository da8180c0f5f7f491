"""Participant identifiers: every wire shape normalised to one model.

Call Automation names a participant in several shapes across its generations:

- 2021 preview: ``{"RawId", "CommunicationUser": {"Id"}, "PhoneNumber", "MicrosoftTeamsUser"}``
- callingserver and GA: ``{"kind", "rawId", "communicationUser": {"id"}, "phoneNumber": {"value"}}``
- a bare raw id string: ``"8:acs:..."`` or ``"4:+14251001000"``

All of them become an :class:`Identifier`. No I/O here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

ACS_USER_PREFIXES = ("8:acs:", "8:spool:", "8:dod-acs:", "8:gcch-acs:")
PHONE_PREFIX = "4:"


class IdentifierKind(StrEnum):
    """What an identifier names."""

    COMMUNICATION_USER = "communicationUser"
    PHONE_NUMBER = "phoneNumber"
    MICROSOFT_TEAMS_USER = "microsoftTeamsUser"
    UNKNOWN = "unknown"


def _lower_keys(value: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in value.items() if isinstance(k, str)}


def _sub_value(value: Any, key: str) -> str | None:
    """Read ``{"id": x}`` / ``{"Value": x}`` or a bare string."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        inner = _lower_keys(value).get(key)
        return inner if isinstance(inner, str) and inner else None
    return None


_TEAMS_PREFIXES = {"8:orgid:": "PUBLIC", "8:dod:": "DOD", "8:gcch:": "GCCH"}
_TEAMS_VISITOR = "8:teamsvisitor:"


def _teams(value: Any, raw_id: str | None) -> tuple[str | None, str, bool]:
    """(user id, cloud, anonymous) of a Teams user, from its wire object or its raw id."""
    if isinstance(value, dict):
        keys = _lower_keys(value)
        user = keys.get("userid")
        cloud = keys.get("cloud")
        return (
            user if isinstance(user, str) and user else None,
            cloud.upper() if isinstance(cloud, str) and cloud else "PUBLIC",
            keys.get("isanonymous") is True,
        )
    for prefix, cloud in _TEAMS_PREFIXES.items():
        if raw_id and raw_id.startswith(prefix):
            return raw_id[len(prefix):] or None, cloud, False
    if raw_id and raw_id.startswith(_TEAMS_VISITOR):
        return raw_id[len(_TEAMS_VISITOR):] or None, "PUBLIC", True
    return None, "PUBLIC", False


def _kind_of_raw_id(raw_id: str) -> IdentifierKind:
    if raw_id.startswith(PHONE_PREFIX):
        return IdentifierKind.PHONE_NUMBER
    if raw_id.startswith(tuple(_TEAMS_PREFIXES)) or raw_id.startswith(_TEAMS_VISITOR):
        return IdentifierKind.MICROSOFT_TEAMS_USER
    if raw_id.startswith("8:"):
        return IdentifierKind.COMMUNICATION_USER
    if raw_id.startswith("+"):
        return IdentifierKind.PHONE_NUMBER
    return IdentifierKind.UNKNOWN


def _normalise(value: Any) -> dict[str, Any]:
    """Turn any accepted wire shape into this model's own fields."""
    if isinstance(value, Identifier):
        return value.model_dump()
    if isinstance(value, str):
        # A bare phone number is a phone identifier, whose raw id is "4:" and the number.
        value = {"phoneNumber": {"value": value}} if value.startswith("+") else {"rawId": value}
    if not isinstance(value, dict):
        raise ValueError("an identifier must be an object or a raw id string")
    if {"raw_id", "kind"} <= value.keys():  # already in our own shape
        return value
    keys = _lower_keys(value)
    user_id = _sub_value(keys.get("communicationuser"), "id")
    phone = _sub_value(keys.get("phonenumber"), "value")
    teams = keys.get("microsoftteamsuser")
    raw_id = keys.get("rawid")
    if not isinstance(raw_id, str) or not raw_id:
        if user_id:
            raw_id = user_id
        elif phone:
            raw_id = PHONE_PREFIX + phone
        else:
            teams_id, cloud, anonymous = _teams(teams, None)
            prefix = _TEAMS_VISITOR if anonymous else next(
                (p for p, c in _TEAMS_PREFIXES.items() if c == cloud), "8:orgid:"
            )
            raw_id = f"{prefix}{teams_id}" if teams_id else None
    if raw_id is None:
        raise ValueError("an identifier needs rawId, communicationUser.id or phoneNumber.value")
    if user_id:
        kind = IdentifierKind.COMMUNICATION_USER
    elif phone:
        kind = IdentifierKind.PHONE_NUMBER
    elif teams:
        kind = IdentifierKind.MICROSOFT_TEAMS_USER
    else:
        kind = _kind_of_raw_id(raw_id)
    if kind is IdentifierKind.COMMUNICATION_USER and not user_id:
        user_id = raw_id
    if kind is IdentifierKind.PHONE_NUMBER and not phone:
        phone = raw_id.removeprefix(PHONE_PREFIX)
    fields: dict[str, Any] = {"raw_id": raw_id, "kind": kind, "communication_user_id": user_id,
                              "phone_number": phone}
    if kind is IdentifierKind.MICROSOFT_TEAMS_USER:
        teams_id, cloud, anonymous = _teams(teams, raw_id)
        fields.update(teams_user_id=teams_id, cloud=cloud, is_anonymous=anonymous)
    return fields


class Identifier(BaseModel):
    """A participant of a call, whatever shape it arrived in.

    Two identifiers are equal when they name the same participant (same ``raw_id``).
    """

    model_config = ConfigDict(frozen=True)

    raw_id: str
    kind: IdentifierKind
    communication_user_id: str | None = None
    phone_number: str | None = None
    teams_user_id: str | None = None
    cloud: str | None = None
    """A Teams user's cloud: PUBLIC, DOD or GCCH."""
    is_anonymous: bool = False
    """Whether a Teams user joined as an anonymous visitor."""

    @model_validator(mode="before")
    @classmethod
    def _accept_any_shape(cls, value: Any) -> Any:
        return _normalise(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identifier) and other.raw_id == self.raw_id

    def __hash__(self) -> int:
        return hash(self.raw_id)

    def to_wire(self) -> dict[str, Any]:
        """The identifier as the REST API expects it (camelCase, with ``rawId``)."""
        wire: dict[str, Any] = {"rawId": self.raw_id}
        if self.kind is IdentifierKind.COMMUNICATION_USER:
            wire["communicationUser"] = {"id": self.communication_user_id}
        elif self.kind is IdentifierKind.PHONE_NUMBER:
            wire["phoneNumber"] = {"value": self.phone_number}
        elif self.kind is IdentifierKind.MICROSOFT_TEAMS_USER and self.teams_user_id:
            wire["microsoftTeamsUser"] = {"userId": self.teams_user_id,
                                          "isAnonymous": self.is_anonymous,
                                          "cloud": self.cloud or "PUBLIC"}
        return wire


def CommunicationUserIdentifier(user_id: str) -> Identifier:
    """An ACS user, such as ``8:acs:<resource>_<guid>``."""
    return Identifier.model_validate({"communicationUser": {"id": user_id}})


def PhoneNumberIdentifier(number: str) -> Identifier:
    """A phone number in E.164 form, such as ``+14251001000``."""
    return Identifier.model_validate({"phoneNumber": {"value": number}})


def MicrosoftTeamsUserIdentifier(
    user_id: str, *, is_anonymous: bool = False, cloud: str = "PUBLIC"
) -> Identifier:
    """A Microsoft Teams user by their Entra object id (``8:orgid:<id>`` in the public cloud)."""
    return Identifier.model_validate(
        {"microsoftTeamsUser": {"userId": user_id, "isAnonymous": is_anonymous, "cloud": cloud}}
    )


def identifier(value: Identifier | str) -> Identifier:
    """``value`` as an Identifier: an Identifier as is, a raw id (``8:acs:...``, ``4:+1...``)
    or a phone number parsed."""
    return value if isinstance(value, Identifier) else Identifier.model_validate(value)


def optional_identifier(value: Identifier | str | None) -> Identifier | None:
    """:func:`identifier`, or None for None."""
    return None if value is None else identifier(value)


def phone_number(value: Identifier | str | None) -> dict[str, str] | None:
    """A caller id on the wire (``{"value": "+1..."}``), or None; ValueError if not a number."""
    if value is None:
        return None
    number = identifier(value)
    if number.kind is not IdentifierKind.PHONE_NUMBER or number.phone_number is None:
        raise ValueError("a caller id must be a phone number such as +14255550100")
    return {"value": number.phone_number}
