"""Fuzzing: parse_events and the endpoint take anything and only accept or refuse.

Inputs are arbitrary bytes, arbitrary JSON, and recorded samples (tests/samples) mutated the
way senders go wrong: keys dropped, values of another type, casing swapped, values nested deeper,
elements repeated. ``parse_events`` returns usable events or raises EventParseError; the endpoint
answers 200 or a 4xx with ``{"code", "message"}``, never a 500. Last, schemathesis drives a real
server from its own ``/openapi.json`` and finds no 5xx and no answer the document does not allow.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from starlette.testclient import TestClient

from callbacks.events import Event, EventParseError, parse_event_element, parse_events
from callbacks.routing import Route, Router
from callbacks.server.app import create_app
from callbacks.server.auth import NoAuthenticator
from callbacks.server.guard import guarded_protocol
from callbacks.server.limits import Limits
from callbacks.testing import InProcessIntake
from tests.support.samples import SAMPLES
from tests.support.thread_server import serve_in_thread

FUZZ = settings(
    max_examples=200,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SAMPLE_DOCUMENTS = [json.loads(path.read_bytes()) for path in sorted(SAMPLES.glob("*/*.json"))]

# --- strategies ---------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
# Keys and values the parser looks at, so arbitrary documents reach past the envelope checks.
envelope_keys = st.sampled_from(
    ["eventType", "type", "specversion", "source", "id", "data", "eventTime", "time", "subject"]
)
event_types = st.sampled_from(
    ["Microsoft.Communication.CallConnected", "Microsoft.Communication.DtmfReceived",
     "Microsoft.Communication.PlayCompleted", "Microsoft.EventGrid.SubscriptionValidationEvent",
     "Microsoft.Communication.IncomingCall", "Microsoft.Communication.Unheard", "", "X"]
)  # fmt: skip
envelopes = st.dictionaries(envelope_keys, event_types | json_values, max_size=7)
documents = json_values | envelopes | st.lists(envelopes, min_size=1, max_size=4)


def node_paths(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The path of every node under (and including) ``node``."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from node_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from node_paths(value, (*prefix, index))


def swap_case(value: Any) -> Any:
    return value.swapcase() if isinstance(value, str) else value


@st.composite
def mutated_samples(draw: st.DrawFn) -> Any:
    """A recorded sample with one to four mutations applied at drawn places."""
    document: Any = copy.deepcopy(draw(st.sampled_from(SAMPLE_DOCUMENTS)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(node_paths(document))))
        if not path:
            document = [document, copy.deepcopy(document)] if draw(st.booleans()) else document
            continue
        parent: Any = document
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        kind = draw(st.sampled_from(["drop", "retype", "case", "nest", "repeat"]))
        if kind == "drop":
            del parent[key]
        elif kind == "retype":
            parent[key] = draw(scalars | st.just([]) | st.just({}))
        elif kind == "case" and isinstance(key, str):
            parent[key.swapcase()] = swap_case(parent.pop(key))
        elif kind == "case":
            parent[key] = swap_case(parent[key])
        elif kind == "nest":
            for _ in range(draw(st.integers(1, 40))):
                parent[key] = [parent[key]] if draw(st.booleans()) else {"value": parent[key]}
        elif isinstance(parent, list) and isinstance(key, int):
            parent.append(copy.deepcopy(parent[key]))
    return document


# --- parse_events -------------------------------------------------------------------------------


def parses_or_refuses(body: bytes) -> list[Event]:
    """Parse ``body``; any outcome but events or EventParseError fails the test."""
    try:
        events = parse_events(body)
    except EventParseError as exc:
        assert exc.message
        return []
    assert events
    for event in events:
        # Every accessor works on whatever was accepted; handlers and the log rely on them.
        assert isinstance(event.type, str) and isinstance(event.full_type, str)
        assert isinstance(event.identity, str) and event.identity
        assert event.call_id is None or isinstance(event.call_id, str)
        assert event.operation_context is None or isinstance(event.operation_context, str)
        assert event.sequence is None or isinstance(event.sequence, int)
        _ = (event.time, event.dialect, event.subject)
        # The event log keeps ``raw`` and parses it again: the same event must come back.
        again = parse_event_element(event.raw)
        assert (again.type, again.identity, again.dialect) == (
            event.type, event.identity, event.dialect,
        )
    return events


@FUZZ
@given(st.binary(max_size=2000))
def test_parse_events_on_arbitrary_bytes(body: bytes) -> None:
    parses_or_refuses(body)


@FUZZ
@given(documents, st.booleans())
def test_parse_events_on_arbitrary_json(document: Any, ensure_ascii: bool) -> None:
    parses_or_refuses(json.dumps(document, ensure_ascii=ensure_ascii).encode())


@FUZZ
@given(mutated_samples())
def test_parse_events_on_mutated_samples(document: Any) -> None:
    parses_or_refuses(json.dumps(document).encode())


def test_parse_events_on_very_deep_nesting_is_an_event_parse_error() -> None:
    # json.loads raises RecursionError here; callers other than the endpoint (replay, the log)
    # have no depth check in front of them.
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        with pytest.raises(EventParseError):
            parse_events(body)


# --- the endpoint -------------------------------------------------------------------------------


def touch_context(event: Event, route: Route, attempt: int, path: str | None) -> Any:
    return None


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    router = Router()

    @router.on("*")
    async def read_everything(event: Event, ctx: Any) -> None:
        _ = (event.type, event.call_id, event.operation_context, event.sequence, event.identity)

    app = create_app(
        InProcessIntake(router, touch_context), NoAuthenticator(),
        limits=Limits(body_bytes=64 * 1024, events=20, depth=16, string_bytes=4096),
    )
    with TestClient(app) as test_client:
        yield test_client


content_types = st.sampled_from(
    ["application/json", "application/cloudevents-batch+json; charset=utf-8", "text/plain", ""]
)
contexts = st.sampled_from(["", "/tenant-1", "/%C3%A9t%C3%A9", "/a.b"])


def post_only_accepts_or_refuses(
    client: TestClient, body: bytes, content_type: str, context: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/api/callbacks" + context, content=body, headers=headers)
    assert response.status_code in (200, 400, 413, 415), response.text
    payload = response.json()
    if response.status_code == 200:
        assert set(payload) in ({"accepted", "duplicates"}, {"validationResponse"})
    else:
        assert set(payload) == {"code", "message"}, payload
    if response.status_code == 415:
        assert "json" not in content_type


@FUZZ
@given(body=st.binary(max_size=2000), content_type=content_types, context=contexts)
def test_endpoint_on_arbitrary_bytes(
    client: TestClient, body: bytes, content_type: str, context: str
) -> None:
    post_only_accepts_or_refuses(client, body, content_type, context)


@FUZZ
@given(document=documents, context=contexts)
def test_endpoint_on_arbitrary_json(client: TestClient, document: Any, context: str) -> None:
    post_only_accepts_or_refuses(client, json.dumps(document).encode(), "application/json", context)


@FUZZ
@given(document=mutated_samples(), context=contexts, cut=st.integers(0, 30))
def test_endpoint_on_mutated_samples(
    client: TestClient, document: Any, context: str, cut: int
) -> None:
    body = json.dumps(document).encode()
    post_only_accepts_or_refuses(client, body, "application/json", context)
    if cut:  # a sender that stopped mid-body
        post_only_accepts_or_refuses(client, body[:-cut], "application/json", context)


# --- schemathesis against a real server ---------------------------------------------------------


@pytest.fixture(scope="module")
def live_api() -> Iterator[tuple[str, Any]]:
    """A real uvicorn server (with the connection guard) and the schema it serves."""
    app = create_app(InProcessIntake(Router(), touch_context), NoAuthenticator())
    protocol = guarded_protocol(header_bytes=32 * 1024, header_timeout=10)
    with serve_in_thread(app, http=protocol) as base:
        yield base, schemathesis.openapi.from_url(base + "/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_server_error_or_undocumented_answer(
    live_api: tuple[str, Any], mode: GenerationMode
) -> None:
    base, schema = live_api
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6  # every documented operation but the document itself
    cases = st.one_of([operation.as_strategy(generation_mode=mode) for operation in operations])

    @given(case=cases)
    @settings(
        max_examples=150, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Any) -> None:
        # Every default check (no 5xx, documented status codes, content types, headers and
        # response schemas, invalid input rejected) except one: the event schema is deliberately
        # permissive, so a schema-valid object may still be an invalid event and get a 400.
        case.call_and_validate(
            base_url=base, excluded_checks=[schemathesis.checks.positive_data_acceptance]
        )

    run()
