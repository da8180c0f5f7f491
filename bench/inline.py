"""The two servers of the reaction benchmark (``bench/reaction.py``), doing the same work.

- ``app``: the "inline" receiver the official samples write: parse the callback and call the
  REST API inside the request, with no log, no ordering and no retry. Run with
  ``uvicorn bench.inline:app``; ``BENCH_CONNECTION_STRING`` names the service it plays on,
  ``BENCH_API_VERSION`` the API version of its calls.
- ``router``: the same reaction as a handler plugin of ``callbacks serve``
  (``--handlers bench.inline:router``): one play per DTMF event, tagged with the event's id.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callbacks import CallAutomationClient, Context, FileSource, Router
from callbacks.events import (
    ContinuousDtmfRecognitionToneReceived,
    DtmfReceived,
    Event,
    parse_events,
)

PROMPT = FileSource("https://media.example.com/ack.wav")

router = Router()


async def react(event: Event, ctx: Context) -> None:
    """Play the acknowledgement, tagged with the event's id (the benchmark times its arrival)."""
    await ctx.call.play_media(PROMPT, operation_context=event.identity)


router.add(react, DtmfReceived)
router.add(react, ContinuousDtmfRecognitionToneReceived)


_client: CallAutomationClient | None = None


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    global _client
    client = CallAutomationClient.from_connection_string(
        os.environ["BENCH_CONNECTION_STRING"], api_version=os.environ.get("BENCH_API_VERSION")
    )
    async with client:
        _client = client
        yield


async def _callbacks(request: Request) -> Response:
    # What a sample does: every event of the body, parsed, its REST call made before answering.
    assert _client is not None
    for event in parse_events(await request.body()):
        if event.call_id is not None:
            call = _client.get_call_connection(event.call_id)
            await call.play_media(PROMPT, operation_context=event.identity)
    return JSONResponse({"accepted": 1, "duplicates": 0})


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[Route("/api/callbacks", _callbacks, methods=["POST"]),
            Route("/healthz", _healthz), Route("/readyz", _healthz)],
    lifespan=_lifespan,
)
