"""Microsoft's SDK (blocking client) plays, recognizes, sends DTMF, holds, streams and records."""

from __future__ import annotations

from typing import Any

import pytest
from azure.communication.callautomation import (
    CommunicationUserIdentifier,
    DtmfTone,
    FileSource,
    PhoneNumberIdentifier,
    RecognitionChoice,
    RecognizeInputType,
    SsmlSource,
    TextSource,
)
from azure.communication.callautomation import (
    MediaStreamingOptions as StreamingOptions,
)
from azure.communication.callautomation import (
    TranscriptionOptions as Transcription,
)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.support.ga_harness import COGNITIVE, Served

ALICE = PhoneNumberIdentifier("+14251001000")
BOB = CommunicationUserIdentifier("8:acs:resource_bob")
PROMPT = FileSource("https://example.com/menu.wav")
CHOICES = [
    RecognitionChoice(label="Confirm", phrases=["Confirm", "Yes"], tone=DtmfTone.ONE),
    RecognitionChoice(label="Cancel", phrases=["Cancel", "No"], tone=DtmfTone.TWO),
]


def _call(served: Served, *, replies: list[dict[str, Any]] | None = None,
          cognitive: bool = True, **options: Any) -> str:
    """A connected call with ALICE, who answers recognize prompts with ``replies``."""
    served.use_scenario({"callees": [{"match": ALICE.raw_id, "recognize": replies or []}]})
    created = served.client().create_call(
        ALICE, served.receiver.callback_url,
        cognitive_services_endpoint=COGNITIVE if cognitive else None, **options,
    )
    served.receiver.wait_types(created.call_connection_id, "CallConnected")
    return created.call_connection_id


def _result(data: dict[str, Any]) -> tuple[int, int]:
    info = data["resultInformation"]
    return info["code"], info["subCode"]


def test_play_file_text_and_ssml_to_everyone_or_some(served: Served) -> None:
    call_id = _call(served)
    connection = served.client().get_call_connection(call_id)
    connection.play_media(PROMPT, operation_context="file")
    connection.play_media(TextSource(text="Hello", voice_name="en-US-JennyNeural"),
                          play_to=[ALICE], operation_context="text")
    connection.play_media(SsmlSource(ssml_text="<speak>Hi</speak>"), operation_context="ssml")
    with pytest.deprecated_call():
        connection.play_media_to_all(PROMPT, operation_context="all")
    served.receiver.wait(lambda: sum(
        g.type == "PlayCompleted" for g in served.receiver.of(call_id)) == 4)
    completed = [g.data for g in served.receiver.of(call_id) if g.type == "PlayCompleted"]
    assert [d["operationContext"] for d in completed] == ["file", "text", "ssml", "all"]
    assert all(_result(d) == (200, 0) for d in completed)
    started = [g.data["operationContext"] for g in served.receiver.of(call_id)
               if g.type == "PlayStarted"]
    assert started == ["file", "text", "ssml", "all"]
    with pytest.raises(ResourceNotFoundError):
        connection.play_media(PROMPT, play_to=[BOB])


def test_a_file_the_service_cannot_play_fails_with_its_index(served: Served) -> None:
    call_id = _call(served)
    served.client().get_call_connection(call_id).play_media(
        [PROMPT, FileSource("https://example.com/menu.ogg")], operation_context="bad"
    )
    failed = served.receiver.event(call_id, "PlayFailed")
    assert _result(failed) == (400, 8535)
    assert failed["failedPlaySourceIndex"] == 1


def test_text_speech_and_choices_need_cognitive_services(served: Served) -> None:
    call_id = _call(served, cognitive=False)
    connection = served.client().get_call_connection(call_id)
    refused = [
        lambda: connection.play_media(TextSource(text="Hi", voice_name="en-US-JennyNeural")),
        lambda: connection.play_media(SsmlSource(ssml_text="<speak>Hi</speak>")),
        lambda: connection.start_recognizing_media(RecognizeInputType.SPEECH, ALICE),
        lambda: connection.start_recognizing_media(
            RecognizeInputType.CHOICES, ALICE, choices=CHOICES
        ),
        lambda: connection.start_recognizing_media(
            RecognizeInputType.DTMF, ALICE, dtmf_max_tones_to_collect=1,
            play_prompt=TextSource(text="Press one", voice_name="en-US-JennyNeural"),
        ),
    ]
    for attempt in refused:
        with pytest.raises(HttpResponseError) as caught:
            attempt()
        assert caught.value.status_code == 405
        assert caught.value.error is not None and caught.value.error.code == "8522"
    connection.start_recognizing_media(
        RecognizeInputType.DTMF, ALICE, dtmf_max_tones_to_collect=1, play_prompt=PROMPT
    )
    connection.play_media(PROMPT, operation_context="file is fine")
    served.receiver.wait_types(call_id, "RecognizeFailed", "PlayCompleted")


