"""The OpenAPI document matches the app: same routes, every answer documented, refs resolve.

Adding a route to the app (``/metrics``, ``/api/flows/...``) without documenting it in
``callbacks/openapi.py`` fails the first test below, and so does documenting a route that is gone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from callbacks.events import Event
from callbacks.routing import Route as RouteMatch
from callbacks.routing import Router
from callbacks.server.app import create_app
from callbacks.server.auth import SecretAuthenticator
from callbacks.server.intake import IntakeUnavailable
from callbacks.server.limits import Limits
from callbacks.server.openapi import OPENAPI_PATH, openapi_document
from callbacks.store import Receipt
from callbacks.testing import InProcessIntake
from tests.support.samples import sample_bytes

SECRET = "openapi-test-secret"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
LIMITS = Limits(body_bytes=8192, events=5, depth=8, string_bytes=512)


def no_context(
    event: Event, route: RouteMatch, attempt: int, path: str | None, received: Any = None
) -> Any:
    return None


class UnavailableIntake:
    """An intake whose event log is down: every submit fails, readiness is false."""

    async def start(self) -> None:
        """Nothing to open."""

    async def submit(self, events: Sequence[Event], path_context: str | None) -> Receipt:
        """Refuse."""
        raise IntakeUnavailable("store down")

    async def ready(self) -> bool:
        """Never ready."""
        return False

    async def stop(self) -> None:
        """Nothing to close."""


def build(intake: Any = None) -> Starlette:
    intake = intake or InProcessIntake(Router(), no_context)
    return create_app(intake, SecretAuthenticator(SECRET), limits=LIMITS)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(build()) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get(OPENAPI_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    served: dict[str, Any] = response.json()
    return served


def app_operations(routes: Sequence[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(path, method) of every HTTP operation the app routes; HEAD is Starlette's GET twin."""
    operations: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Route):
            methods = (route.methods or set()) - {"HEAD"}
            operations |= {(prefix + route.path, method.lower()) for method in methods}
        elif isinstance(route, Mount):
            operations |= app_operations(route.routes, prefix + route.path)
        else:
            raise AssertionError(f"teach this test (and the document) about {route!r}")
    return operations


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_every_route_is_documented_and_every_documented_path_exists(
    document: dict[str, Any],
) -> None:
    routed = app_operations(build().routes)
    documented = documented_operations(document)
    assert routed - documented == set(), "routes missing from callbacks/openapi.py"
    assert documented - routed == set(), "documented operations the app does not serve"


def test_an_undocumented_route_would_be_caught(document: dict[str, Any]) -> None:
    async def metrics(request: Any) -> Any:
        raise NotImplementedError

    grown = [*build().routes, Mount("/api/flows", routes=[Route("/{flow}", metrics)])]
    missing = app_operations(grown) - documented_operations(document)
    assert missing == {("/api/flows/{flow}", "get")}


def test_the_document_is_openapi_3_1_and_every_ref_resolves(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] and document["info"]["version"]

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(document))
    assert found
    for ref in found:
        target: Any = document
        assert ref.startswith("#/"), ref
        for part in ref[2:].split("/"):
            assert part in target, f"{ref} does not resolve"
            target = target[part]
    operation_ids = [
        document["paths"][path][method]["operationId"]
        for path, method in documented_operations(document)
    ]
    assert len(operation_ids) == len(set(operation_ids))


def test_served_document_is_the_one_built_for_the_limits(document: dict[str, Any]) -> None:
    assert document == json.loads(json.dumps(openapi_document(LIMITS)))
    described = json.dumps(document["components"]["responses"])
    assert "8192 bytes" in described and "5 events" in described and "8 levels" in described


