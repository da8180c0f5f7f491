"""A file replay's call histories: the file's earlier events of the call, within a budget."""

from __future__ import annotations

import pytest

from callbacks.context import NoHistoryError
from callbacks.replay.history import FileHistory
from tests.support.log_bodies import ga_events, incoming_calls


async def test_each_call_has_its_own_earlier_events_in_file_order() -> None:
    history = FileHistory()
    a1, a2, a3 = ga_events("a", 1, 2, 3)
    [b1] = ga_events("b", 1)
    assert await history(a1) == []
    for event in (a1, b1, a2):
        history.remember(event)
    assert [e.identity for e in await history(a3)] == ["a/1", "a/2"]
    assert [e.identity for e in await history(ga_events("b", 2)[0])] == ["b/1"]
    [incoming] = incoming_calls(1)
    history.remember(incoming)
    assert await history(incoming) == ()  # outside any call: no history


async def test_past_its_budget_the_quietest_calls_are_forgotten_and_say_so() -> None:
    a1, a2 = ga_events("a", 1, 2)
    b1, b2 = ga_events("b", 1, 2)
    history = FileHistory(budget=len(a1.raw) + len(b1.raw) + 10)
    history.remember(a1)
    history.remember(b1)
    history.remember(b2)  # over budget: a, quiet longest, goes
    assert [e.identity for e in await history(ga_events("b", 3)[0])] == ["b/1", "b/2"]
    with pytest.raises(NoHistoryError, match="earlier events of call a are no longer kept"):
        await history(a2)
    history.remember(a2)
    with pytest.raises(NoHistoryError):  # never a shortened history
        await history(ga_events("a", 3)[0])