@pytest.mark.parametrize(
    ("reply", "options", "tones", "result"),
    [
        ({"tones": "123"}, {"dtmf_max_tones_to_collect": 3}, ["one", "two", "three"], (200, 8531)),
        ({"tones": "12#"}, {"dtmf_max_tones_to_collect": 5, "dtmf_stop_tones": [DtmfTone.POUND]},
         ["one", "two"], (200, 8514)),
        ({"tones": "12"}, {"dtmf_max_tones_to_collect": 5, "dtmf_inter_tone_timeout": 2},
         ["one", "two"], (400, 8532)),
    ],
    ids=["max-tones", "stop-tone", "inter-tone-timeout"],
)
def test_dtmf_recognition_ends_on_max_tones_stop_tone_or_silence_between_tones(
    served: Served, reply: dict[str, Any], options: dict[str, Any], tones: list[str],
    result: tuple[int, int],
) -> None:
    call_id = _call(served, replies=[reply])
    served.client().get_call_connection(call_id).start_recognizing_media(
        RecognizeInputType.DTMF, ALICE, play_prompt=PROMPT, operation_context="menu", **options
    )
    completed = served.receiver.event(call_id, "RecognizeCompleted")
    assert completed["operationContext"] == "menu"
    assert completed["recognitionType"] == "dtmf"
    assert completed["dtmfResult"]["tones"] == tones
    assert completed["collectTonesResult"]["tones"] == tones
    assert _result(completed) == result


def test_silence_fails_with_8510_after_the_prompt(served: Served) -> None:
    call_id = _call(served, replies=[{"silent": True}])
    served.client().get_call_connection(call_id).start_recognizing_media(
        RecognizeInputType.DTMF, ALICE, play_prompt=PROMPT, initial_silence_timeout=2,
        dtmf_max_tones_to_collect=1, operation_context="menu",
    )
    failed = served.receiver.event(call_id, "RecognizeFailed")
    assert _result(failed) == (400, 8510)
    assert failed["operationContext"] == "menu"


def test_a_reply_later_than_the_initial_silence_timeout_is_silence(served: Served) -> None:
    call_id = _call(served, replies=[{"tones": "1", "delay": 1.0}])
    served.client().get_call_connection(call_id).start_recognizing_media(
        RecognizeInputType.DTMF, ALICE, initial_silence_timeout=2, dtmf_max_tones_to_collect=1,
    )
    assert _result(served.receiver.event(call_id, "RecognizeFailed")) == (400, 8510)


@pytest.mark.parametrize(
    ("reply", "label", "phrase", "result"),
    [
        ({"say": "yes!"}, "Confirm", "Yes", (200, 8545)),
        ({"tones": "2"}, "Cancel", None, (200, 8533)),
        ({"choice": "Cancel"}, "Cancel", "Cancel", (200, 8545)),
    ],
    ids=["phrase", "tone", "label"],
)
def test_choices_are_matched_by_phrase_or_tone_and_reported_by_label(
    served: Served, reply: dict[str, Any], label: str, phrase: str | None,
    result: tuple[int, int],
) -> None:
    call_id = _call(served, replies=[reply])
    served.client().get_call_connection(call_id).start_recognizing_media(
        RecognizeInputType.CHOICES, ALICE, choices=CHOICES, operation_context="confirm",
        play_prompt=TextSource(text="Confirm or cancel?", voice_name="en-US-JennyNeural"),
    )
    completed = served.receiver.event(call_id, "RecognizeCompleted")
    assert completed["recognitionType"] == "choices"
    assert completed["choiceResult"]["label"] == label
    assert completed["choiceResult"]["recognizedPhrase"] == phrase
    assert _result(completed) == result


