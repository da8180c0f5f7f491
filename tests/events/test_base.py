"""Accessors every event has: the result code and subcode, in every dialect and spelling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callbacks.events import Event, UnknownEvent, parse_events
from tests.support.samples import SAMPLES, sample_bytes

ALL_SAMPLES = sorted(SAMPLES.glob("*/*.json"))


def _result_as_sent(data: Any) -> tuple[int | None, int | None]:
    for key in ("resultInformation", "resultInfo", "ResultInfo"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            info = {k.casefold(): v for k, v in data[key].items()}
            return info.get("code"), info.get("subcode")
    return None, None


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_result_code_and_subcode_read_what_the_sample_sent(path: Path) -> None:
    document = json.loads(path.read_bytes())
    element = document[0] if isinstance(document, list) else document
    [event] = parse_events(path.read_bytes())
    assert (event.result_code, event.result_subcode) == _result_as_sent(element["data"])


def _first(dialect: str, event_type: str) -> Event:
    return parse_events(sample_bytes(dialect, event_type))[0]


def test_each_dialect_spells_the_result_its_own_way() -> None:
    ga = _first("ga", "PlayFailed")  # resultInformation.subCode
    assert (ga.result_code, ga.result_subcode) == (400, 8535)
    assert ga.result_info is not None
    assert ga.result_info.message == "Action failed, file format is invalid."
    callingserver = _first("callingserver", "PlayAudioResult")  # resultInfo.subcode
    assert (callingserver.result_code, callingserver.result_subcode) == (200, 0)
    preview = _first("preview2021", "PlayAudioResult")  # ResultInfo.Subcode
    assert (preview.result_code, preview.result_subcode) == (200, 0)


@pytest.mark.parametrize(
    ("dialect", "event_type"),
    [("ga", "ParticipantsUpdated"), ("preview2021", "CallLegStateChanged")],
)
def test_an_event_without_a_result_has_none(dialect: str, event_type: str) -> None:
    event = _first(dialect, event_type)
    assert (event.result_info, event.result_code, event.result_subcode) == (None, None, None)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"resultInformation": {"code": 400, "subCode": 8510, "message": "timeout"}}, (400, 8510)),
        ({"resultInfo": {"code": 500, "subcode": 9999}}, (500, 9999)),
        ({"ResultInfo": {"Code": 200, "Subcode": 0}}, (200, 0)),
        ({"resultInformation": {"code": "not a number"}}, (None, None)),
        ({"resultInformation": "garbled"}, (None, None)),
        ({"other": 1}, (None, None)),
    ],
)
def test_an_unknown_event_reads_its_result_when_it_has_a_valid_one(
    data: dict[str, Any], expected: tuple[int | None, int | None]
) -> None:
    element = {"id": "u-1", "type": "Microsoft.Communication.CallTeleported", "specversion": "1.0",
               "data": {"callConnectionId": "c-1", **data}}  # fmt: skip
    [event] = parse_events(json.dumps(element).encode())
    assert isinstance(event, UnknownEvent)
    assert (event.result_code, event.result_subcode) == expected


@pytest.mark.parametrize(
    ("data", "call_id", "context"),
    [
        ({"callConnectionId": "c-1", "operationContext": "menu"}, "c-1", "menu"),
        ({"CallLegId": "leg-1", "OperationContext": "greet"}, "leg-1", "greet"),
        ({"callConnectionId": 42, "callLegId": "leg-2", "operationContext": ["x"]}, "leg-2", None),
        ({"callConnectionId": "", "operationContext": ""}, None, None),
        ({"callConnectionId": {"id": "c-1"}}, None, None),
    ],
)
def test_an_unknown_event_reads_only_non_empty_strings_as_call_id_and_context(
    data: dict[str, Any], call_id: str | None, context: str | None
) -> None:
    element = {"id": "u-2", "type": "Microsoft.Communication.CallTeleported", "specversion": "1.0",
               "data": data}  # fmt: skip
    [event] = parse_events(json.dumps(element).encode())
    assert isinstance(event, UnknownEvent)
    assert (event.call_id, event.operation_context) == (call_id, context)
