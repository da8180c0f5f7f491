"""Listening for the input of one recognize operation, once its prompt has played.

- DTMF (``dtmf``, ``speechOrDtmf``): a stop tone ends it (200/8514, the stop tone left out);
  ``maxTonesToCollect`` tones end it (200/8531); after a tone, ``interToneTimeoutInSeconds``
  (default 2) of silence ends it with the tones so far (RecognizeCompleted 400/8532).
- Speech (``speech``, ``speechOrDtmf``): a phrase ends it (200/8569, ``speechResult``); in
  ``speechOrDtmf`` the first kind of input wins.
- Choices: a phrase of a choice (case and punctuation ignored, 200/8545) or its tone
  (200/8533) ends it, reported by the choice's label; anything else is RecognizeFailed
  (8547 for a phrase, 8534 for a tone).
- No input within ``initialSilenceTimeoutInSeconds`` (default 5): RecognizeFailed 400/8510.

Timeouts from the request are multiplied by the emulator's ``timeout_scale``.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Callable
from typing import Any

from callbacks.emulator.ga import codes
from callbacks.emulator.ga.codes import Result
from callbacks.emulator.ga.media_schemas import Choice, RecognizeBody
from callbacks.emulator.tasks import TaskSet
from callbacks.emulator.tones import ga_tone

DEFAULT_INITIAL_SILENCE = 5.0
DEFAULT_INTER_TONE = 2.0
CONFIDENCE = 1.0
"""Scripted input is heard exactly."""

Finish = Callable[[str, Result, dict[str, Any]], None]
"""``finish(event_type, result, extra data)``: the recognition is over."""

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _normal(phrase: str) -> str:
    return " ".join(phrase.translate(_PUNCTUATION).lower().split())


def _tones_wire(tones: list[str]) -> list[str]:
    return [name for name in (ga_tone(t) for t in tones) if name is not None]


class Recognition:
    """The listening half of one recognize operation."""

    def __init__(self, body: RecognizeBody, timers: TaskSet, scale: float, finish: Finish) -> None:
        self.body = body
        self._timers = timers
        self._scale = scale
        self._finish = finish
        self._timer: asyncio.Task[None] | None = None
        self.tones: list[str] = []
        self.listening = False
        self.done = False

    @property
    def hears_tones(self) -> bool:
        """Whether DTMF is input for this recognition."""
        return self.body.input_type in ("dtmf", "speechOrDtmf", "choices")

    @property
    def hears_speech(self) -> bool:
        """Whether speech is input for this recognition."""
        return self.body.input_type in ("speech", "speechOrDtmf", "choices")

    def _wait(self, seconds: float, action: Callable[[], None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timers.later(seconds * self._scale, action, "recognize")

    def listen(self) -> None:
        """The prompt is over (or there was none): start the initial silence timeout."""
        if self.listening or self.done:
            return
        self.listening = True
        timeout = self.body.options.initial_silence_timeout
        seconds = DEFAULT_INITIAL_SILENCE if timeout is None else float(timeout)
        self._wait(seconds, lambda: self._end("RecognizeFailed", codes.INITIAL_SILENCE_TIMEOUT))

    def stop(self) -> None:
        """Stop listening without a result (cancelled, or the call ended)."""
        self.done = True
        if self._timer is not None:
            self._timer.cancel()

    def _end(self, event_type: str, result: Result, extra: dict[str, Any] | None = None) -> None:
        if self.done:
            return
        self.stop()
        self._finish(event_type, result, extra or {})

    def _dtmf_result(self, result: Result) -> None:
        tones = _tones_wire(self.tones)
        # collectTonesResult is the older name of dtmfResult; official samples read either
        self._end(
            "RecognizeCompleted",
            result,
            {
                "recognitionType": "dtmf",
                "dtmfResult": {"tones": tones},
                "collectTonesResult": {"tones": tones},
            },
        )

    def _choice_result(self, choice: Choice, phrase: str | None, result: Result) -> None:
        self._end(
            "RecognizeCompleted",
            result,
            {
                "recognitionType": "choices",
                "choiceResult": {
                    "label": choice.label,
                    "recognizedPhrase": phrase,
                    "confidence": CONFIDENCE,
                },
            },
        )

    def tone(self, tone: str) -> None:
        """The target pressed ``tone`` (2021 spelling) while this recognition listens."""
        if self.done or not self.listening or not self.hears_tones:
            return
        if self.body.input_type == "choices":
            for choice in self.body.options.choices:
                if choice.tone == tone:
                    self._choice_result(choice, None, codes.DTMF_OPTION_MATCHED)
                    return
            self._end("RecognizeFailed", codes.INCORRECT_TONE)
            return
        dtmf = self.body.options.dtmf_options
        assert dtmf is not None and dtmf.max_tones is not None  # checked by RecognizeBody
        if tone in dtmf.stop_tones:
            self._dtmf_result(codes.STOP_TONE)
            return
        self.tones.append(tone)
        if len(self.tones) >= dtmf.max_tones:
            self._dtmf_result(codes.MAX_DIGITS)
            return
        gap = DEFAULT_INTER_TONE if dtmf.inter_tone_timeout is None else dtmf.inter_tone_timeout
        self._wait(float(gap), lambda: self._dtmf_result(codes.INTER_DIGIT_TIMEOUT))

    def speech(self, text: str) -> None:
        """The target said ``text`` while this recognition listens."""
        if self.done or not self.listening or not self.hears_speech or self.tones:
            return
        if self.body.input_type == "choices":
            said = _normal(text)
            for choice in self.body.options.choices:
                for phrase in choice.phrases:
                    if _normal(phrase) == said:
                        self._choice_result(choice, phrase, codes.SPEECH_OPTION_MATCHED)
                        return
            self._end("RecognizeFailed", codes.SPEECH_OPTION_NOT_MATCHED)
            return
        self._end(
            "RecognizeCompleted",
            codes.SPEECH_RECOGNIZED,
            {
                "recognitionType": "speech",
                "speechResult": {"speech": text, "confidence": CONFIDENCE},
            },
        )

    def phrase_of(self, label: str) -> str:
        """What a callee says to pick the choice labelled ``label`` (its first phrase)."""
        for choice in self.body.options.choices:
            if choice.label.lower() == label.lower():
                return choice.phrases[0]
        return label
