"""The event-log contract, part three: replay runs kept beside the events' own outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callbacks.store import EventStatus, EventStore, ReplayMode, ReplayResult, RestCall
from tests.support.log_bodies import ga_events
from tests.support.store_contract import failed, ok
from tests.support.store_contract_queries import T0, settle


def result(
    run_id: str,
    event_id: str,
    *,
    mode: ReplayMode = ReplayMode.DRY_RUN,
    at: datetime = T0,
    error: str | None = None,
) -> ReplayResult:
    """A replay result with one handler outcome and one recorded REST call."""
    outcome = failed("h.new", error=error) if error else ok("h.new")
    call = RestCall(
        "POST", "/calls/c/PlayAudio", b'{"audioFileUri":"https://x/a.wav","loop":false}', 202,
        "7f0c6a3e-0000-5000-8000-000000000001",
    )
    return ReplayResult(run_id, event_id, mode, at, (outcome,), (call,))


class StoreReplaysContract:
    """Replay runs, shared by every :class:`EventStore`."""

    async def test_replays_are_kept_beside_the_original_outcomes(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1, 2), None)
        await settle(store, "c", EventStatus.DEAD)
        before = await store.get_event("c/1")

        recorded = await store.record_replays(
            [result("run-1", "c/1"), result("run-1", "c/2", error="KeyError: 'x'")]
        )
        assert recorded == 2
        after = await store.get_event("c/1")
        assert after == before  # status, attempts and outcomes untouched

        [replay] = await store.replay_outcomes("c/1")
        assert (replay.run_id, replay.event_id, replay.mode) == ("run-1", "c/1", ReplayMode.DRY_RUN)
        assert replay.replayed_at == T0
        assert [(o.handler, o.ok) for o in replay.outcomes] == [("h.new", True)]
        assert replay.outcomes[0].finished_at.tzinfo is not None
        [call] = replay.requests
        assert (call.method, call.path, call.status) == ("POST", "/calls/c/PlayAudio", 202)
        assert call.to_json()["body"] == {"audioFileUri": "https://x/a.wav", "loop": False}
        assert call.repeatability_id == "7f0c6a3e-0000-5000-8000-000000000001"
        [second] = await store.replay_outcomes("c/2")
        assert second.outcomes[0].error == "KeyError: 'x'"
        assert not second.ok

    async def test_runs_accumulate_oldest_first_and_a_run_replaces_its_own_row(
        self, store: EventStore
    ) -> None:
        await store.append(ga_events("c", 1), None)
        later = T0 + timedelta(minutes=5)
        await store.record_replays([result("run-b", "c/1", at=later, mode=ReplayMode.LIVE)])
        await store.record_replays([result("run-a", "c/1", error="boom")])
        await store.record_replays([result("run-a", "c/1")])  # the same run again: replaced
        runs = await store.replay_outcomes("c/1")
        assert [(r.run_id, r.mode, r.ok) for r in runs] == [
            ("run-a", ReplayMode.DRY_RUN, True),
            ("run-b", ReplayMode.LIVE, True),
        ]

    async def test_results_of_unlogged_events_are_dropped(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1), None)
        batch = [result("r", "c/1"), result("r", "not-in-the-log"), result("r", "c/1")]
        assert await store.record_replays(batch) == 1
        assert await store.record_replays([]) == 0
        assert await store.replay_outcomes("not-in-the-log") == []
        assert len(await store.replay_outcomes("c/1")) == 1

    async def test_a_remote_result_keeps_its_target_and_no_requests(
        self, store: EventStore
    ) -> None:
        await store.append(ga_events("c", 1), None)
        delivery = ReplayResult(
            "r", "c/1", ReplayMode.REMOTE, datetime.now(UTC),
            (ok("POST http://staging/api/callbacks"),), (), "http://staging/api/callbacks",
        )
        await store.record_replays([delivery])
        [kept] = await store.replay_outcomes("c/1")
        assert (kept.mode, kept.target, kept.requests) == (
            ReplayMode.REMOTE, "http://staging/api/callbacks", ()
        )

    async def test_large_batches_are_recorded_in_one_call(self, store: EventStore) -> None:
        for start in range(0, 3000, 500):
            await store.append(ga_events("c", *range(start, start + 500)), None)
        before = store.commits
        results = [result("big", f"c/{n}") for n in range(3000)]
        assert await store.record_replays(results) == 3000
        assert store.commits - before == 1
        assert len(await store.replay_outcomes("c/2999")) == 1

    async def test_replays_are_pruned_with_their_event(self, store: EventStore) -> None:
        await store.append(ga_events("a", 1, 2), None, received_at=T0)
        await settle(store, "a", EventStatus.DONE)
        await store.record_replays([result("r", "a/1"), result("r", "a/2")])
        assert await store.prune(T0 + timedelta(days=1)) == 1
        await store.append(ga_events("a", 1), None)  # the same identity logged anew
        assert await store.replay_outcomes("a/1") == []
        assert len(await store.replay_outcomes("a/2")) == 1
