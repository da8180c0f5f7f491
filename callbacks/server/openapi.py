"""The OpenAPI 3.1 document of the receiver's HTTP interface, served at ``GET /openapi.json``.

Written by hand, not generated from the event models: clients need the envelope, the auth and the
answers, while the event bodies (fifty-odd types in three dialects) are described by the reference
and validated by :func:`callbacks.events.parse_events`. ``tests/server/test_openapi.py`` keeps it
in step with the app: every route is documented here and every path documented here exists, so
whoever adds a route (``/metrics``, ``/api/flows/...``) adds it to :data:`_PATHS` builders too.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from callbacks.server.limits import Limits

OPENAPI_PATH = "/openapi.json"

_ERROR_CODE_EXAMPLES = (
    "invalid_event, json_too_deep, string_too_long, body_too_large, too_many_events, "
    "request_timeout, unsupported_media_type, missing_secret, wrong_secret, token_expired, "
    "unavailable"
)
_EVENT_MEDIA_TYPES = (
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
)


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("schemas", "Error"))}


def _version() -> str:
    try:
        return importlib.metadata.version("acs-callbacks")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _schemas() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable machine-readable reason: " + _ERROR_CODE_EXAMPLES,
                },
                "message": {"type": "string", "description": "What went wrong, for a human."},
            },
        },
        "Receipt": {
            "type": "object",
            "required": ["accepted", "duplicates"],
            "properties": {
                "accepted": {"type": "integer", "minimum": 0},
                "duplicates": {"type": "integer", "minimum": 0},
            },
        },
        "ValidationResponse": {
            "type": "object",
            "required": ["validationResponse"],
            "properties": {"validationResponse": {"type": "string"}},
            "description": "Event Grid's subscription handshake: the validationCode echoed.",
        },
        "Event": {
            "type": "object",
            "description": "One callback event, in the Event Grid schema (eventType, eventTime, "
            "data: the 2021 preview, IncomingCall, SubscriptionValidationEvent) or CloudEvents "
            "1.0 (specversion, type, source, data: callingserver and GA Call Automation).",
        },
        "Events": {
            "oneOf": [
                _ref("schemas", "Event"),
                {"type": "array", "items": _ref("schemas", "Event"), "minItems": 1},
            ],
        },
        "FlowStarted": {
            "type": "object",
            "required": ["flow", "id", "calls"],
            "properties": {
                "flow": {"type": "string"},
                "id": {"type": "string", "description": "The flow id `callbacks flows` shows."},
                "calls": {"type": "array", "items": {
                    "type": "object",
                    "required": ["target"],
                    "properties": {
                        "target": {"type": "string"},
                        "call_id": {"type": "string"},
                        "error": {"type": "string"},
                    },
                }},
            },
        },
        "Status": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string"}},
        },
    }


def _responses(limits: Limits) -> dict[str, Any]:
    return {
        "BadRequest": _error(
            "The body is not JSON, not an event, an invalid event (the message names the element "
            f"and the field), or nests deeper than {limits.depth} levels."
        ),
        "Unauthorized": _error("Authentication failed; the message never echoes what was sent."),
        "RequestTimeout": _error(
            f"The headers or the body did not arrive within {limits.read_timeout:g} s."
        ),
        "ContentTooLarge": _error(
            f"The body is over {limits.body_bytes} bytes, carries more than {limits.events} "
            f"events, or holds a string longer than {limits.string_bytes} bytes."
        ),
        "UnsupportedMediaType": _error("The content type is not JSON."),
        "Unavailable": _error(
            "The event log cannot accept events now, or the service's signing keys cannot be "
            "fetched to verify the token (keys_unavailable); retry later."
        ),
    }


def _callbacks_path(with_context: bool) -> dict[str, Any]:
    parameters = []
    if with_context:
        parameters.append({
            "name": "context",
            "in": "path",
            "required": True,
            "description": "Opaque context from the callbackUri, handed to handlers.",
            "schema": {"type": "string", "minLength": 1},
        })
    suffix = " with a path context" if with_context else ""
    post = {
        "operationId": "postCallbacks" + ("WithContext" if with_context else ""),
        "summary": "Receive call events" + suffix,
        "description": "One event or an array of events; every element is parsed and logged "
        "before the answer. Which credential is required depends on the server's --auth: the "
        "?secret= of the callbackUri, the service's bearer JWT, both, or none.",
        "parameters": parameters,
        "security": [
            {"callbackSecret": []},
            {"callbackToken": []},
            {"callbackSecret": [], "callbackToken": []},
            {},
        ],
        "requestBody": {
            "required": True,
            "content": {
                media_type: {"schema": _ref("schemas", "Events")}
                for media_type in _EVENT_MEDIA_TYPES
            },
        },
        "responses": {
            "200": {
                "description": "Accepted: counts of new and already-seen events, or the answer "
                "to Event Grid's subscription validation.",
                "content": _json({"oneOf": [
                    _ref("schemas", "Receipt"), _ref("schemas", "ValidationResponse"),
                ]}),
            },
            "400": _ref("responses", "BadRequest"),
            "401": _ref("responses", "Unauthorized"),
            "408": _ref("responses", "RequestTimeout"),
            "413": _ref("responses", "ContentTooLarge"),
            "415": _ref("responses", "UnsupportedMediaType"),
            "503": _ref("responses", "Unavailable"),
        },
    }
    options = {
        "operationId": "cloudEventsHandshake" + ("WithContext" if with_context else ""),
        "summary": "CloudEvents webhook validation (abuse protection) handshake" + suffix,
        "parameters": [*parameters, {
            "name": "WebHook-Request-Origin",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
        }],
        "responses": {
            "200": {
                "description": "The origin is allowed to deliver events.",
                "headers": {
                    name: {"schema": {"type": "string"}}
                    for name in ("Allow", "WebHook-Allowed-Origin", "WebHook-Allowed-Rate")
                },
            },
        },
    }
    return {"post": post, "options": options}


def _status_path(operation_id: str, summary: str, *, may_fail: bool) -> dict[str, Any]:
    status = _json(_ref("schemas", "Status"))
    responses: dict[str, Any] = {"200": {"description": "Up.", "content": status}}
    if may_fail:
        responses["503"] = {"description": "Not ready.", "content": status}
    return {"get": {"operationId": operation_id, "summary": summary, "responses": responses}}


def _flows_path() -> dict[str, Any]:
    """``POST /api/flows/{flow}``: start a flow of an enabled plugin (docs/flows.md)."""
    return {"post": {
        "operationId": "startFlow",
        "summary": "Start a flow (reminder, notify, ...): place its calls",
        "description": "The body is the flow's request, e.g. {\"to\": \"+14255550100\", "
        "\"appointment\": \"...\"} for reminder or {\"to\": [...], \"message\": URL} for "
        "notify. A repeated Idempotency-Key places no call twice. Outcomes are listed by "
        "`callbacks flows`.",
        "parameters": [
            {"name": "flow", "in": "path", "required": True,
             "description": "The flow's plugin name.", "schema": {"type": "string"}},
            {"name": "Idempotency-Key", "in": "header", "required": False,
             "schema": {"type": "string", "minLength": 1, "maxLength": 200}},
        ],
        "security": [{"flowsApiKey": []}],
        "requestBody": {"required": True, "content": _json({"type": "object"})},
        "responses": {
            "202": {"description": "Started: the flow id and each call placed (or why not).",
                    "content": _json(_ref("schemas", "FlowStarted"))},
            "400": _error("Not JSON, or not a valid request for this flow (the message names "
                          "the field)."),
            "401": _ref("responses", "Unauthorized"),
            "404": _error("No such flow is enabled."),
            "408": _ref("responses", "RequestTimeout"),
            "413": _ref("responses", "ContentTooLarge"),
            "502": _error("The Call Automation service refused every call."),
            "503": _error("The server has no connection string or callback URL."),
        },
    }}


def openapi_document(limits: Limits) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app :func:`callbacks.server.app.create_app` builds."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "acs-callbacks receiver",
            "version": _version(),
            "description": "The callbackUri of a Call Automation application: receives call "
            "events, logs them durably and dispatches them to handlers. Before any route, a "
            "request may be refused with 431 headers_too_large (request head over "
            "--max-header-bytes) or 408 request_timeout (head not sent within --read-timeout).",
        },
        "paths": {
            "/api/callbacks": _callbacks_path(with_context=False),
            "/api/callbacks/{context}": _callbacks_path(with_context=True),
            "/healthz": _status_path("healthz", "Liveness: the process answers", may_fail=False),
            "/readyz": _status_path("readyz", "Readiness: events can be accepted", may_fail=True),
            "/api/flows/{flow}": _flows_path(),
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics (text exposition format; OpenMetrics when "
                    "the Accept header asks for it)",
                    "responses": {
                        "200": {
                            "description": "Counters, histograms and gauges named callbacks_*.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                },
            },
            OPENAPI_PATH: {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": _json({"type": "object"})}
                    },
                },
            },
        },
        "components": {
            "schemas": _schemas(),
            "responses": _responses(limits),
            "securitySchemes": {
                "callbackSecret": {"type": "apiKey", "in": "query", "name": "secret"},
                "callbackToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "flowsApiKey": {"type": "http", "scheme": "bearer",
                                "description": "The server's --api-key."},
            },
        },
    }
