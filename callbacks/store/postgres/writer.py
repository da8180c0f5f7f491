"""Group commit for PostgreSQL appends: whatever queued while the last commit ran goes in the next.

Each append waits on a future; one task takes every queued append, de-duplicates their events
(within a request and across requests: the first occurrence is the one stored), and hands the
rows to one statement, which commits them in one transaction and one round trip. No fixed
gather window: a lone request is not delayed, and a burst shares one commit.

Failure handling, so that nothing is acked that was not committed:

- the server rejected the statement (:class:`BatchRejected`; nothing of it was written): each
  append of the batch is tried alone, so one bad request cannot fail its neighbours;
- anything else (connection lost, timeout): every append of the batch fails with StoreError.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from callbacks.store.base import Receipt, StoreError
from callbacks.store.group_commit import CommitQueue, fail_all

log = logging.getLogger("callbacks.store.postgres")

Row = tuple[
    str,
    str,
    str,
    str,
    str,
    str | None,
    str | None,
    int | None,
    datetime | None,
    datetime,
    str | None,
    bytes,
]
"""An event as inserted: identity, type, full_type, dialect, lane, call_id, operation_context,
sequence, event_time, received_at, path_context, raw."""

Commit = Callable[[Sequence[Row]], Awaitable[set[str]]]
"""Inserts rows (unique identities) in one transaction; returns the identities that were new."""


class BatchRejected(StoreError):
    """The database refused the statement: nothing of it was written, parts may succeed."""


@dataclass(slots=True)
class _Append:
    rows: Sequence[Row]
    future: asyncio.Future[Receipt]


class GroupCommit(CommitQueue[_Append]):
    """Runs appends through ``commit``, sharing one transaction among all that queued."""

    def __init__(self, commit: Commit) -> None:
        super().__init__("callbacks-postgres-writer")
        self._commit = commit

    async def append(self, rows: Sequence[Row]) -> Receipt:
        """Insert ``rows`` in the next transaction; return once it committed."""
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        receipt: Receipt = await self._submit(_Append(rows, future))
        return receipt

    async def _transaction(self, batch: list[_Append]) -> None:
        if not batch:
            return
        owners: dict[str, int] = {}
        unique: list[Row] = []
        for index, item in enumerate(batch):
            for row in item.rows:
                if row[0] not in owners:
                    owners[row[0]] = index
                    unique.append(row)
        try:
            inserted = await self._commit(unique) if unique else set()
        except BatchRejected as exc:
            if len(batch) == 1:
                fail_all(batch, exc)
                return
            log.warning("event log: a shared commit was refused (%s); retrying one by one", exc)
            for item in batch:
                await self._transaction([item])
            return
        except StoreError as exc:
            self._commit_failed(str(exc))
            fail_all(batch, exc)
            return
        self._committed()
        accepted = [0] * len(batch)
        for identity in inserted:
            accepted[owners[identity]] += 1
        for index, item in enumerate(batch):
            if not item.future.done():
                item.future.set_result(Receipt(accepted[index], len(item.rows) - accepted[index]))
