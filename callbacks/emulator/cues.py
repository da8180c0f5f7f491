"""Cues: when a callee's scripted action runs, relative to its answer or to the call's prompts.

A timing (``at``, ``after_prompt``, ``during_prompt`` plus ``delay``) becomes a timer at once
(``at``: the callee just answered) or waits for its prompt to start or end. Prompts are
numbered per call from 1, in the order they start. An action runs only while its guard holds
(the call is up and the callee still in it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callbacks.emulator.scenario import Timing, Trigger
from callbacks.emulator.tasks import TaskSet


@dataclass(frozen=True, slots=True)
class _Cue:
    trigger: Trigger
    prompt: int
    seconds: float
    action: Callable[[], None]


class Cues:
    """The scripted actions of one call, waiting for their triggers."""

    def __init__(self, timers: TaskSet) -> None:
        self._timers = timers
        self._waiting: list[_Cue] = []

    def schedule(
        self, timing: Timing, guard: Callable[[], bool], action: Callable[[], None]
    ) -> None:
        """Run ``action`` when ``timing`` says, if ``guard()`` still holds then."""

        def guarded() -> None:
            if guard():
                action()

        if timing.trigger == "answer":
            self._timers.later(timing.seconds, guarded, "script")
        else:
            self._waiting.append(_Cue(timing.trigger, timing.prompt, timing.seconds, guarded))

    def prompt_event(self, trigger: Trigger, prompt: int) -> None:
        """Prompt number ``prompt`` started (``prompt_start``) or ended (``prompt_end``)."""
        for cue in self._waiting:
            if cue.trigger == trigger and cue.prompt == prompt:
                self._timers.later(cue.seconds, cue.action, "script")
