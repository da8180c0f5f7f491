"""The IVR's settings: its menus, their options and what each option does (``[ivr]`` in TOML).

A menu has a prompt and options; an option is picked by a DTMF key and/or spoken phrases (a
choice, reported by its label), and runs an action: ``play`` a message, ``transfer`` to a phone
number or user, take a ``voicemail``, go to another ``menu``, or ``hangup``. Any action may say a
``message`` first. A menu with spoken phrases, and any text or SSML prompt, needs the
``cognitive_services_endpoint`` the call is answered with; the checks here refuse such a menu
without it, naming the menu. No I/O here.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from callbacks import FileSource, SsmlSource, TextSource, target_identifier

KEY = re.compile(r"^[0-9*#]$")
MENU_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
ActionKind = Literal["play", "transfer", "voicemail", "menu", "hangup"]
_STRICT = ConfigDict(frozen=True, extra="forbid")
NEEDS_SPEECH = "needs cognitive_services_endpoint (speech runs on Azure AI services)"


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an absolute http(s) URL")
    return value


class Prompt(BaseModel):
    """What the caller hears: an audio file (a URL, or ``{url = ...}``), ``{text = ...}``
    spoken by ``voice``, or ``{ssml = "<speak>..."}``."""

    model_config = _STRICT

    url: str | None = None
    text: str | None = Field(default=None, min_length=1, max_length=400)
    ssml: str | None = Field(default=None, min_length=1, max_length=4000)

    @model_validator(mode="before")
    @classmethod
    def _a_url_alone(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Prompt:
        if sum(v is not None for v in (self.url, self.text, self.ssml)) != 1:
            raise ValueError("a prompt is an audio URL, or exactly one of url, text, ssml")
        if self.url is not None:
            _http_url(self.url, "url")
        return self

    @property
    def spoken(self) -> bool:
        """Text-to-speech (text or SSML): it needs cognitive services."""
        return self.url is None

    def source(self, voice: str) -> FileSource | TextSource | SsmlSource:
        """The play source."""
        if self.url is not None:
            return FileSource(self.url)
        if self.text is not None:
            return TextSource(self.text, voice_name=voice)
        assert self.ssml is not None
        return SsmlSource(self.ssml)


class Action(BaseModel):
    """What an option (or the fallback) does; ``message``, if any, is said first."""

    model_config = _STRICT

    action: ActionKind
    message: Prompt | None = None
    to: str | None = Field(default=None, description="transfer: +1... or 8:acs:...")
    menu: str | None = Field(default=None, description="menu: the menu to go to")
    then: Literal["hangup", "menu"] = Field(
        default="hangup", description="play: hang up after the message, or ask the menu again"
    )
    max_length: int = Field(default=60, ge=1, le=300, description="voicemail: seconds at most")

    @field_validator("to")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None:
            target_identifier(value)
        return value

    @model_validator(mode="after")
    def _what_each_action_needs(self) -> Action:
        kind, given = self.action, self.model_fields_set
        if kind in ("play", "voicemail") and self.message is None:
            raise ValueError(f"a {kind} action needs a message")
        if (kind == "transfer") != (self.to is not None):
            raise ValueError("a transfer action needs to = ..., and only a transfer has one")
        if (kind == "menu") != (self.menu is not None):
            raise ValueError("a menu action needs menu = ..., and only a menu action has one")
        if "then" in given and kind != "play":
            raise ValueError("only a play action has then")
        if "max_length" in given and kind != "voicemail":
            raise ValueError("only a voicemail action has max_length")
        return self

    def prompts(self) -> list[Prompt]:
        """The prompts this action plays."""
        return [self.message] if self.message is not None else []


class MenuOption(Action):
    """One choice of a menu: a key and/or phrases, and its action."""

    key: str | None = None
    phrases: list[str] = Field(default_factory=list, max_length=10)
    label: str | None = Field(default=None, min_length=1, max_length=40)

    @field_validator("key")
    @classmethod
    def _one_key(cls, value: str | None) -> str | None:
        if value is not None and not KEY.match(value):
            raise ValueError("key must be one DTMF key: 0-9, * or #")
        return value

    @field_validator("phrases")
    @classmethod
    def _phrases(cls, value: list[str]) -> list[str]:
        if any(not phrase.strip() for phrase in value):
            raise ValueError("a phrase must not be empty")
        return value

    @model_validator(mode="after")
    def _picked_somehow(self) -> MenuOption:
        if self.key is None and not self.phrases:
            raise ValueError("an option needs a key, phrases, or both")
        if self.action == "hangup" and self.message is None:
            # the message's play marks the choice in the log: the caller's hang-up would look alike
            raise ValueError("a hangup option needs a message (a goodbye)")
        return self

    @property
    def choice_label(self) -> str:
        """The label a choices recognition reports for this option."""
        return self.label or (self.phrases[0] if self.phrases else f"key {self.key}")


class Menu(BaseModel):
    """A prompt and the options it offers."""

    model_config = _STRICT

    prompt: Prompt
    options: list[MenuOption] = Field(min_length=1, max_length=16)

    @model_validator(mode="after")
    def _distinct(self) -> Menu:
        keys = [o.key for o in self.options if o.key is not None]
        if len(set(keys)) != len(keys):
            raise ValueError("two options have the same key")
        labels = [o.choice_label.casefold() for o in self.options]
        if len(set(labels)) != len(labels):
            raise ValueError("two options have the same label (or first phrase)")
        phrases = [p.casefold() for o in self.options for p in o.phrases]
        if len(set(phrases)) != len(phrases):
            raise ValueError("two options share a phrase")
        return self

    @property
    def spoken(self) -> bool:
        """Whether the menu listens for phrases (a choices recognition) rather than keys only."""
        return any(option.phrases for option in self.options)

    def pick(self, digits: str | None, label: str | None) -> int | None:
        """The 1-based number of the option the input picks, or None for input it does not know."""
        for number, option in enumerate(self.options, 1):
            if label is not None and option.choice_label.casefold() == label.casefold():
                return number
            if label is None and digits and option.key == digits[:1]:
                return number
        return None


class IvrSettings(BaseModel):
    """Settings of the ivr plugin (``CALLBACKS_IVR_*`` or ``[ivr]``)."""

    model_config = _STRICT

    cognitive_services_endpoint: str | None = Field(
        default=None, description="Azure AI services endpoint: spoken choices and text prompts"
    )
    numbers: list[str] = Field(
        default_factory=list, description="numbers or users it answers for; empty: every call"
    )
    start: str = Field(default="main", description="the first menu")
    input_timeout: int = Field(default=5, ge=1, le=300, description="seconds to wait for input")
    retries: int = Field(default=2, ge=0, le=10, description="replays of a menu after no input "
                         "or an invalid one, before the fallback")
    retry_message: Prompt | None = Field(default=None, description="said before a replay")
    fallback: Action | None = Field(default=None, description="after the last replay; unset: "
                                    "hang up")
    voice: str = Field(default="en-US-JennyNeural", description="the voice of text prompts")
    language: str = Field(default="en-US", description="the language of spoken choices")
    menus: dict[str, Menu] = Field(description="the menus by name (TOML: [ivr.menus.NAME])")

    @field_validator("cognitive_services_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "the endpoint")

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        return [target_identifier(number).raw_id for number in value]

    @field_validator("retry_message")
    @classmethod
    def _retry(cls, value: Prompt | None, info: ValidationInfo) -> Prompt | None:
        if value is not None and value.spoken and not _speaks(info):
            raise ValueError(f"a text or SSML message {NEEDS_SPEECH}")
        return value

    @field_validator("fallback")
    @classmethod
    def _last(cls, value: Action | None, info: ValidationInfo) -> Action | None:
        if value is None:
            return value
        if value.action == "menu" or value.then == "menu":
            raise ValueError("the fallback runs after the last replay: it cannot lead to a menu")
        if any(p.spoken for p in value.prompts()) and not _speaks(info):
            raise ValueError(f"a text or SSML message {NEEDS_SPEECH}")
        return value

    @field_validator("menus")
    @classmethod
    def _coherent(cls, menus: dict[str, Menu], info: ValidationInfo) -> dict[str, Menu]:
        for name in menus:
            if not MENU_NAME.match(name):
                raise ValueError(f"menu name {name!r} must match {MENU_NAME.pattern}")
        start = info.data.get("start", "main")
        if start not in menus:
            raise ValueError(f"no menu {start!r} to start with (start = {start!r})")
        for name, menu in menus.items():
            for number, option in enumerate(menu.options, 1):
                if option.menu is not None and option.menu not in menus:
                    raise ValueError(f"menu {name!r} option {number} goes to menu "
                                     f"{option.menu!r}, which is not defined")
            if not _speaks(info):
                _refuse_speech(name, menu)
        return menus

    def action(self, ref: str) -> Action | None:
        """The action ``ref`` names: ``<menu>/<option number>`` or ``fallback``."""
        if ref == "fallback":
            return self.fallback or Action(action="hangup")
        name, _, number = ref.partition("/")
        menu = self.menus.get(name)
        if menu is None or not number.isdigit() or not 0 < int(number) <= len(menu.options):
            return None
        return menu.options[int(number) - 1]


def _speaks(info: ValidationInfo) -> bool:
    return info.data.get("cognitive_services_endpoint") is not None


def _refuse_speech(name: str, menu: Menu) -> None:
    """A ValueError naming what in menu ``name`` needs cognitive services, if anything does."""
    if menu.spoken:
        raise ValueError(f"menu {name!r} listens for spoken phrases, which {NEEDS_SPEECH}")
    if menu.prompt.spoken:
        raise ValueError(f"menu {name!r} has a text or SSML prompt, which {NEEDS_SPEECH}")
    for number, option in enumerate(menu.options, 1):
        if any(p.spoken for p in option.prompts()):
            raise ValueError(f"menu {name!r} option {number} says a text or SSML message, "
                             f"which {NEEDS_SPEECH}")
