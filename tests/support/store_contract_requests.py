"""The event-log contract, part four: the REST requests of handler runs."""

from __future__ import annotations

from datetime import timedelta

from callbacks.store import EventStatus, EventStore, RequestRecord
from tests.support.log_bodies import ga_events
from tests.support.store_contract_queries import T0, settle


def request(
    event_id: str, index: int, *, handler: str = "h.play", attempt: int = 1,
    status: int | None = 202, answer: bytes | None = b"", at: int = 0, path: str = "/p",
) -> RequestRecord:
    """A request record of ``event_id``'s handler run."""
    return RequestRecord(
        event_id=event_id, handler=handler, index=index, attempt=attempt,
        operation="play_media", method="POST", path=path, body_hash="ab" * 32, status=status,
        duration=0.012, sent_at=T0 + timedelta(seconds=at),
        repeatability_id=None if index else "7f0c6a3e-0000-5000-8000-000000000001",
        error_code=None if status and status < 400 else "CallNotFound", answer=answer,
        replica="replica-1",
    )


class StoreRequestsContract:
    """The requests of handler runs, shared by every :class:`EventStore`."""

    async def test_a_run_after_next_events_sees_the_requests_it_and_earlier_runs_made(
        self, store: EventStore
    ) -> None:
        """Reading an event that has no request yet must not hide the ones recorded next
        (the SQLite store remembers which events it read without any)."""
        await store.append(ga_events("c", 1, 2), None)
        earlier = request("c/2", 0)
        await store.record_request(earlier)
        [claim] = await store.claim_calls("me", 1, 30)
        assert [e.id for e in await store.next_events(claim.call_id, 10)] == ["c/1", "c/2"]
        assert await store.requests_of("c/1", "h.play") == []
        assert await store.requests_of("c/2", "h.play") == [earlier]
        made = request("c/1", 0)
        await store.record_request(made)
        assert await store.requests_of("c/1", "h.play") == [made]
        assert await store.requests_of("c/1") == [made]

    async def test_requests_are_kept_with_every_field(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1), None)
        first = request("c/1", 0, answer=b'{"x": "\\u00e9"}')
        failed = request("c/1", 1, status=404, answer=None, at=1, path="/calling/\u00e9")
        await store.record_request(first)
        await store.record_request(failed)
        assert await store.requests_of("c/1") == [first, failed]
        assert first.completed and not failed.completed

    async def test_they_are_read_per_handler_in_the_order_sent(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1, 2), None)
        for record in (request("c/1", 1, at=2), request("c/1", 0, handler="h.other", at=1),
                       request("c/1", 0, at=0), request("c/2", 0, at=3)):
            await store.record_request(record)
        mine = await store.requests_of("c/1", "h.play")
        assert [(r.handler, r.index) for r in mine] == [("h.play", 0), ("h.play", 1)]
        every = await store.requests_of("c/1")
        assert [(r.handler, r.index) for r in every] == [
            ("h.play", 0), ("h.other", 0), ("h.play", 1)
        ]
        assert await store.requests_of("c/1", "h.nobody") == []

    async def test_a_record_of_the_same_run_and_index_replaces_it(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1), None)
        await store.record_request(request("c/1", 0, status=503, answer=None))
        await store.record_request(request("c/1", 0, status=202, answer=b"{}"))
        await store.record_request(request("c/1", 0, attempt=2, status=202, answer=b"{}", at=5))
        runs = await store.requests_of("c/1")
        assert [(r.attempt, r.status) for r in runs] == [(1, 202), (2, 202)]

    async def test_requests_of_events_not_in_the_log_are_dropped(self, store: EventStore) -> None:
        await store.record_request(request("nowhere/1", 0))
        assert await store.requests_of("nowhere/1") == []

    async def test_requests_are_pruned_with_their_event(self, store: EventStore) -> None:
        await store.append(ga_events("a", 1, 2), None, received_at=T0)
        await store.record_request(request("a/1", 0))
        await store.record_request(request("a/2", 0))
        await settle(store, "a", EventStatus.DONE)
        assert await store.prune(T0 + timedelta(days=1)) == 1
        await store.append(ga_events("a", 1), None)  # the same identity logged anew
        assert await store.requests_of("a/1") == []
        assert len(await store.requests_of("a/2")) == 1
