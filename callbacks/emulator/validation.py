"""Turn a pydantic ``ValidationError`` into one line that names the field: ``targets[0]: ...``."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

_MESSAGES = {
    "missing": "field required",
    "extra_forbidden": "unknown field",
}


def field_path(loc: Sequence[int | str]) -> str:
    """``("targets", 0, "rawId")`` as ``targets[0].rawId``; empty for the whole document."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith("function-"):
            # pydantic's internal validator names are noise to the reader
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


def first_error(exc: ValidationError) -> str:
    """The first problem of ``exc`` as ``field: message``."""
    error = exc.errors(include_url=False)[0]
    message = _MESSAGES.get(error["type"]) or str(error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    path = field_path(error["loc"])
    return f"{path}: {message}" if path else message
