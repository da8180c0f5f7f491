"""The PostgreSQL event log URL: options, validation, and no credentials in any message.

No server needed: these run everywhere.
"""

from __future__ import annotations

import time

import pytest

from callbacks.store import StoreError, open_store
from callbacks.store.postgres.store import PostgresStore
from callbacks.store.postgres.url import parse_postgres_url, redact


def test_both_schemes_open_a_postgres_store() -> None:
    for scheme in ("postgresql", "postgres", "PostgreSQL"):
        store = open_store(f"{scheme}://app@db.example:5433/log")
        assert isinstance(store, PostgresStore)
        assert store.url == f"{scheme.lower()}://app@db.example:5433/log"


def test_our_options_are_taken_out_and_the_rest_go_to_the_driver() -> None:
    config = parse_postgres_url(
        "postgres://app:pw@db:5432/log?schema=cb_one&pool_size=3&timeout=0.5"
        "&sslmode=require&application_name=cb"
    )
    assert (config.schema, config.pool_size, config.timeout) == ("cb_one", 3, 0.5)
    assert config.dsn == "postgresql://app:pw@db:5432/log?sslmode=require&application_name=cb"
    defaults = parse_postgres_url("postgresql:///log")
    assert (defaults.schema, defaults.pool_size, defaults.timeout) == (None, 10, 5.0)


def test_the_display_form_has_no_password() -> None:
    url = "postgresql://app:hunter%32@db:5432/log?sslpassword=hunter3&password=hunter4&schema=x"
    config = parse_postgres_url(url)
    assert config.display == "postgresql://app@db:5432/log?schema=x"
    assert "hunter" not in repr(config) and "hunter" not in repr(PostgresStore(url))
    scrubbed = config.scrub("failed for hunter2 / hunter%32 / hunter3 / hunter4")
    assert scrubbed == "failed for *** / *** / *** / ***"
    assert redact("postgresql://app:p%40ss@h/d") == "postgresql://app@h/d"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:hunter2@h/d?schema=Hunter2", "schema must be a lower-case identifier"),
        ("postgresql://u:hunter2@h/d?schema=a;drop", "schema must be"),
        ("postgresql://u:hunter2@h/d?pool_size=hunter2", "pool_size"),
        ("postgresql://u:hunter2@h/d?pool_size=0", "pool_size"),
        ("postgresql://u:hunter2@h/d?timeout=-1", "timeout"),
        ("postgresql://u:hunter2@h/d?timeout=hunter2", "timeout"),
        ("postgresql://u:hunter2@h/d#hunter2", "fragment"),
        ("postgresql://u:hunter2@[h/d", "malformed"),
        ("postgresql://u:hunter2@h:hunter2/d", "the port of a PostgreSQL event log URL"),
        ("postgresql://u:hunter2@h:99999/d", "the port of a PostgreSQL event log URL"),
    ],
)
def test_bad_urls_are_refused_without_echoing_them(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value)


async def test_an_unreachable_database_fails_open_promptly_without_the_password() -> None:
    store = open_store("postgresql://app:hunter2@127.0.0.1:1/log?timeout=2")
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot open the event log") as caught:
        await store.open()
    assert time.monotonic() - started < 2.5
    assert "hunter2" not in str(caught.value)
    assert "postgresql://app@127.0.0.1:1/log" in str(caught.value)
    assert not await store.ready()
    with pytest.raises(StoreError, match="not open"):
        await store.claim_calls("o", 1, 30)
    await store.close()


def test_several_hosts_are_left_to_the_driver() -> None:
    # libpq's form, host1:port1,host2:port2: no single port for urlsplit to check.
    assert open_store("postgresql://u:hunter2@h1:5432,h2:5433/d").shareable
