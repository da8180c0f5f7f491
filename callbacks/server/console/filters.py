"""The console's query parameters, checked: the calls list's filters and page cursors.

Bad input is a :class:`BadInput` with a message fit to show (it never repeats a secret): the
pages show it above the list, the API answers 400 ``{"code": "invalid_filter", ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from callbacks.options import moment, status
from callbacks.store.records import EventFilter

MAX_TEXT = 512
"""Longest filter value taken (ids, contexts and types are far shorter)."""
MAX_LIMIT = 200


class BadInput(ValueError):
    """A query parameter that cannot be used."""


@dataclass(frozen=True, slots=True)
class CallsQuery:
    """What the calls list was asked for."""

    where: EventFilter
    before: int | None
    limit: int
    form: dict[str, str]
    """The parameters as given (to refill the filter form and build page links)."""


def _text(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if len(value) > MAX_TEXT:
        raise BadInput(f"{name}: at most {MAX_TEXT} characters")
    return value


def cursor(params: Mapping[str, str], name: str = "before") -> int | None:
    """A positive integer position, or None when absent."""
    value = _text(params, name)
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or not 0 < int(value) < 2**63:
        raise BadInput(f"{name} must be a position in the log (a positive integer)")
    return int(value)


def calls_query(params: Mapping[str, str], default_limit: int) -> CallsQuery:
    """The calls list's filters from query parameters; BadInput naming the first bad one."""
    form = {name: _text(params, name)
            for name in ("call", "context", "type", "status", "since", "until")}
    try:
        since = moment(form["since"]) if form["since"] else None
        until = moment(form["until"]) if form["until"] else None
        wanted = status(form["status"]) if form["status"] else None
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    limit = cursor(params, "limit") or default_limit
    if limit > MAX_LIMIT:
        raise BadInput(f"limit may be at most {MAX_LIMIT}")
    where = EventFilter(
        call_id=form["call"] or None, type=form["type"] or None, status=wanted,
        since=since, until=until, operation_context=form["context"] or None,
    )
    return CallsQuery(where, cursor(params), limit, form)
