"""Router semantics: type, glob and predicate matching, order, composition, isolation."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from callbacks.events import CallConnected, Event, PlayAudioResult, parse_events
from callbacks.routing import Router, named_routes, qualified_name
from tests.support.samples import sample_json


def play_result(operation_context: str | None, call_id: str = "leg-1") -> Event:
    element = sample_json("preview2021", "PlayAudioResult")
    element["data"]["OperationContext"] = operation_context
    element["data"]["CallLegId"] = call_id
    return parse_events(json.dumps(element).encode())[0]


def connected() -> Event:
    return parse_events(json.dumps(sample_json("ga", "CallConnected")).encode())[0]


class Recorder:
    """Collects (handler label, event type) in the order handlers ran."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def handler(self, label: str) -> Any:
        async def handle(event: Event, ctx: object) -> None:
            self.calls.append((label, event.type))

        handle.__qualname__ = f"handle_{label}"
        return handle


async def dispatch(router: Router, event: Event) -> list[str]:
    outcomes = await router.dispatch(event, lambda route: object())
    return [o.route.name.rsplit("_", 1)[-1] for o in outcomes]


async def test_all_matches_run_in_registration_order() -> None:
    rec, router = Recorder(), Router()
    router.on(PlayAudioResult)(rec.handler("a"))
    router.on("*")(rec.handler("b"))
    router.on("PlayAudioResult")(rec.handler("c"))
    router.on(CallConnected)(rec.handler("d"))
    router.on("Microsoft.Communication.PlayAudioResult")(rec.handler("e"))
    await router.dispatch(play_result("x"), lambda route: object())
    assert rec.calls == [("a", "PlayAudioResult"), ("b", "PlayAudioResult"),
                         ("c", "PlayAudioResult"), ("e", "PlayAudioResult")]
    rec.calls.clear()
    await router.dispatch(connected(), lambda route: object())
    assert [label for label, _ in rec.calls] == ["b", "d"]


def custom(event_type: str) -> Event:
    """An event of a type no model knows (an UnknownEvent)."""
    body = {"id": f"x-{event_type}", "type": event_type, "specversion": "1.0",
            "source": "calling/callConnections/c-1", "data": {"callConnectionId": "c-1"}}
    return parse_events(json.dumps(body).encode())[0]


async def test_a_type_name_without_a_model_matches_that_type_only() -> None:
    rec, router = Recorder(), Router()
    router.on("TeleportStarted")(rec.handler("short"))  # not modelled (yet): matched by name
    router.on("Microsoft.Communication.TeleportStarted")(rec.handler("full"))
    router.on("Happened")(rec.handler("custom"))  # routes name types by their short name
    assert [r.event_class for r in router.routes] == [None, None, None]
    assert await dispatch(router, custom("Microsoft.Communication.TeleportStarted")) == [
        "short", "full",
    ]
    assert await dispatch(router, custom("Contoso.Things.Happened")) == ["custom"]
    assert await dispatch(router, custom("Happened")) == ["custom"]
    for other in (custom("Microsoft.Communication.TeleportStopped"), connected(),
                  play_result("x")):
        assert await dispatch(router, other) == []


async def test_a_dotted_name_from_outside_microsoft_matches_that_full_type_only() -> None:
    rec, router = Recorder(), Router()
    router.on("Contoso.Things.Happened")(rec.handler("contoso"))
    assert [r.event_type for r in router.routes] == ["Contoso.Things.Happened"]
    assert await dispatch(router, custom("Contoso.Things.Happened")) == ["contoso"]
    for other in ("Fabrikam.Things.Happened", "Happened", "Contoso.Things.HappenedAgain",
                  "Microsoft.Communication.Happened"):
        assert await dispatch(router, custom(other)) == [], other


