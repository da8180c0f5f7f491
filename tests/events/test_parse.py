"""parse_events: every modelled type in every dialect, batches, unknown types and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callbacks import events
from callbacks.events import (
    CallLegStateChanged,
    CallState,
    Dialect,
    DtmfReceived,
    EventParseError,
    IdentifierKind,
    IncomingCall,
    OperationStatus,
    ParticipantsUpdated,
    PlayAudioResult,
    RecognizeCompleted,
    Tone,
    UnknownEvent,
    event_class_for,
    parse_event_element,
    parse_events,
)
from callbacks.events.types import BY_SHORT_NAME
from tests.support.samples import SAMPLES, sample_bytes, sample_json

ALL_SAMPLES = sorted(SAMPLES.glob("*/*.json"))
CL = "7a1f0e00-0000-4000-8000-000000000001"
CC = "421f0b00-8e5a-4a69-9a0b-2b5a3c1e5e10"


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_sample_parses_to_its_model_and_dialect(path: Path) -> None:
    [event] = parse_events(path.read_bytes())
    assert type(event) is BY_SHORT_NAME[path.stem]
    assert event.type == path.stem
    assert event.dialect == Dialect(path.parent.name)
    assert event.full_type.endswith("." + path.stem)
    document = json.loads(path.read_bytes())
    element = document[0] if isinstance(document, list) else document
    assert json.loads(event.raw) == element
    assert event.identity == (element["id"] or event.identity)
    assert event.identity
    assert event.time is not None


def test_every_modelled_type_has_a_sample() -> None:
    sampled = {path.stem for path in ALL_SAMPLES}
    assert set(BY_SHORT_NAME) - sampled == set()


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_call_id_is_the_leg_or_connection_id(path: Path) -> None:
    [event] = parse_events(path.read_bytes())
    if path.stem in ("IncomingCall", "SubscriptionValidationEvent", "RecordingFileStatusUpdated"):
        assert event.call_id is None
    elif path.stem == "CallRecordingStateChanged" and path.parent.name == "preview2021":
        assert event.call_id is None  # 2021 recording events name a conversation, not a leg
    else:
        assert event.call_id == (CL if path.parent.name == "preview2021" else CC)


def test_2021_dtmf_from_the_reference() -> None:
    [event] = parse_events(sample_bytes("preview2021", "DtmfReceived"))
    assert isinstance(event, DtmfReceived)
    assert event.data.tone_info.tone is Tone.TONE1
    assert event.data.tone_info.tone.digit == "1"
    assert event.sequence == 1
    assert event.id is None
    assert event.identity.startswith("sha256:")
    assert event.operation_context is None
    assert event.time is not None and event.time.microsecond == 481881


def test_operation_context_and_result_info() -> None:
    [event] = parse_events(sample_bytes("preview2021", "PlayAudioResult"))
    assert isinstance(event, PlayAudioResult)
    assert event.operation_context == "greeting"
    assert event.data.status is OperationStatus.COMPLETED
    assert event.data.result_info is not None
    assert (event.data.result_info.code, event.data.result_info.subcode) == (200, 0)
    [ga] = parse_events(sample_bytes("ga", "PlayFailed"))
    assert ga.data.result_info.subcode == 8535  # GA spells it resultInformation.subCode


def test_participants_normalise_to_one_identifier_model() -> None:
    lists = [
        parse_events(sample_bytes(dialect, "ParticipantsUpdated"))[0]
        for dialect in ("preview2021", "callingserver", "ga")
    ]
    for event in lists:
        assert isinstance(event, ParticipantsUpdated)
        first = event.data.participants[0].identifier
        assert first.kind is IdentifierKind.COMMUNICATION_USER
        assert first.raw_id.startswith("8:acs:")
        assert first.communication_user_id == first.raw_id
    phone = lists[0].data.participants[1].identifier
    assert phone.kind is IdentifierKind.PHONE_NUMBER
    assert phone.phone_number == "+14251001000"
    assert phone == lists[2].data.participants[1].identifier
    assert lists[0].data.participants[1].participant_id == "00000000-0000-4000-8000-000000000002"
    assert lists[2].sequence == 4
    assert lists[0].sequence is None


def test_incoming_call_has_no_call_id_and_normalised_parties() -> None:
    [event] = parse_events(sample_bytes("eventgrid", "IncomingCall"))
    assert isinstance(event, IncomingCall)
    assert event.dialect is Dialect.EVENT_GRID
    assert event.data.from_.phone_number == "+14255550100"
    assert event.data.to.kind is IdentifierKind.COMMUNICATION_USER


def test_the_event_grid_shape_is_the_2021_dialect_only_for_the_2021_types() -> None:
    """The 2021 preview sent six types; any other type in that shape came from Event Grid."""
    [recording] = parse_events(sample_bytes("eventgrid", "RecordingFileStatusUpdated"))
    assert recording.dialect is Dialect.EVENT_GRID
    sms = {
        "id": "sms-1",
        "topic": "/subscriptions/x",
        "subject": "/phonenumber/15555555555",
        "data": {"message": "hello"},
        "eventType": "Microsoft.Communication.SMSReceived",
        "eventTime": "2024-03-01T12:00:00Z",
        "dataVersion": "1.0",
    }
    [event] = parse_events(json.dumps(sms).encode())
    assert isinstance(event, UnknownEvent)
    assert event.dialect is Dialect.EVENT_GRID
    for name in ("CallLegStateChanged", "DtmfReceived", "ParticipantsUpdated"):
        assert parse_events(sample_bytes("preview2021", name))[0].dialect is Dialect.PREVIEW_2021


def test_recognize_completed_accepts_the_older_collect_tones_name() -> None:
    element = sample_json("ga", "RecognizeCompleted")[0]
    element["data"]["collectTonesResult"] = element["data"].pop("dtmfResult")
    [event] = parse_events(json.dumps(element).encode())
    assert isinstance(event, RecognizeCompleted)
    assert event.data.dtmf_result is not None
    assert event.data.dtmf_result.tones == [Tone.TONE1, Tone.TONE2, Tone.POUND]


@pytest.mark.parametrize("state", ["Established", "established", "ESTABLISHED"])
def test_enumerations_compare_case_insensitively(state: str) -> None:
    element = sample_json("preview2021", "CallLegStateChanged")
    element["data"]["CallState"] = state
    [event] = parse_events(json.dumps(element).encode())
    assert isinstance(event, CallLegStateChanged)
    assert event.data.call_state is CallState.ESTABLISHED


def test_an_unknown_enumeration_value_is_kept_not_rejected() -> None:
    element = sample_json("preview2021", "CallLegStateChanged")
    element["data"]["CallState"] = "parkedSomewhere"
    [event] = parse_events(json.dumps(element).encode())
    assert event.data.call_state == "parkedSomewhere"


def test_ga_tone_names_map_to_the_same_members() -> None:
    [event] = parse_events(sample_bytes("ga", "ContinuousDtmfRecognitionToneReceived"))
    assert event.data.tone is Tone.STAR
    assert event.sequence == 7


def test_an_array_keeps_every_element_in_order_with_mixed_dialects() -> None:
    batch = [
        sample_json("preview2021", "CallLegStateChanged"),
        sample_json("ga", "CallConnected")[0],
        sample_json("callingserver", "ToneReceived"),
        {"id": "u-1", "type": "Contoso.Custom.Thing", "specversion": "1.0", "data": {"x": 1}},
    ]
    parsed = parse_events(json.dumps(batch).encode())
    assert [e.type for e in parsed] == [
        "CallLegStateChanged",
        "CallConnected",
        "ToneReceived",
        "Thing",
    ]
    assert [e.dialect for e in parsed] == [
        Dialect.PREVIEW_2021,
        Dialect.GA,
        Dialect.CALLINGSERVER,
        Dialect.GA,
    ]
    assert [json.loads(e.raw) for e in parsed] == batch


def test_single_element_array_keeps_the_raw_bytes_verbatim() -> None:
    body = b'[ {"id":"a","type":"Microsoft.Communication.CallConnected","specversion":"1.0",' \
        b'"data":{"callConnectionId":"c"}} ]'
    [event] = parse_events(body)
    assert event.raw == body[2:-2]
    assert parse_event_element(event.raw).identity == "a"


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: b"\xef\xbb\xbf" + text.encode(),  # a UTF-8 BOM, which json takes
        lambda text: text.encode("utf-16"),
        lambda text: b"\xef\xbb\xbf" + text.strip()[1:-1].strip().encode(),  # an object
    ],
    ids=["bom-array", "utf16-array", "bom-object"],
)
def test_a_body_json_decodes_but_not_as_plain_utf8_logs_a_readable_element(
    encode: Callable[[str], bytes],
) -> None:
    text = (SAMPLES / "ga" / "CallConnected.json").read_text()
    [event] = parse_events(encode(text))
    assert event.raw[:1] == b"{"  # the element, re-serialised: what the log keeps
    again = parse_event_element(event.raw)
    assert (again.identity, again.type) == (event.identity, "CallConnected")


def test_unknown_type_is_kept_with_its_raw_json() -> None:
    body = json.dumps(
        {
            "id": "evt-9",
            "type": "Microsoft.Communication.CallTeleported",
            "specversion": "1.0",
            "source": "calling/callConnections/c-9",
            "data": {"callConnectionId": "c-9", "operationContext": "hold", "new": [1, 2]},
        }
    ).encode()
    [event] = parse_events(body)
    assert isinstance(event, UnknownEvent)
    assert event.type == "CallTeleported"
    assert event.call_id == "c-9"
    assert event.operation_context == "hold"
    assert event.data == {"callConnectionId": "c-9", "operationContext": "hold", "new": [1, 2]}
    assert event.raw == body
    assert event_class_for("CallTeleported") is None
    assert event_class_for("PlayAudioResult") is PlayAudioResult


def test_null_id_identity_is_a_stable_content_hash() -> None:
    element = sample_json("preview2021", "DtmfReceived")
    first = parse_events(json.dumps(element).encode())[0].identity
    # Same content, other key order and spacing: same identity.
    reordered = dict(reversed(list(element.items())))
    assert parse_events(json.dumps(reordered, indent=3).encode())[0].identity == first
    element["data"]["ToneInfo"]["SequenceId"] = 2
    assert parse_events(json.dumps(element).encode())[0].identity != first


@pytest.mark.parametrize(
    ("bad_id", "kind"),
    [(101, "a number"), (1.5, "a number"), (True, "a boolean"), (False, "a boolean"),
     ({"v": 1}, "an object"), (["a"], "an array")],
)
def test_an_id_that_is_not_a_string_or_null_is_refused_naming_the_element(
    bad_id: object, kind: str
) -> None:
    first, second = sample_json("ga", "PlayStarted")[0], sample_json("ga", "PlayCompleted")[0]
    second["id"] = bad_id
    with pytest.raises(EventParseError) as caught:
        parse_events(json.dumps([first, second]).encode())
    assert (caught.value.index, caught.value.field) == (1, "id")
    assert str(caught.value) == f"event 1: id must be a non-empty string or null, not {kind}"


def test_events_that_differ_only_by_id_are_never_merged() -> None:
    element = sample_json("ga", "PlayCompleted")[0]
    ids = ["101", "102", None, ""]
    batch = [{**element, "id": event_id} for event_id in ids]
    events = parse_events(json.dumps(batch).encode())
    assert [e.id for e in events] == ["101", "102", None, None]
    # "" is null: those two are the same event, told apart from the others by content
    assert len({e.identity for e in events}) == 3
    assert events[2].identity == events[3].identity
    assert events[2].identity.startswith("sha256:")


def test_an_event_logged_with_a_non_string_id_still_reads_back_under_its_identity() -> None:
    """Earlier versions logged such an id as null (its identity a content hash): reading the
    log must not turn those events into errors."""
    element = {**sample_json("ga", "PlayCompleted")[0], "id": 101}
    as_null = parse_events(json.dumps({**element, "id": None}).encode())[0]
    logged = parse_event_element(json.dumps(element).encode())
    assert (logged.id, logged.identity) == (None, as_null.identity)


@pytest.mark.parametrize(
    ("dialect", "event_type", "remove", "field"),
    [
        ("preview2021", "DtmfReceived", ("ToneInfo",), "data.ToneInfo"),
        ("preview2021", "CallLegStateChanged", ("CallState",), "data.CallState"),
        ("preview2021", "PlayAudioResult", ("Status",), "data.Status"),
        ("ga", "ParticipantsUpdated", ("participants",), "data.participants"),
        ("callingserver", "CallConnectionStateChanged", ("callConnectionState",),
         "data.callConnectionState"),
        ("eventgrid", "SubscriptionValidationEvent", ("validationCode",), "data.validationCode"),
        ("eventgrid", "RecordingFileStatusUpdated", ("recordingStorageInfo",),
         "data.recordingStorageInfo"),
    ],
)
def test_missing_required_field_is_named(
    dialect: str, event_type: str, remove: tuple[str, ...], field: str
) -> None:
    document = sample_json(dialect, event_type)
    element = document[0] if isinstance(document, list) else document
    for key in remove:
        del element["data"][key]
    batch = [sample_json("ga", "CallConnected")[0], element]
    with pytest.raises(EventParseError) as caught:
        parse_events(json.dumps(batch).encode())
    assert caught.value.index == 1
    assert caught.value.field == field
    assert str(caught.value).startswith(f"event 1 ({event_type}): {field}")


def test_a_call_event_without_any_call_id_is_rejected() -> None:
    element = sample_json("ga", "CallConnected")[0]
    del element["data"]["callConnectionId"]
    with pytest.raises(EventParseError, match="callConnectionId"):
        parse_events(json.dumps(element).encode())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'"text"', "JSON object or an array"),
        (b"[]", "empty array"),
        (b"[1]", "event 0: must be a JSON object"),
        (b'[{"data": {}}]', "event 0: not an event"),
        (b'{"eventType": 5, "data": {}}', "eventType must be a non-empty string"),
        (b'{"eventType": "Microsoft.Communication.DtmfReceived", "eventTime": "soon",'
         b' "data": {"CallLegId": "x", "ToneInfo": {"SequenceId": 1, "Tone": "tone1"}}}',
         "eventTime"),
    ],
)
def test_bad_bodies_raise_a_clear_error(body: bytes, message: str) -> None:
    with pytest.raises(EventParseError, match=message):
        parse_events(body)


def test_bodies_json_accepts_parse_the_same_whatever_the_fast_parser_thinks() -> None:
    """The fast JSON parser refuses a few inputs the standard one takes: a UTF-8 BOM, UTF-16,
    a lone surrogate escape. Those still parse, exactly as json.loads reads them."""
    event = sample_json("ga", "PlayCompleted")[0]
    event["data"]["operationContext"] = "menu-\ud800"
    text = json.dumps(event)  # ensure_ascii: the lone surrogate travels as an escape
    for body in (text.encode(), b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16")):
        (parsed,) = parse_events(body)
        assert parsed.operation_context == "menu-\ud800"


def test_array_elements_are_logged_as_their_own_json_lone_surrogates_included() -> None:
    """Each element of a longer array is serialised again on its own; one holding a lone
    surrogate (which has no UTF-8 form) comes out escaped, and both read back the same."""
    plain = sample_json("ga", "PlayCompleted")[0]
    odd = {**plain, "id": "odd", "data": {**plain["data"], "operationContext": "menu-\ud800"}}
    first, second = parse_events(json.dumps([plain, odd]).encode())
    assert json.loads(first.raw) == plain
    assert json.loads(second.raw) == odd
    assert parse_event_element(second.raw).operation_context == "menu-\ud800"


def test_the_module_does_no_io() -> None:
    source = Path(events.__file__).read_text()
    for module in ("starlette", "httpx", "sqlite3", "asyncio"):
        assert f"import {module}" not in source



# --- what mutation testing showed untested ------------------------------------------------------


def test_content_hashes_never_change() -> None:
    """An event without an id is de-duplicated by this hash: a version computing another
    would take a redelivery after an upgrade for a new event."""
    assert parse_events(sample_bytes("preview2021", "DtmfReceived"))[0].identity == (
        "sha256:d5bd73ff3b7642ae4b17ea7e30f9a3302d630032"
    )
    cloud = {"id": None, "type": "Contoso.Things.Happened", "specversion": "1.0", "source": "s",
             "subject": "x", "time": "2024-01-01T00:00:00Z", "data": {"a": [1, 2]}}
    assert parse_events(json.dumps(cloud).encode())[0].identity == (
        "sha256:321abc6757c6f7d9770ccc58e4081a67a0ee86ef"
    )


@pytest.mark.parametrize("shape", ["{}", "[{}]", "[{}, {}]"], ids=["object", "one", "two"])
def test_a_non_string_id_is_refused_in_every_body_shape(shape: str) -> None:
    element = json.dumps({**sample_json("ga", "PlayCompleted")[0], "id": 101})
    body = shape.replace("{}", element, 1).replace("{}", json.dumps(sample_json(
        "ga", "PlayStarted")[0]))
    with pytest.raises(EventParseError) as caught:
        parse_events(body.encode())
    assert (caught.value.index, caught.value.field) == (0, "id")
    assert caught.value.message == "event 0: id must be a non-empty string or null, not a number"


def test_a_single_element_array_logs_its_element_byte_for_byte() -> None:
    element = b'{ "id" : "a", "type": "Microsoft.Communication.CallConnected",  "specversion": ' \
        b'"1.0", "data": {"callConnectionId": "c"} }'
    for body in (b"[" + element + b"]", b" [\n " + element + b" \n] "):
        [event] = parse_events(body)
        assert event.raw == element


def test_an_element_of_a_longer_array_is_logged_compact() -> None:
    first, second = (sample_json("ga", t)[0] for t in ("PlayStarted", "PlayCompleted"))
    _, event = parse_events(json.dumps([first, second], indent=2).encode())
    assert event.raw == json.dumps(second, separators=(",", ":")).encode()
    odd = {**second, "id": "odd", "data": {**second["data"], "operationContext": "m-\ud800"}}
    _, event = parse_events(json.dumps([first, odd]).encode())
    assert event.raw == json.dumps(odd, separators=(",", ":")).encode()


def test_envelope_fields_reach_the_event() -> None:
    [event] = parse_events(sample_bytes("ga", "CallConnected"))
    element = sample_json("ga", "CallConnected")[0]
    assert (event.source, event.subject) == (element["source"], element.get("subject"))
    [event] = parse_events(sample_bytes("preview2021", "DtmfReceived"))
    assert event.subject == "callLeg/7a1f0e00-0000-4000-8000-000000000001/dtmf"


@pytest.mark.parametrize(
    ("element", "index", "field", "message"),
    [
        ({"source": "s", "data": {}}, 0, "eventType",
         "event 0: not an event: needs eventType (Event Grid schema) or type and specversion "
         "(CloudEvents)"),
        ({"type": "Microsoft.Communication.CallConnected", "data": {"callConnectionId": "c"}},
         0, "eventType", "event 0: not an event: needs eventType (Event Grid schema) or type and "
         "specversion (CloudEvents)"),
        ({"type": 5, "specversion": "1.0"}, 0, "type", "event 0: type must be a non-empty string"),
        ({"eventType": "", "data": {}}, 0, "eventType",
         "event 0: eventType must be a non-empty string"),
        ([7], 0, None, "event 0: must be a JSON object, not int"),
    ],
)
def test_what_is_not_an_event_is_named_exactly(
    element: object, index: int, field: str | None, message: str
) -> None:
    with pytest.raises(EventParseError) as caught:
        parse_events(json.dumps(element).encode())
    assert (caught.value.index, caught.value.field) == (index, field)
    assert caught.value.message == str(caught.value) == message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'"text"', "body must be a JSON object or an array of objects"),
        (b"[]", "body is an empty array: no events"),
        (b"[" * 100_000 + b"]" * 100_000, "body is nested too deeply to be an event"),
    ],
)
def test_bodies_that_hold_no_event_are_named_exactly(body: bytes, message: str) -> None:
    with pytest.raises(EventParseError) as caught:
        parse_events(body)
    assert caught.value.message == message
    assert caught.value.index is None


def test_a_cloud_event_needs_specversion_or_source_and_either_will_do() -> None:
    element = sample_json("ga", "CallConnected")[0]
    without_source = {k: v for k, v in element.items() if k != "source"}
    without_version = {k: v for k, v in element.items() if k != "specversion"}
    for variant in (without_source, without_version):
        assert parse_events(json.dumps(variant).encode())[0].type == "CallConnected"


@pytest.mark.parametrize(
    ("source", "markers", "dialect"),
    [
        ("calling/callConnections/c", False, Dialect.GA),
        ("callConnection/c", True, Dialect.GA),
        ("callConnection/c", False, Dialect.CALLINGSERVER),
        (None, False, Dialect.CALLINGSERVER),
        (None, True, Dialect.GA),
    ],
)
def test_participants_updated_is_told_apart_by_its_source_or_its_ga_fields(
    source: str | None, markers: bool, dialect: Dialect
) -> None:
    element = sample_json("ga", "ParticipantsUpdated")[0]
    data = {"callConnectionId": "c", "participants": element["data"]["participants"]}
    if markers:
        data["correlationId"] = "x"
    cloud = {"id": "p", "type": "Microsoft.Communication.ParticipantsUpdated",
             "specversion": "1.0", "data": data}
    if source is not None:
        cloud["source"] = source
    assert parse_events(json.dumps(cloud).encode())[0].dialect is dialect


@pytest.mark.parametrize(
    ("dialect", "event_type", "change", "field"),
    [
        ("eventgrid", "IncomingCall", lambda e: e["data"].pop("from"), "data.from"),
        ("ga", "ParticipantsUpdated",
         lambda e: e["data"]["participants"][1].update(identifier=5),
         "data.participants[1].identifier"),
        ("ga", "CallConnected", lambda e: e.update(time="soon"), "time"),
        ("preview2021", "DtmfReceived", lambda e: e.update(eventTime="soon"), "eventTime"),
    ],
)
def test_invalid_fields_are_named_as_the_sender_spelled_them(
    dialect: str, event_type: str, change: Callable[[dict[str, Any]], object], field: str
) -> None:
    document = sample_json(dialect, event_type)
    element = document[0] if isinstance(document, list) else document
    change(element)
    with pytest.raises(EventParseError) as caught:
        parse_events(json.dumps(element).encode())
    assert (caught.value.index, caught.value.field) == (0, field)
    assert caught.value.message.startswith(f"event 0 ({event_type}): {field}: ")


def test_a_type_without_a_namespace_is_its_own_short_name() -> None:
    [event] = parse_events(b'{"id": "t", "type": "Ping", "specversion": "1.0", "data": {}}')
    assert isinstance(event, UnknownEvent)
    assert (event.type, event.full_type, event.dialect) == ("Ping", "Ping", Dialect.GA)