@pytest.mark.parametrize("path", ["/api/callbacks", "/api/callbacks/{context}"])
def test_callbacks_document_auth_handshakes_and_every_error_status(
    document: dict[str, Any], path: str
) -> None:
    item = document["paths"][path]
    post = item["post"]
    assert set(post["responses"]) == {"200", "400", "401", "408", "413", "415", "503"}
    schemes = document["components"]["securitySchemes"]
    assert schemes["callbackSecret"] == {"type": "apiKey", "in": "query", "name": "secret"}
    assert schemes["callbackToken"]["scheme"] == "bearer"
    callback_schemes = set(schemes) - {"flowsApiKey"}  # flowsApiKey: /api/flows only
    assert {name for requirement in post["security"] for name in requirement} == (
        callback_schemes
    )
    assert "application/cloudevents-batch+json" in post["requestBody"]["content"]
    handshake = item["options"]["responses"]["200"]["headers"]
    assert "WebHook-Allowed-Origin" in handshake
    if "{context}" in path:
        assert [p["name"] for p in post["parameters"] if p["in"] == "path"] == ["context"]


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def conforms(document: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    """Enough of JSON Schema for this document: $ref, oneOf, object with required keys."""
    schema = resolve(document, schema)
    if "oneOf" in schema:
        return sum(conforms(document, option, value) for option in schema["oneOf"]) == 1
    if schema.get("type") == "object":
        properties = schema.get("properties", {})
        if not isinstance(value, dict):
            return False
        return all(key in value for key in schema.get("required", ())) and all(
            conforms(document, properties[key], item)
            for key, item in value.items()
            if key in properties
        )
    if schema.get("type") == "string":
        return isinstance(value, str)
    if schema.get("type") == "integer":
        return isinstance(value, int) and value >= schema.get("minimum", value)
    return True


URL = f"/api/callbacks?secret={SECRET}"
CTX_URL = f"/api/callbacks/tenant-1?secret={SECRET}"
JSON = {"content-type": "application/json"}
SCENARIOS: list[tuple[str, str, str, dict[str, Any], int]] = [
    # (documented path, method, url, request kwargs, expected status)
    ("/api/callbacks", "post", URL,
     {"content": sample_bytes("ga", "PlayStarted"), "headers": JSON}, 200),
    ("/api/callbacks/{context}", "post", CTX_URL,
     {"content": sample_bytes("eventgrid", "SubscriptionValidationEvent"), "headers": JSON}, 200),
    ("/api/callbacks", "post", URL, {"content": b"{oops", "headers": JSON}, 400),
    ("/api/callbacks", "post", URL, {"content": b"[" * 20 + b"]" * 20, "headers": JSON}, 400),
    ("/api/callbacks", "post", "/api/callbacks", {"content": b"{}", "headers": JSON}, 401),
    ("/api/callbacks/{context}", "post", "/api/callbacks/x?secret=no",
     {"content": b"{}", "headers": JSON}, 401),
    ("/api/callbacks", "post", URL, {"content": b" " * 9000, "headers": JSON}, 413),
    ("/api/callbacks", "post", URL, {"content": b'["' + b"s" * 600 + b'"]', "headers": JSON}, 413),
    ("/api/callbacks", "post", URL,
     {"content": b"[" + b",".join([sample_bytes("ga", "PlayStarted")[1:-2]] * 6) + b"]",
      "headers": JSON}, 413),
    ("/api/callbacks", "post", URL, {"content": b"a=b", "headers": {"content-type": "text/plain"}},
     415),
    ("/api/callbacks", "options", "/api/callbacks",
     {"headers": {"WebHook-Request-Origin": "eventgrid.azure.net"}}, 200),
    ("/api/callbacks/{context}", "options", "/api/callbacks/x", {"headers": {}}, 200),
    ("/healthz", "get", "/healthz", {"headers": {}}, 200),
    ("/readyz", "get", "/readyz", {"headers": {}}, 200),
]


@pytest.mark.parametrize(("path", "method", "url", "kwargs", "status"), SCENARIOS)
def test_each_answer_is_documented_with_its_schema(
    client: TestClient, document: dict[str, Any],
    path: str, method: str, url: str, kwargs: dict[str, Any], status: int,
) -> None:
    response = client.request(method.upper(), url, **kwargs)
    assert response.status_code == status, response.text
    documented = document["paths"][path][method]["responses"]
    assert str(status) in documented
    answer = resolve(document, documented[str(status)])
    if "content" in answer:
        schema = answer["content"]["application/json"]["schema"]
        assert conforms(document, schema, response.json()), response.text
    if method == "options":  # the webhook headers answer an origin; Allow is always there
        expected = {"Allow"}
        if "WebHook-Request-Origin" in kwargs["headers"]:
            expected |= {"WebHook-Allowed-Origin", "WebHook-Allowed-Rate"}
        assert expected <= set(answer["headers"])
        assert all(header.lower() in response.headers for header in expected)


def test_an_unavailable_log_is_a_documented_503() -> None:
    with TestClient(build(UnavailableIntake())) as client:
        document = client.get(OPENAPI_PATH).json()
        submitted = client.post(URL, content=sample_bytes("ga", "PlayStarted"), headers=JSON)
        ready = client.get("/readyz")
    for response, (path, method) in [(submitted, ("/api/callbacks", "post")),
                                     (ready, ("/readyz", "get"))]:
        assert response.status_code == 503
        answer = resolve(document, document["paths"][path][method]["responses"]["503"])
        assert conforms(document, answer["content"]["application/json"]["schema"], response.json())