@pytest.mark.parametrize(
    ("matcher", "context", "expected"),
    [
        ("reminder:42", "reminder:42", True),
        ("reminder:42", "reminder:421", False),
        ("reminder:*", "reminder:42", True),
        ("reminder:*", "notify:42", False),
        ("reminder:*", None, False),
        ("r?minder:[0-9]*", "reminder:7", True),
        (lambda value: value is None, None, True),
        (lambda value: value is not None and value.endswith("!"), "done!", True),
        (lambda value: value is not None and value.endswith("!"), "done", False),
    ],
)
async def test_operation_context_exact_glob_and_predicate(
    matcher: Any, context: str | None, expected: bool
) -> None:
    rec, router = Recorder(), Router()
    router.on(PlayAudioResult, operation_context=matcher)(rec.handler("a"))
    assert bool(router.match(play_result(context))) is expected


async def test_call_id_matching() -> None:
    rec, router = Recorder(), Router()
    router.on("*", call_id="leg-1")(rec.handler("a"))
    router.on("*", call_id="leg-*")(rec.handler("b"))
    assert len(router.match(play_result(None, call_id="leg-1"))) == 2
    assert len(router.match(play_result(None, call_id="leg-2"))) == 1
    assert router.match(play_result(None, call_id="other")) == []


async def test_composition_is_ordered_and_live() -> None:
    rec = Recorder()
    first, second = Router(), Router()
    first.on("*")(rec.handler("a"))
    second.on("*")(rec.handler("b"))
    app = Router(first, second)
    app.on("*")(rec.handler("c"))
    first.on("*")(rec.handler("a2"))  # registered after composing: still seen, in first's place
    assert await dispatch(app, connected()) == ["a", "a2", "b", "c"]


async def test_a_failing_handler_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec, router = Recorder(), Router()

    @router.on("*")
    async def broken(event: Event, ctx: object) -> None:
        raise RuntimeError("boom")

    router.on("*")(rec.handler("after"))
    event = connected()
    with caplog.at_level(logging.ERROR, logger="callbacks.routing"):
        outcomes = await router.dispatch(event, lambda route: object())
    assert [o.ok for o in outcomes] == [False, True]
    assert outcomes[0].error == "RuntimeError: boom"
    assert outcomes[0].duration >= 0
    assert rec.calls == [("after", "CallConnected")]
    assert event.identity in caplog.text
    assert "broken" in caplog.text


def test_registering_a_sync_function_fails_at_registration() -> None:
    router = Router()

    def sync_handler(event: Event, ctx: object) -> None:
        return None

    with pytest.raises(TypeError, match=r"must be an async function.*async def sync_handler"):
        router.on(PlayAudioResult)(sync_handler)  # type: ignore[arg-type]
    assert router.routes == []


def test_registering_wrong_arity_or_wrong_type_fails() -> None:
    router = Router()

    async def one_arg(event: Event) -> None:
        return None

    async def ok(event: Event, ctx: object) -> None:
        return None

    with pytest.raises(TypeError, match="two positional arguments"):
        router.add(one_arg, "*")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="event type must be"):
        router.add(ok, int)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="operation_context must be"):
        router.add(ok, "*", operation_context=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="composes Router instances"):
        Router(object())  # type: ignore[arg-type]


def test_route_names_are_qualified() -> None:
    router = Router()

    async def greet(event: Event, ctx: object) -> None:
        return None

    route = router.add(greet, "*")
    assert route.name == qualified_name(greet) == f"{__name__}.{greet.__qualname__}"


def test_the_router_does_no_io() -> None:
    from callbacks import routing

    source = Path(routing.__file__).read_text()
    for module in ("starlette", "httpx", "sqlite3"):
        assert f"import {module}" not in source


def test_named_routes_number_a_handler_registered_twice() -> None:
    router = Router()

    async def twice(event: Event, ctx: object) -> None:
        return None

    async def once(event: Event, ctx: object) -> None:
        return None

    router.add(twice, "*")
    router.add(once, "*")
    router.add(twice, "*", operation_context="x")
    names = [name for name, _ in named_routes(router.routes)]
    base = qualified_name(twice)
    assert names == [base, qualified_name(once), f"{base}#2"]


