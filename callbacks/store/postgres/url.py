"""The PostgreSQL event log URL: our options, the driver's DSN, and a display form without secrets.

``postgresql://user[:password]@host[:port]/database?option=value&...`` (or ``postgres://``).
Options of ours, removed before the URL reaches the driver:

- ``schema=NAME``: keep the log's tables in this schema (created if missing); default: the
  connection's current schema (usually ``public``). Lets several logs share one database.
- ``pool_size=N`` (default 10): connections for the dispatcher and queries; appends use one
  more connection of their own, so ingest never queues behind handlers' bookkeeping.
- ``timeout=SECONDS`` (default 5): the longest any operation (connecting included) may take
  before it fails with :class:`~callbacks.store.base.StoreError` (503 at the endpoint).

Every other option (``sslmode``, ``sslrootcert``, ``application_name``...) goes to asyncpg as is;
libpq environment variables (``PGPASSWORD``, ``PGSSLMODE``...) and ``~/.pgpass`` work too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")
_EXAMPLE = "postgresql://user@host:5432/database"
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_OURS = {"schema", "pool_size", "timeout"}
_SECRET_OPTIONS = {"password", "sslpassword"}


@dataclass(frozen=True, slots=True)
class PostgresConfig:
    """A parsed event log URL; ``dsn`` may hold the password and is never shown."""

    dsn: str = field(repr=False)
    display: str
    """The URL without password, for logs, reprs and messages."""
    schema: str | None = None
    pool_size: int = 10
    timeout: float = 5.0
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Strings to scrub from driver messages (the password, raw and decoded)."""

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this URL replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def redact(url: str) -> str:
    """``url`` without the password in its user info or its query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(malformed URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}@{hosts}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = [(k, v) for k, v in query if k.lower() not in _SECRET_OPTIONS]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(kept, safe="/,:"), ""))


def parse_postgres_url(url: str) -> PostgresConfig:
    """Validate ``url`` and split our options from the driver's.

    Raises ValueError with a message that never repeats the URL or its values.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"malformed PostgreSQL event log URL: expected {_EXAMPLE}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError(f"a PostgreSQL event log URL starts with postgresql://, e.g. {_EXAMPLE}")
    if parts.fragment:
        raise ValueError("a PostgreSQL event log URL has no #fragment")
    if "," not in parts.netloc:  # several hosts (host1,host2:5433) are the driver's to read
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
        except ValueError:
            raise ValueError(
                f"the port of a PostgreSQL event log URL is a number from 0 to 65535: {_EXAMPLE}"
            ) from None
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    options = {k: v for k, v in pairs if k in _OURS}
    driver_query = [(k, v) for k, v in pairs if k not in _OURS]

    schema = options.get("schema") or None
    if schema is not None and not _SCHEMA.match(schema):
        raise ValueError(
            "schema must be a lower-case identifier (letters, digits, underscore; 63 at most)"
        )
    pool_size = 10
    if "pool_size" in options:
        try:
            pool_size = int(options["pool_size"])
        except ValueError:
            pool_size = 0
        if not 1 <= pool_size <= 1000:
            raise ValueError("pool_size must be a whole number between 1 and 1000")
    timeout = 5.0
    if "timeout" in options:
        try:
            timeout = float(options["timeout"])
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 3600:
            raise ValueError("timeout must be a number of seconds between 0 and 3600")

    dsn = urlunsplit(
        ("postgresql", parts.netloc, parts.path, urlencode(driver_query, quote_via=quote), "")
    )
    secrets = _secrets(parts.password, pairs)
    return PostgresConfig(dsn, redact(url), schema, pool_size, timeout, secrets)


def _secrets(password: str | None, pairs: list[tuple[str, str]]) -> tuple[str, ...]:
    found = {v for k, v in pairs if k.lower() in _SECRET_OPTIONS and v}
    if password:
        found |= {password, unquote(password)}
    # Longest first, so a secret containing another is replaced whole.
    return tuple(sorted(found, key=len, reverse=True))
