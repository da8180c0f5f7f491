"""The console's pages: Jinja2 templates rendered on the server, every value escaped.

Autoescaping is on for every template, so whatever a sender wrote (an operationContext, a call
id, a raw event) reaches the page as text. URLs are built with :func:`path` (every character
but letters, digits and ``-_.~`` percent-encoded), so an id cannot leave its path segment.
Every answer carries a Content-Security-Policy that allows the project's own scripts and
styles only: no inline script runs even if something slipped through.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def path(value: object) -> str:
    """``value`` as one URL path segment."""
    return quote(str(value), safe="")


def when(moment: datetime | None) -> str:
    """A time as the console shows it: UTC, to the millisecond."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def pretty(raw: bytes) -> str:
    """An event's raw JSON, indented (as text: the template escapes it)."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw.decode("utf-8", "replace")


def query(params: dict[str, Any]) -> str:
    """A query string of the given values (empty ones left out)."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


_ENV = Environment(
    loader=PackageLoader("callbacks.server.console", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(path=path, when=when, pretty=pretty)
_ENV.globals.update(query=query)


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """``template`` rendered with ``values``, with the console's security headers."""
    html = _ENV.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