async def test_each_handler_gets_the_context_made_for_its_route_and_the_event() -> None:
    router, seen = Router(), []

    async def first(event: Event, ctx: object) -> None:
        seen.append((event.type, ctx))

    async def second(event: Event, ctx: object) -> None:
        seen.append((event.type, ctx))

    router.add(first, "*")
    router.add(second, "*")
    outcomes = await router.dispatch(connected(), lambda route: f"ctx-of-{route.name}")
    assert seen == [("CallConnected", f"ctx-of-{qualified_name(first)}"),
                    ("CallConnected", f"ctx-of-{qualified_name(second)}")]
    assert [o.route.name for o in outcomes] == [qualified_name(first), qualified_name(second)]
    assert all(o.ok and 0 <= o.duration < 1 for o in outcomes)


def test_a_full_microsoft_name_is_its_short_name_and_its_model() -> None:
    router = Router()

    async def handle(event: Event, ctx: object) -> None:
        return None

    modelled = router.add(handle, "Microsoft.Communication.PlayAudioResult")
    unmodelled = router.add(handle, "Microsoft.Communication.TeleportStarted")
    assert (modelled.event_type, modelled.event_class) == ("PlayAudioResult", PlayAudioResult)
    assert (unmodelled.event_type, unmodelled.event_class) == ("TeleportStarted", None)


def test_a_partial_is_named_by_the_function_it_wraps_the_same_in_every_process() -> None:
    async def handle(event: Event, ctx: object, greeting: str = "") -> None:
        return None

    route = Router().add(functools.partial(handle, greeting="hi"), "*")
    assert route.name == qualified_name(handle) == f"{__name__}.{handle.__qualname__}"


async def test_a_failed_run_keeps_what_the_handler_raised() -> None:
    router, raised = Router(), ValueError("no such call")

    async def broken(event: Event, ctx: object) -> None:
        raise raised

    router.add(broken, "*")
    [outcome] = await router.dispatch(connected(), lambda route: object())
    assert outcome.exception is raised and not outcome.ok
    assert outcome.error == "ValueError: no such call"


def test_named_routes_of_distinct_handlers_keep_their_names() -> None:
    router = Router()

    async def one(event: Event, ctx: object) -> None:
        return None

    async def two(event: Event, ctx: object) -> None:
        return None

    routes = [router.add(one, "*"), router.add(two, PlayAudioResult)]
    assert named_routes(routes) == [(qualified_name(one), routes[0]),
                                    (qualified_name(two), routes[1])]


def test_registration_errors_name_the_culprit() -> None:
    router = Router()

    async def ok(event: Event, ctx: object) -> None:
        return None

    with pytest.raises(TypeError) as caught:
        router.add(ok, "*", call_id=5)  # type: ignore[arg-type]
    assert str(caught.value) == "call_id must be a string, a glob or a predicate, not int"
    with pytest.raises(TypeError) as caught:
        Router(object())  # type: ignore[arg-type]
    assert str(caught.value) == "Router() composes Router instances, not object"
    with pytest.raises(TypeError) as caught:
        router.add(ok, "")
    assert str(caught.value) == "event type name must not be empty"
    with pytest.raises(TypeError) as caught:
        router.add(5, "*")  # type: ignore[arg-type]
    assert str(caught.value) == "handler '5' is not callable"


async def test_a_failure_is_one_line_naming_handler_event_type_and_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()

    async def broken(event: Event, ctx: object) -> None:
        raise RuntimeError("boom")

    route = router.add(broken, "*")
    event = connected()
    with caplog.at_level(logging.ERROR, logger="callbacks.routing"):
        [outcome] = await router.dispatch(event, lambda route: object())
    assert outcome.route is route
    assert 0 <= outcome.duration < 1
    [record] = caplog.records
    assert record.getMessage() == (
        f"handler {route.name} failed on event {event.identity} (CallConnected, call "
        f"{event.call_id})"
    )


def test_a_sync_handler_is_named_in_its_refusal() -> None:
    def sync_handler(event: Event, ctx: object) -> None:
        return None

    with pytest.raises(TypeError) as caught:
        Router().add(sync_handler, "*")  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"handler {sync_handler.__qualname__!r} must be an async")
    with pytest.raises(TypeError) as caught:
        Router().add(functools.partial(sync_handler), "*")  # type: ignore[arg-type]
    assert "declare it `async def handler(event, ctx) -> None`" in str(caught.value)
