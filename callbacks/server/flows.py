"""``POST /api/flows/{flow}``: start an enabled flow over HTTP, with a bearer API key.

The app (:mod:`callbacks.server.app`) routes the request here; errors are raised as
:class:`~callbacks.server.endpoint.ApiError` with their status. The key is compared in constant
time and never logged or echoed.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from callbacks.client.automation import CallAutomationClient
from callbacks.flows.flow import Flow, start_flow, validation_message
from callbacks.plugins.settings import PluginSettings
from callbacks.server.endpoint import ApiError

MAX_IDEMPOTENCY_KEY = 200
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="flows"'}


class FlowStarter:
    """Starts the enabled flows for the HTTP API."""

    def __init__(
        self,
        flows: Mapping[str, Flow[Any]],
        *,
        api_key: str | None,
        client: CallAutomationClient | None,
        callback_url: str | None,
        settings: PluginSettings,
    ) -> None:
        self._flows = {name: flow for name, flow in flows.items() if flow.startable}
        self._key = api_key.encode("utf-8") if api_key else None
        self._client = client
        self._callback_url = callback_url
        self._settings = settings

    def __repr__(self) -> str:
        return f"FlowStarter(flows={sorted(self._flows)})"

    def authenticate(self, authorization: str | None) -> None:
        """Accept ``Authorization: Bearer <api key>``; ApiError 401 otherwise."""
        if self._key is None:
            raise ApiError(401, "flows_disabled",
                           "the flows API is off: the server was started without --api-key",
                           headers=_CHALLENGE)
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing_api_key", "send the API key as Authorization: Bearer",
                           headers=_CHALLENGE)
        if not hmac.compare_digest(token.strip().encode("utf-8"), self._key):
            raise ApiError(401, "wrong_api_key", "the API key is not valid", headers=_CHALLENGE)

    async def start(
        self, name: str, body: bytes, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Start flow ``name`` with the JSON request ``body``; the answer document."""
        flow = self._flows.get(name)
        if flow is None:
            enabled = ", ".join(sorted(self._flows)) or "none"
            raise ApiError(404, "unknown_flow", f"no flow {name!r} is enabled (enabled: {enabled})")
        if self._client is None or self._callback_url is None:
            raise ApiError(503, "flows_unavailable",
                           "the server has no connection string or callback URL to place calls")
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise ApiError(400, "invalid_request",
                           f"Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY} characters")
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError(400, "invalid_json", "the body is not JSON") from None
        if not isinstance(document, dict):
            raise ApiError(400, "invalid_request", "the body must be a JSON object")
        try:
            request = flow.request_model.model_validate(document)
            started = await start_flow(
                name, flow, request, client=self._client, callback_url=self._callback_url,
                settings=self._settings, idempotency_key=idempotency_key,
            )
        except ValidationError as exc:
            raise ApiError(400, "invalid_request", validation_message(exc)) from None
        except ValueError as exc:
            raise ApiError(400, "invalid_request", str(exc)) from None
        if not any(call.call_id for call in started.calls):
            errors = "; ".join(f"{c.target}: {c.error}" for c in started.calls)
            raise ApiError(502, "call_failed", f"no call could be placed: {errors}")
        return started.to_json()
