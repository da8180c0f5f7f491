"""Scripted callees: how each simulated participant behaves once the emulator rings it.

A scenario is a JSON or TOML document (see ``docs/emulator.md``)::

    [default]                   # every callee no entry below matches
    answer = true
    answer_after = 0.5          # seconds of ringing; omitted: the emulator's --answer-delay

    [[callees]]
    match = "+14251001000"      # raw id, phone number or ACS user id
    press = [{ tones = "1", after_prompt = 1, delay = 0.2 }]
    hang_up = { during_prompt = 2, delay = 0.5 }

    [[callees]]                 # GA: answers a recognize prompt, declines transfers to it
    match = "8:acs:resource_agent"
    answer = "decline"          # true, false (never), "busy" or "decline"
    recognize = [{ tones = "12#" }, { say = "billing" }, { choice = "Confirm" }, { silent = true }]

A timing names exactly one trigger: ``at`` (seconds after the callee answered), ``after_prompt``
(the n-th prompt of the call finished, 1-based) or ``during_prompt`` (the n-th prompt started);
``delay`` adds seconds after the trigger. ``recognize`` (GA) answers the callee's n-th recognize
operation with its n-th entry, ``delay`` seconds after the prompt ended; past the list it stays
silent. No I/O except :func:`load_scenario`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callbacks.emulator.tones import parse_tones
from callbacks.emulator.validation import first_error
from callbacks.identifiers import Identifier

Trigger = Literal["answer", "prompt_end", "prompt_start"]


class Timing(BaseModel):
    """When something happens: one of ``at``, ``after_prompt``, ``during_prompt``; + ``delay``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float | None = Field(default=None, ge=0)
    after_prompt: int | None = Field(default=None, ge=1)
    during_prompt: int | None = Field(default=None, ge=1)
    delay: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _one_trigger(self) -> Timing:
        given = [v for v in (self.at, self.after_prompt, self.during_prompt) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'at', 'after_prompt' or 'during_prompt'")
        return self

    @property
    def trigger(self) -> Trigger:
        """What starts the clock."""
        if self.after_prompt is not None:
            return "prompt_end"
        if self.during_prompt is not None:
            return "prompt_start"
        return "answer"

    @property
    def prompt(self) -> int:
        """The 1-based prompt number the trigger refers to (0 for ``at``)."""
        return self.after_prompt or self.during_prompt or 0

    @property
    def seconds(self) -> float:
        """Seconds from the trigger to the action."""
        return (self.at or 0.0) + self.delay


class Press(Timing):
    """DTMF tones a callee presses: ``"12#"`` or ``["tone1", "pound"]``."""

    tones: list[str]

    @field_validator("tones", mode="before")
    @classmethod
    def _wire_names(cls, value: Any) -> list[str]:
        if not isinstance(value, str | list):
            raise ValueError("tones must be a string like '12#' or a list of tone names")
        return parse_tones(value)


class HangUp(Timing):
    """When a callee hangs up."""


Answer = bool | Literal["busy", "decline"]
"""Whether a callee picks up: true, false (it rings until given up), busy or decline (at once)."""


class Reply(BaseModel):
    """What a callee does at a recognize prompt: press tones, say a phrase, pick a choice or
    stay silent; ``delay`` seconds after the prompt ended."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tones: list[str] | None = None
    say: str | None = Field(default=None, min_length=1)
    choice: str | None = Field(default=None, min_length=1)
    """The label of one of the recognize request's choices: the callee says its first phrase."""
    silent: bool = False
    delay: float = Field(default=0.0, ge=0)

    @field_validator("tones", mode="before")
    @classmethod
    def _wire_names(cls, value: Any) -> list[str]:
        if not isinstance(value, str | list):
            raise ValueError("tones must be a string like '12#' or a list of tone names")
        return parse_tones(value)

    @model_validator(mode="after")
    def _one_reply(self) -> Reply:
        given = [v for v in (self.tones, self.say, self.choice) if v is not None]
        if len(given) + self.silent != 1:
            raise ValueError("give exactly one of 'tones', 'say', 'choice' or 'silent = true'")
        return self


class CalleeScript(BaseModel):
    """How one simulated callee behaves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str | None = None
    answer: Answer = True
    answer_after: float | None = Field(default=None, ge=0)
    press: list[Press] = Field(default_factory=list)
    hang_up: HangUp | None = None
    recognize: list[Reply] = Field(default_factory=list)

    @field_validator("answer", mode="before")
    @classmethod
    def _answer(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("busy", "decline"):
            return value.lower()
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError("expected true, false, \"busy\" or \"decline\"")

    def matches(self, identifier: Identifier) -> bool:
        """Whether ``match`` names ``identifier`` (raw id, phone number or ACS user id)."""
        if self.match is None:
            return False
        names = {identifier.raw_id, identifier.communication_user_id, identifier.phone_number}
        return self.match in names


class Scenario(BaseModel):
    """Every scripted callee, and the behaviour of the others."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: CalleeScript = Field(default_factory=CalleeScript)
    callees: list[CalleeScript] = Field(default_factory=list)

    @model_validator(mode="after")
    def _each_matches_something(self) -> Scenario:
        for index, script in enumerate(self.callees):
            if not script.match:
                raise ValueError(f"callees[{index}].match: field required")
        return self

    def script_for(self, identifier: Identifier) -> CalleeScript:
        """The first callee entry matching ``identifier``, else the default."""
        return next((s for s in self.callees if s.matches(identifier)), self.default)


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """Validate a decoded scenario document; ``ValueError`` names the bad field."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"invalid scenario: {first_error(exc)}") from None


def parse_callee(data: Mapping[str, Any]) -> CalleeScript:
    """Validate one callee entry (the CLI's ``--callee``); ``ValueError`` names the bad field."""
    try:
        script = CalleeScript.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"invalid callee: {first_error(exc)}") from None
    if not script.match:
        raise ValueError("invalid callee: match: field required")
    return script


def load_scenario(path: str | Path) -> Scenario:
    """Read a ``.json`` or ``.toml`` scenario file; ``ValueError`` names the file and the field."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text.decode("utf-8"))
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise ValueError("the file name must end in .json or .toml")
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"scenario {path} is not valid {path.suffix[1:].upper()}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"scenario {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"scenario {path}: expected an object at the top level")
    try:
        return parse_scenario(data)
    except ValueError as exc:
        raise ValueError(f"scenario {path}: {exc}") from None