def test_unmatched_choices_fail_and_speech_comes_from_the_script(served: Served) -> None:
    call_id = _call(served, replies=[{"say": "maybe"}, {"tones": "9"}, {"say": "my bill"}])
    connection = served.client().get_call_connection(call_id)
    connection.start_recognizing_media(RecognizeInputType.CHOICES, ALICE, choices=CHOICES,
                                       operation_context="first")
    connection.start_recognizing_media(RecognizeInputType.CHOICES, ALICE, choices=CHOICES,
                                       operation_context="second")
    connection.start_recognizing_media(RecognizeInputType.SPEECH, ALICE, end_silence_timeout=1,
                                       operation_context="third")
    served.receiver.wait_types(call_id, "RecognizeFailed", "RecognizeFailed",
                               "RecognizeCompleted")
    results = [(g.type, g.data["operationContext"], _result(g.data))
               for g in served.receiver.of(call_id) if g.type.startswith("Recognize")]
    assert results == [
        ("RecognizeFailed", "first", (400, 8547)),
        ("RecognizeFailed", "second", (500, 8534)),
        ("RecognizeCompleted", "third", (200, 8569)),
    ]
    speech = served.receiver.event(call_id, "RecognizeCompleted")
    assert speech["speechResult"]["speech"] == "my bill"


def test_cancel_all_cancels_the_running_and_the_queued_operations(served: Served) -> None:
    call_id = _call(served, replies=[{"silent": True}])
    connection = served.client().get_call_connection(call_id)
    connection.play_media(PROMPT, loop=True, operation_context="hold music")
    connection.start_recognizing_media(RecognizeInputType.DTMF, ALICE,
                                       dtmf_max_tones_to_collect=1, operation_context="queued")
    served.receiver.wait_types(call_id, "PlayStarted")
    connection.cancel_all_media_operations()
    served.receiver.wait_types(call_id, "PlayCanceled", "RecognizeCanceled")
    served.idle()
    cancelled = [(g.type, g.data["operationContext"], _result(g.data))
                 for g in served.receiver.of(call_id) if g.type.endswith("Canceled")]
    assert cancelled == [
        ("PlayCanceled", "hold music", (400, 8508)),
        ("RecognizeCanceled", "queued", (400, 8508)),
    ]
    assert "RecognizeFailed" not in served.receiver.types(call_id)


def test_a_repeated_play_plays_again(served: Served) -> None:
    call_id = _call(served)
    connection = served.client().get_call_connection(call_id)
    headers = {"Repeatability-Request-ID": "4b1c0d6e-0000-4000-8000-000000000001",
               "Repeatability-First-Sent": "Mon, 01 Jan 2024 00:00:00 GMT"}
    connection.play_media(PROMPT, operation_context="twice", headers=headers)
    connection.play_media(PROMPT, operation_context="twice", headers=headers)
    served.receiver.wait(lambda: served.receiver.types(call_id).count("PlayCompleted") == 2)


def test_continuous_dtmf_reports_each_tone_until_stopped(served: Served) -> None:
    call_id = _call(served)
    connection = served.client().get_call_connection(call_id)
    connection.start_continuous_dtmf_recognition(ALICE, operation_context="keys")
    served.run(_press(served, call_id, "1*"))
    served.receiver.wait(lambda: served.receiver.types(call_id).count(
        "ContinuousDtmfRecognitionToneReceived") == 2)
    received = [g.data for g in served.receiver.of(call_id)
                if g.type == "ContinuousDtmfRecognitionToneReceived"]
    assert [(d["tone"], d["sequenceId"], d["operationContext"]) for d in received] == [
        ("one", 1, "keys"), ("asterisk", 2, "keys"),
    ]
    connection.stop_continuous_dtmf_recognition(ALICE, operation_context="stop keys")
    assert served.receiver.event(call_id, "ContinuousDtmfRecognitionStopped")[
        "operationContext"] == "stop keys"


async def _press(served: Served, call_id: str, tones: str) -> None:
    from callbacks.emulator.tones import parse_tones

    call = served.emulator.ga.connection(call_id)
    call.press(call.parties[0], parse_tones(tones))


def test_send_dtmf_hold_and_unhold(served: Served) -> None:
    call_id = _call(served)
    connection = served.client().get_call_connection(call_id)
    sent = connection.send_dtmf_tones([DtmfTone.ONE, DtmfTone.POUND], ALICE,
                                      operation_context="dial")
    assert sent.operation_context == "dial"
    assert served.receiver.event(call_id, "SendDtmfTonesCompleted")["operationContext"] == "dial"
    connection.hold(ALICE, play_source=PROMPT, operation_context="hold")
    assert served.receiver.event(call_id, "HoldAudioStarted")["operationContext"] == "hold"
    assert [p.is_on_hold for p in connection.list_participants()] == [True]
    connection.unhold(ALICE, operation_context="back")
    assert served.receiver.event(call_id, "HoldAudioCompleted")["operationContext"] == "back"
    assert [p.is_on_hold for p in connection.list_participants()] == [False]


