"""RecognizeCompleted's accessors: tones and digits, choice label and phrase, speech text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callbacks.events import RecognitionType, RecognizeCompleted, parse_events
from tests.support.samples import sample_json


def _recognized(**data: Any) -> RecognizeCompleted:
    """The recorded RecognizeCompleted with its results replaced by ``data``."""
    [element] = sample_json("ga", "RecognizeCompleted")
    del element["data"]["dtmfResult"]
    element["data"].update(data)
    [event] = parse_events(json.dumps(element).encode())
    assert isinstance(event, RecognizeCompleted)
    return event


def test_dtmf_tones_read_as_sent_and_as_keypad_digits() -> None:
    event = _recognized(recognitionType="dtmf", dtmfResult={"tones": ["one", "two", "pound"]})
    assert event.recognition_type == "dtmf"
    assert event.recognition_type is RecognitionType.DTMF
    assert event.tones == ["one", "two", "pound"]
    assert event.digits == "12#"
    assert (event.choice_label, event.recognized_phrase, event.speech_text) == (None, None, None)
    assert (event.data.tones, event.data.digits) == (event.tones, event.digits)


def test_the_older_collect_tones_result_reads_the_same() -> None:
    event = _recognized(recognitionType="dtmf", collectTonesResult={"tones": ["nine", "asterisk"]})
    assert event.tones == ["nine", "asterisk"]
    assert event.digits == "9*"


def test_every_ga_tone_name_has_its_keypad_key() -> None:
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
             "asterisk", "pound", "a", "b", "c", "d"]  # fmt: skip
    event = _recognized(recognitionType="dtmf", dtmfResult={"tones": names})
    assert event.tones == names
    assert event.digits == "0123456789*#ABCD"


def test_an_unknown_tone_is_kept_in_tones_and_marked_in_digits() -> None:
    """A new tone must not vanish from the digits, or "1?2" would pass for the PIN "12"."""
    event = _recognized(recognitionType="dtmf", dtmfResult={"tones": ["one", "hook", "two"]})
    assert event.tones == ["one", "hook", "two"]
    assert event.digits == "1?2"


def test_no_tones_collected_is_an_empty_string_not_none() -> None:
    event = _recognized(recognitionType="dtmf", dtmfResult={"tones": []})
    assert (event.tones, event.digits) == ([], "")


def test_a_choice_reads_its_label_and_the_phrase_that_matched() -> None:
    event = _recognized(
        recognitionType="choices",
        choiceResult={"label": "agent", "recognizedPhrase": "talk to a person", "confidence": 0.87},
    )
    assert event.recognition_type == "choices" and event.choice_label == "agent"
    assert event.recognized_phrase == "talk to a person"
    assert (event.tones, event.digits, event.speech_text) == ([], None, None)
    assert event.data.choice_result is not None and event.data.choice_result.confidence == 0.87


def test_a_choice_picked_by_tone_has_a_label_and_no_phrase() -> None:
    event = _recognized(recognitionType="choices", choiceResult={"label": "billing"})
    assert (event.choice_label, event.recognized_phrase) == ("billing", None)


def test_speech_reads_as_text() -> None:
    speech = {"speech": "I want to pay my bill", "confidence": 0.9}
    event = _recognized(recognitionType="speech", speechResult=speech)
    assert event.recognition_type is RecognitionType.SPEECH
    assert event.speech_text == "I want to pay my bill"
    assert (event.tones, event.digits, event.choice_label) == ([], None, None)


@pytest.mark.parametrize(
    ("sent", "member"), [("Choices", RecognitionType.CHOICES), ("SPEECH", RecognitionType.SPEECH)]
)
def test_recognition_types_compare_case_insensitively(sent: str, member: RecognitionType) -> None:
    assert _recognized(recognitionType=sent).recognition_type is member


def test_an_unknown_recognition_type_is_kept_as_sent() -> None:
    event = _recognized(recognitionType="gesture")
    assert event.recognition_type == "gesture"
    assert (event.tones, event.digits) == ([], None)
    assert (event.choice_label, event.speech_text) == (None, None)
