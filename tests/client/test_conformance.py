"""Our client and Microsoft's SDK send the same requests: the SDK is the oracle of the wire.

For each operation one request goes through ``azure-communication-callautomation`` and one
through our client, both to a local capture server. They must agree on the method, the path,
the api-version and the JSON body (the repeatability id and the timestamps aside), carry the
repeatability pair on exactly the same operations, and both signatures must verify with the
project's HMAC verifier.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from azure.communication.callautomation import CallAutomationClient as SdkClient
from azure.communication.callautomation import (
    CommunicationUserIdentifier as SdkUser,
)
from azure.communication.callautomation import (
    DtmfTone as SdkTone,
)
from azure.communication.callautomation import (
    FileSource as SdkFile,
)
from azure.communication.callautomation import (
    MicrosoftTeamsUserIdentifier as SdkTeamsUser,
)
from azure.communication.callautomation import (
    PhoneNumberIdentifier as SdkPhone,
)
from azure.communication.callautomation import (
    RecognitionChoice as SdkChoice,
)
from azure.communication.callautomation import (
    RecognizeInputType as SdkInput,
)
from azure.communication.callautomation import (
    SsmlSource as SdkSsml,
)
from azure.communication.callautomation import (
    TextSource as SdkText,
)
from azure.core.credentials import AzureKeyCredential

from callbacks import (
    CallAutomationClient,
    CallConnection,
    CommunicationUserIdentifier,
    DtmfTone,
    FileSource,
    MicrosoftTeamsUserIdentifier,
    PhoneNumberIdentifier,
    RecognitionChoice,
    RecognizeInputType,
    SsmlSource,
    TextSource,
)
from callbacks.client.hmac import verify
from callbacks.client.versions import GA_VERSIONS
from tests.support.capture import CALL, Captured, capture_server

KEY_B64 = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
KEY = base64.b64decode(KEY_B64)
CB = "https://app.example/api/callbacks?secret=s"
BOB, PSTN = "8:acs:bob", "+14255550100"

sdk_bob, sdk_pstn = SdkUser(BOB), SdkPhone(PSTN)
bob, pstn = CommunicationUserIdentifier(BOB), PhoneNumberIdentifier(PSTN)

SdkCall = Callable[[Any, Any], object]
OurCall = Callable[[CallAutomationClient, CallConnection], Awaitable[object]]

OPERATIONS: dict[str, tuple[SdkCall, OurCall]] = {
    "create_call": (
        lambda c, cc: c.create_call(
            sdk_bob, CB, operation_context="oc", cognitive_services_endpoint="https://cog",
            source_caller_id_number=sdk_pstn, source_display_name="Contoso"),
        lambda c, cc: c.create_call(
            bob, CB, operation_context="oc", cognitive_services_endpoint="https://cog",
            source_caller_id_number=pstn, source_display_name="Contoso"),
    ),
    "create_call to several targets": (
        lambda c, cc: c.create_call([sdk_bob, sdk_pstn, SdkTeamsUser("t-1")], CB),
        lambda c, cc: c.create_call([bob, pstn, MicrosoftTeamsUserIdentifier("t-1")], CB),
    ),
    "create_group_call": (
        lambda c, cc: c.create_group_call([sdk_bob, sdk_pstn], CB, operation_context="oc",
                                          source_caller_id_number=sdk_pstn),
        lambda c, cc: c.create_group_call([bob, pstn], CB, operation_context="oc",
                                          source_caller_id_number=pstn),
    ),
    "answer_call": (
        lambda c, cc: c.answer_call("in-ctx", CB, operation_context="oc",
                                    cognitive_services_endpoint="https://cog"),
        lambda c, cc: c.answer_call("in-ctx", CB, operation_context="oc",
                                    cognitive_services_endpoint="https://cog"),
    ),
    "redirect_call": (
        lambda c, cc: c.redirect_call("in-ctx", sdk_pstn),
        lambda c, cc: c.redirect_call("in-ctx", pstn),
    ),
    "reject_call": (
        lambda c, cc: c.reject_call("in-ctx", call_reject_reason="busy"),
        lambda c, cc: c.reject_call("in-ctx", call_reject_reason="busy"),
    ),
    "connect_call": (
        lambda c, cc: c.connect_call(CB, server_call_id="srv", operation_context="oc"),
        lambda c, cc: c.connect_call(CB, server_call_id="srv", operation_context="oc"),
    ),
    "start_recording": (
        lambda c, cc: c.start_recording(
            server_call_id="srv", recording_state_callback_url="https://app.example/rec",
            recording_content_type="audio", recording_channel_type="mixed",
            recording_format_type="wav"),
        lambda c, cc: c.start_recording(
            server_call_id="srv", recording_state_callback_url="https://app.example/rec",
            recording_content_type="audio", recording_channel_type="mixed",
            recording_format_type="wav"),
    ),
    "get_recording_properties": (
        lambda c, cc: c.get_recording_properties("rec-1"),
        lambda c, cc: c.get_recording_properties("rec-1"),
    ),
    "stop_recording": (lambda c, cc: c.stop_recording("rec-1"),
                       lambda c, cc: c.stop_recording("rec-1")),
    "pause_recording": (lambda c, cc: c.pause_recording("rec-1"),
                        lambda c, cc: c.pause_recording("rec-1")),
    "resume_recording": (lambda c, cc: c.resume_recording("rec-1"),
                         lambda c, cc: c.resume_recording("rec-1")),
    "get_call_properties": (lambda c, cc: cc.get_call_properties(),
                            lambda c, cc: cc.get_call_properties()),
    "hang_up": (lambda c, cc: cc.hang_up(is_for_everyone=False),
                lambda c, cc: cc.hang_up(is_for_everyone=False)),
    "hang_up for everyone": (lambda c, cc: cc.hang_up(is_for_everyone=True),
                             lambda c, cc: cc.hang_up(is_for_everyone=True)),
    "list_participants": (lambda c, cc: list(cc.list_participants()),
                          lambda c, cc: cc.list_participants()),
    "get_participant": (lambda c, cc: cc.get_participant(sdk_pstn),
                        lambda c, cc: cc.get_participant(pstn)),
    "add_participant": (
        lambda c, cc: cc.add_participant(
            sdk_pstn, invitation_timeout=30, operation_context="oc",
            source_caller_id_number=sdk_pstn, source_display_name="Contoso",
            operation_callback_url="https://app.example/op", sip_headers={"X-A": "b"}),
        lambda c, cc: cc.add_participant(
            pstn, invitation_timeout=30, operation_context="oc",
            source_caller_id_number=pstn, source_display_name="Contoso",
            operation_callback_url="https://app.example/op", sip_headers={"X-A": "b"}),
    ),
    "remove_participant": (
        lambda c, cc: cc.remove_participant(sdk_bob, operation_context="oc"),
        lambda c, cc: cc.remove_participant(bob, operation_context="oc"),
    ),
    "cancel_add_participant_operation": (
        lambda c, cc: cc.cancel_add_participant_operation("inv-1", operation_context="oc"),
        lambda c, cc: cc.cancel_add_participant_operation("inv-1", operation_context="oc"),
    ),
    "move_participants": (
        lambda c, cc: cc.move_participants([sdk_bob], "other-call", operation_context="oc"),
        lambda c, cc: cc.move_participants([bob], "other-call", operation_context="oc"),
    ),
    "mute_participant": (
        lambda c, cc: cc.mute_participant(sdk_bob, operation_context="oc"),
        lambda c, cc: cc.mute_participant(bob, operation_context="oc"),
    ),
    "transfer_call_to_participant": (
        lambda c, cc: cc.transfer_call_to_participant(
            sdk_pstn, operation_context="oc", transferee=sdk_bob,
            source_caller_id_number=sdk_pstn),
        lambda c, cc: cc.transfer_call_to_participant(
            pstn, operation_context="oc", transferee=bob, source_caller_id_number=pstn),
    ),
    "play_media to everyone": (
        lambda c, cc: cc.play_media(SdkFile("https://a/b.wav"), operation_context="oc"),
        lambda c, cc: cc.play_media(FileSource("https://a/b.wav"), operation_context="oc"),
    ),
    "play_media to some, looping, text and SSML": (
        lambda c, cc: cc.play_media(
            [SdkText(text="hi", voice_name="en-US-NancyNeural"), SdkSsml(ssml_text="<speak/>")],
            play_to=[sdk_bob], loop=True),
        lambda c, cc: cc.play_media(
            [TextSource(text="hi", voice_name="en-US-NancyNeural"), SsmlSource("<speak/>")],
            play_to=[bob], loop=True),
    ),
    "play_media_to_all": (
        lambda c, cc: cc.play_media_to_all(SdkFile("https://a/b.wav", play_source_cache_id="x")),
        lambda c, cc: cc.play_media_to_all(FileSource("https://a/b.wav", play_source_cache_id="x")),
    ),
    "start_recognizing_media dtmf": (
        lambda c, cc: cc.start_recognizing_media(
            SdkInput.DTMF, sdk_pstn, play_prompt=SdkFile("https://a/menu.wav"),
            dtmf_max_tones_to_collect=1, dtmf_stop_tones=[SdkTone.POUND],
            initial_silence_timeout=5, dtmf_inter_tone_timeout=3, interrupt_prompt=True,
            operation_context="menu"),
        lambda c, cc: cc.start_recognizing_media(
            RecognizeInputType.DTMF, pstn, play_prompt=FileSource("https://a/menu.wav"),
            dtmf_max_tones_to_collect=1, dtmf_stop_tones=["#"], initial_silence_timeout=5,
            dtmf_inter_tone_timeout=3, interrupt_prompt=True, operation_context="menu"),
    ),
    "start_recognizing_media choices": (
        lambda c, cc: cc.start_recognizing_media(
            SdkInput.CHOICES, sdk_pstn, speech_language="en-US",
            choices=[SdkChoice(label="agent", phrases=["agent", "person"], tone=SdkTone.ONE)],
            play_prompt=SdkText(text="say agent", source_locale="en-US", voice_kind="female")),
        lambda c, cc: cc.start_recognizing_media(
            RecognizeInputType.CHOICES, pstn, speech_language="en-US",
            choices=[RecognitionChoice("agent", ["agent", "person"], DtmfTone.ONE)],
            play_prompt=TextSource(text="say agent", source_locale="en-US", voice_kind="female")),
    ),
    "start_recognizing_media speech": (
        lambda c, cc: cc.start_recognizing_media(SdkInput.SPEECH, sdk_pstn,
                                                 end_silence_timeout=2),
        lambda c, cc: cc.start_recognizing_media("speech", pstn, end_silence_timeout=2),
    ),
    "start_recognizing_media speech or dtmf": (
        lambda c, cc: cc.start_recognizing_media(SdkInput.SPEECH_OR_DTMF, sdk_pstn,
                                                 dtmf_max_tones_to_collect=4),
        lambda c, cc: cc.start_recognizing_media("speechOrDtmf", pstn,
                                                 dtmf_max_tones_to_collect=4),
    ),
    "cancel_all_media_operations": (lambda c, cc: cc.cancel_all_media_operations(),
                                    lambda c, cc: cc.cancel_all_media_operations()),
    "start_continuous_dtmf_recognition": (
        lambda c, cc: cc.start_continuous_dtmf_recognition(sdk_pstn, operation_context="oc"),
        lambda c, cc: cc.start_continuous_dtmf_recognition(pstn, operation_context="oc"),
    ),
    "stop_continuous_dtmf_recognition": (
        lambda c, cc: cc.stop_continuous_dtmf_recognition(sdk_pstn),
        lambda c, cc: cc.stop_continuous_dtmf_recognition(pstn),
    ),
    "send_dtmf_tones": (
        lambda c, cc: cc.send_dtmf_tones([SdkTone.ONE, SdkTone.POUND], sdk_pstn,
                                         operation_context="oc"),
        lambda c, cc: cc.send_dtmf_tones(["1", DtmfTone.POUND], pstn, operation_context="oc"),
    ),
    "hold": (
        lambda c, cc: cc.hold(sdk_pstn, play_source=SdkFile("https://a/music.wav"),
                              operation_context="oc"),
        lambda c, cc: cc.hold(pstn, play_source=FileSource("https://a/music.wav"),
                              operation_context="oc"),
    ),
    "unhold": (lambda c, cc: cc.unhold(sdk_pstn, operation_context="oc"),
               lambda c, cc: cc.unhold(pstn, operation_context="oc")),
    "start_media_streaming": (lambda c, cc: cc.start_media_streaming(operation_context="oc"),
                              lambda c, cc: cc.start_media_streaming(operation_context="oc")),
    "stop_media_streaming": (lambda c, cc: cc.stop_media_streaming(operation_context="oc"),
                             lambda c, cc: cc.stop_media_streaming(operation_context="oc")),
    "start_transcription": (
        lambda c, cc: cc.start_transcription(locale="en-US", operation_context="oc"),
        lambda c, cc: cc.start_transcription(locale="en-US", operation_context="oc"),
    ),
    "stop_transcription": (lambda c, cc: cc.stop_transcription(operation_context="oc"),
                           lambda c, cc: cc.stop_transcription(operation_context="oc")),
    "update_transcription": (lambda c, cc: cc.update_transcription(locale="fr-FR"),
                             lambda c, cc: cc.update_transcription("fr-FR")),
}
"""What each operation's two requests are made of: the SDK's call and ours."""

PUBLIC_OPERATIONS = {
    # the SDK's public methods and ours: both must offer every one of these
    "create_call", "create_group_call", "answer_call", "redirect_call", "reject_call",
    "connect_call",
    "get_call_connection", "start_recording", "stop_recording", "pause_recording",
    "resume_recording", "get_recording_properties",
}
CONNECTION_OPERATIONS = {
    "get_call_properties", "hang_up", "list_participants", "get_participant",
    "add_participant", "remove_participant", "cancel_add_participant_operation",
    "move_participants", "mute_participant", "transfer_call_to_participant", "play_media",
    "play_media_to_all", "start_recognizing_media", "cancel_all_media_operations",
    "start_continuous_dtmf_recognition", "stop_continuous_dtmf_recognition",
    "send_dtmf_tones", "hold", "unhold", "start_media_streaming", "stop_media_streaming",
    "start_transcription", "stop_transcription", "update_transcription",
}


SDK_DEPRECATED = {"play_media_to_all", "create_group_call"}
"""The names SDK 1.6 marks deprecated (a DeprecationWarning when called)."""


def _sdk_request(url: str, version: str, name: str, got: list[Captured]) -> Captured:
    client = SdkClient(url, AzureKeyCredential(KEY_B64), api_version=version)
    call = client.get_call_connection(CALL)
    before = len(got)
    if name.split(" ")[0] in SDK_DEPRECATED:
        # Still what the samples call, so ours keeps them; the SDK says they are deprecated.
        with pytest.deprecated_call():
            OPERATIONS[name][0](client, call)
    else:
        OPERATIONS[name][0](client, call)
    [request] = got[before:]
    return request


async def _our_request(url: str, version: str, name: str, got: list[Captured]) -> Captured:
    before = len(got)
    async with CallAutomationClient(url, KEY, api_version=version) as client:
        call = client.get_call_connection(CALL)
        assert isinstance(call, CallConnection)
        await OPERATIONS[name][1](client, call)
    [request] = got[before:]
    return request


def _signed(request: Captured, host: str) -> bool:
    path = request.path + ("?" + "&".join(f"{k}={v[0]}" for k, v in request.query.items())
                           if request.query else "")
    return verify(KEY, request.method, path, host, request.headers, request.body)


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_our_request_is_the_sdks(name: str) -> None:
    version = "2026-03-12"
    with capture_server() as (url, got):
        theirs = _sdk_request(url, version, name, got)
        ours = asyncio.run(_our_request(url, version, name, got))
    host = url.removeprefix("http://")
    assert (ours.method, ours.path) == (theirs.method, theirs.path)
    assert ours.query == theirs.query == {"api-version": [version]}
    assert ours.json == theirs.json
    repeatable = {"repeatability-request-id", "repeatability-first-sent"}
    assert (repeatable <= ours.headers.keys()) == (repeatable <= theirs.headers.keys())
    assert _signed(theirs, host) and _signed(ours, host)


@pytest.mark.parametrize("version", GA_VERSIONS)
def test_every_ga_version_is_sent_as_the_sdk_sends_it(version: str) -> None:
    with capture_server() as (url, got):
        theirs = _sdk_request(url, version, "play_media to everyone", got)
        ours = asyncio.run(_our_request(url, version, "play_media to everyone", got))
    assert ours.query == theirs.query == {"api-version": [version]}
    assert (ours.path, ours.json) == (theirs.path, theirs.json)


def test_the_operations_compared_cover_the_sdks_names() -> None:
    from azure.communication.callautomation import CallConnectionClient

    for names, theirs, ours in ((PUBLIC_OPERATIONS, SdkClient, CallAutomationClient),
                                (CONNECTION_OPERATIONS, CallConnectionClient, CallConnection)):
        assert not names - set(dir(theirs)), names - set(dir(theirs))
        assert not names - set(dir(ours)), names - set(dir(ours))
    compared = {name.split(" ")[0] for name in OPERATIONS}
    missing = (PUBLIC_OPERATIONS - {"get_call_connection"}) | CONNECTION_OPERATIONS
    assert not missing - compared, missing - compared
