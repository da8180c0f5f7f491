"""A call's object follows the API version; what each version cannot do is refused clearly."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from callbacks import (
    CallAutomationClient,
    CallConnection,
    CallLegConnection,
    FileSource,
    RecognitionChoice,
    TextSource,
    UnsupportedOperation,
)
from callbacks.client.retry import RetryPolicy

KEY = b"0123456789abcdef0123456789abcdef"


class Service:
    """Records requests; answers with a canned page sequence for participants."""

    def __init__(self, pages: list[dict[str, Any]] | None = None) -> None:
        self.requests: list[httpx2.Request] = []
        self.pages = pages or []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if request.url.path.endswith("/participants") and self.pages:
            return httpx2.Response(200, json=self.pages.pop(0))
        if request.url.path.endswith(("/PlayAudio", "/CancelMediaProcessing")):
            return httpx2.Response(202, json={"status": "running"})
        return httpx2.Response(202)


def client(service: Service, version: str | None = None) -> CallAutomationClient:
    return CallAutomationClient("https://acs.example", KEY, api_version=version,
                                transport=httpx2.MockTransport(service),
                                retry=RetryPolicy(attempts=1))


def test_the_call_object_follows_the_version() -> None:
    service = Service()
    assert isinstance(client(service).get_call_connection("c"), CallConnection)
    assert isinstance(client(service, "2023-03-06").get_call_connection("c"), CallConnection)
    for version in ("2021-overview", "2021-04-15-preview1"):
        call = client(service, version).get_call_connection("c")
        assert isinstance(call, CallLegConnection) and call.api_version == version


async def test_a_ga_operation_on_a_2021_call_names_the_version() -> None:
    call = client(Service(), "2021-overview").get_call_connection("c")
    with pytest.raises(UnsupportedOperation, match=r"start_recognizing_media is an operation "
                       r"of GA Call Automation; this call uses the 2021 API \(2021-overview\)"):
        call.start_recognizing_media  # noqa: B018 - the attribute itself is refused
    with pytest.raises(AttributeError, match="no_such_thing") as info:
        call.no_such_thing  # noqa: B018
    assert not isinstance(info.value, UnsupportedOperation)


async def test_2021_calls_take_the_sdks_names_for_the_seeds_operations() -> None:
    service = Service()
    async with client(service, "2021-04-15-preview1") as api:
        call = api.get_call_connection("c")
        assert isinstance(call, CallLegConnection)
        await call.play_media(FileSource("https://a/b.wav"), loop=True, operation_context="x")
        await call.play_media_to_all(FileSource("https://a/c.wav"))
        await call.cancel_all_media_operations()
        await call.add_participant("+14255550100", operation_context="agent")
        await call.remove_participant("p-1")
        await call.hang_up(is_for_everyone=True)
        with pytest.raises(ValueError, match="one audio file"):
            await call.play_media(TextSource("hello"))
        with pytest.raises(ValueError, match="leave play_to out"):
            await call.play_media(FileSource("https://a/b.wav"), play_to=["+1"])  # type: ignore[arg-type]
    paths = [(r.method, r.url.path) for r in service.requests]
    assert paths == [
        ("POST", "/calling/calls/c/PlayAudio"), ("POST", "/calling/calls/c/PlayAudio"),
        ("POST", "/calling/calls/c/CancelMediaProcessing"),
        ("POST", "/calling/calls/c/participants"), ("DELETE", "/calling/calls/c/participants/p-1"),
        ("POST", "/calling/calls/c/Hangup"),
    ]
    assert json.loads(service.requests[0].content) == {
        "audioFileUri": "https://a/b.wav", "loop": True, "operationContext": "x",
    }
    assert json.loads(service.requests[3].content)["participants"][0]["rawId"] == (
        "4:+14255550100"
    )
    assert all(r.url.params["api-version"] == "2021-04-15-preview1" for r in service.requests)


async def test_client_operations_that_the_2021_api_lacks_are_refused() -> None:
    async with client(Service(), "2021-overview") as api:
        with pytest.raises(ValueError, match=r"answer_call is an operation of GA"):
            await api.answer_call("ctx", "https://cb")
        with pytest.raises(ValueError, match=r"recordings is an operation of GA"):
            await api.stop_recording("r")
    async with client(Service()) as api:
        with pytest.raises(ValueError, match="options of the 2021 API"):
            await api.create_call("8:acs:x", "https://cb", requested_call_events=["dtmf"])


async def test_participants_are_read_across_pages() -> None:
    user = {"identifier": {"rawId": "8:acs:a", "communicationUser": {"id": "8:acs:a"}}}
    service = Service([
        {"value": [user], "nextLink": "https://acs.example/calling/callConnections/c/"
                                      "participants?api-version=2026-03-12&skip=1"},
        {"value": [{**user, "identifier": {"rawId": "4:+1425", "phoneNumber": {"value": "+1425"}},
                    "isMuted": True}]},
    ])
    async with client(service) as api:
        call = api.get_call_connection("c")
        assert isinstance(call, CallConnection)
        participants = await call.list_participants()
    assert [(p.identifier.raw_id, p.is_muted) for p in participants] == [
        ("8:acs:a", False), ("4:+1425", True)
    ]
    assert len(service.requests) == 2


async def test_bad_arguments_are_value_errors_before_anything_is_sent() -> None:
    service = Service()
    async with client(service) as api:
        call = api.get_call_connection("c")
        assert isinstance(call, CallConnection)
        with pytest.raises(ValueError, match="at least one source"):
            await call.play_media([])
        with pytest.raises(ValueError, match="play_to"):
            await call.play_media(FileSource("https://a/b.wav"), play_to="some")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="RecognitionChoice"):
            await call.start_recognizing_media("choices", "+1", choices=[])
        with pytest.raises(ValueError, match="not a DTMF tone"):
            await call.send_dtmf_tones(["ten"], "+1")
        with pytest.raises(ValueError, match="caller id must be a phone number"):
            await call.add_participant("+1", source_caller_id_number="8:acs:x")
        with pytest.raises(ValueError, match="exactly one of"):
            await api.connect_call("https://cb")
        with pytest.raises(ValueError, match="ACS user"):
            await api.create_call("+1", "https://cb", source="+1425")
    assert service.requests == []
    assert RecognitionChoice("a", ["b"], "#").to_wire() == {
        "label": "a", "phrases": ["b"], "tone": "pound"
    }