def test_media_streaming_and_transcription_start_and_stop(served: Served) -> None:
    streaming = StreamingOptions(
        transport_url="wss://example.com/media", transport_type="websocket",
        content_type="audio", audio_channel_type="mixed",
    )
    transcription = Transcription(
        transport_url="wss://example.com/text", transport_type="websocket", locale="en-US",
        start_transcription=True,
    )
    call_id = _call(served, media_streaming=streaming, transcription=transcription)
    connection = served.client().get_call_connection(call_id)
    properties = connection.get_call_properties()
    assert properties.media_streaming_subscription is not None
    assert properties.media_streaming_subscription.state == "inactive"
    connection.start_media_streaming(operation_context="stream")
    started = served.receiver.event(call_id, "MediaStreamingStarted")
    assert started["mediaStreamingUpdate"]["mediaStreamingStatus"] == "mediaStreamingStarted"
    assert connection.get_call_properties().media_streaming_subscription.state == "active"
    connection.stop_media_streaming(operation_context="stream off")
    served.receiver.wait_types(call_id, "MediaStreamingStopped")
    # started with the call, as its options asked
    assert served.receiver.event(call_id, "TranscriptionStarted")[
        "transcriptionUpdate"]["transcriptionStatus"] == "transcriptionStarted"
    with pytest.raises(HttpResponseError):
        connection.start_transcription(locale="en-US")
    connection.update_transcription(locale="fr-FR", operation_context="mots")
    served.receiver.wait_types(call_id, "TranscriptionUpdated")
    connection.stop_transcription(operation_context="done")
    served.receiver.wait_types(call_id, "TranscriptionStopped")
    with pytest.raises(HttpResponseError):
        connection.stop_transcription()


def test_streaming_without_a_transport_url_fails_as_the_service_does(served: Served) -> None:
    call_id = _call(served)
    served.client().get_call_connection(call_id).start_media_streaming()
    failed = served.receiver.event(call_id, "MediaStreamingFailed")
    assert failed["mediaStreamingUpdate"]["mediaStreamingStatusDetails"] == "streamUrlMissing"


def test_recording_start_pause_resume_stop_each_post_state_changes(served: Served) -> None:
    call_id = _call(served)
    client = served.client()
    server_call_id = client.get_call_connection(call_id).get_call_properties().server_call_id
    recording = client.start_recording(server_call_id=server_call_id)
    assert recording.recording_state == "active"
    assert recording.recording_id is not None
    client.pause_recording(recording.recording_id)
    assert client.get_recording_properties(recording.recording_id).recording_state == "inactive"
    client.resume_recording(recording.recording_id)
    client.stop_recording(recording.recording_id)
    served.receiver.wait(lambda: served.receiver.types(call_id).count(
        "RecordingStateChanged") == 4)
    states = [g.data["state"] for g in served.receiver.of(call_id)
              if g.type == "RecordingStateChanged"]
    assert states == ["active", "inactive", "active", "inactive"]
    changed = served.receiver.event(call_id, "RecordingStateChanged")
    assert changed["recordingId"] == recording.recording_id
    with pytest.raises(ResourceNotFoundError):
        client.get_recording_properties(recording.recording_id)
    again = client.start_recording(call_connection_id=call_id, pause_on_start=True)
    assert again.recording_state == "inactive"
    with pytest.raises(HttpResponseError) as twice:
        client.start_recording(server_call_id=server_call_id)
    assert twice.value.status_code == 400


@pytest.mark.parametrize(("interrupt", "heard"), [(True, True), (False, False)])
def test_the_prompt_plays_first_and_only_interrupt_prompt_hears_input_during_it(
    served: Served, interrupt: bool, heard: bool
) -> None:
    served.use_scenario({"callees": [
        {"match": ALICE.raw_id, "press": [{"tones": "5", "during_prompt": 1}]}
    ]})
    created = served.client().create_call(ALICE, served.receiver.callback_url)
    call_id = created.call_connection_id
    served.receiver.wait_types(call_id, "CallConnected")
    served.client().get_call_connection(call_id).start_recognizing_media(
        RecognizeInputType.DTMF, ALICE, play_prompt=[PROMPT, PROMPT, PROMPT],
        interrupt_prompt=interrupt, dtmf_max_tones_to_collect=1, initial_silence_timeout=2,
    )
    served.receiver.wait_all(call_id, "RecognizeCompleted" if heard else "RecognizeFailed")
    if heard:
        assert served.receiver.event(call_id, "RecognizeCompleted")["dtmfResult"]["tones"] == [
            "five"
        ]
    else:
        assert _result(served.receiver.event(call_id, "RecognizeFailed")) == (400, 8510)
