"""What the built-in flows need to know about an event, whichever dialect it arrived in.

Pure functions over events, shared by the flows' state folds; plus :func:`unless_call_gone`,
which turns "the call has already ended" answers of the REST API into a quiet no-op. A 2021 call
reports a prompt's end (PlayAudioResult) and each key (DtmfReceived) apart; a GA call asks with
``start_recognizing_media``, whose RecognizeCompleted or RecognizeFailed carries both.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Literal
from urllib.parse import urlsplit

from callbacks import CallAutomationError, call_gone
from callbacks.events import (
    CallConnected,
    CallConnectionStateChanged,
    CallDisconnected,
    CallLegStateChanged,
    CallState,
    DtmfReceived,
    Event,
    OperationStatus,
    PlayAudioResult,
    PlayCanceled,
    PlayCompleted,
    PlayFailed,
    RecognizeCanceled,
    RecognizeCompleted,
    RecognizeFailed,
    Tone,
    ToneReceived,
)

PlayEnd = Literal["completed", "cancelled", "failed"]
RecognizeEnd = Literal["answered", "missed", "failed", "cancelled"]
CANCELLED_SUBCODE = 8508
PROMPT_FAILED_SUBCODE = 8511
"""RecognizeFailed because its prompt could not be played (a missing or unreadable file)."""

_UP = (CallState.ESTABLISHED, CallState.CONNECTED)
_DOWN = (CallState.TERMINATED, CallState.DISCONNECTED)


def _state(event: Event) -> object:
    if isinstance(event, CallLegStateChanged):
        return event.data.call_state
    if isinstance(event, CallConnectionStateChanged):
        return event.data.call_connection_state
    return None


def established(event: Event) -> bool:
    """The call was answered: the leg is Established (2021) or connected (later dialects)."""
    return isinstance(event, CallConnected) or _state(event) in _UP


def ended(event: Event) -> bool:
    """The call is over: Terminated (2021), disconnected (later dialects)."""
    return isinstance(event, CallDisconnected) or _state(event) in _DOWN


def tone(event: Event) -> str | None:
    """The key a DTMF event reports (``"1"``, ``"#"``), or None for any other event."""
    if isinstance(event, DtmfReceived | ToneReceived):
        value = event.data.tone_info.tone
        return value.digit if isinstance(value, Tone) else str(value)
    return None


def play_end(event: Event) -> PlayEnd | None:
    """How a prompt ended, for a PlayAudioResult: completed, cancelled (8508) or failed."""
    if not isinstance(event, PlayAudioResult):
        return None
    info = event.data.result_info
    if info is not None and info.subcode == CANCELLED_SUBCODE:
        return "cancelled"
    if event.data.status == OperationStatus.COMPLETED and (info is None or info.code in (
        None, 200,
    )):
        return "completed"
    return "failed"


def recognize_end(event: Event) -> RecognizeEnd | None:
    """How a GA recognize ended: input ``answered``; ``missed`` (no input in time, 8510, or
    input that matched nothing); ``failed`` (its prompt could not play, 8511); ``cancelled``."""
    if isinstance(event, RecognizeCompleted):
        return "answered"
    if isinstance(event, RecognizeFailed):
        return "failed" if event.result_subcode == PROMPT_FAILED_SUBCODE else "missed"
    if isinstance(event, RecognizeCanceled):
        return "cancelled"
    return None


def recognized_key(event: Event) -> str | None:
    """The first key a RecognizeCompleted collected (``"1"``); None for no key or another event."""
    if isinstance(event, RecognizeCompleted):
        return (event.digits or "")[:1] or None
    return None


def media_end(event: Event) -> PlayEnd | None:
    """How a play ended, whichever API: PlayAudioResult (2021); PlayCompleted, PlayFailed or
    PlayCanceled (GA)."""
    if isinstance(event, PlayCompleted):
        return "completed"
    if isinstance(event, PlayFailed):
        return "failed"
    if isinstance(event, PlayCanceled):
        return "cancelled"
    return play_end(event)


def audio_url(value: str) -> str:
    """``value`` if it is an absolute http(s) URL (what PlayAudio accepts); else ValueError."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL of an audio file")
    return value


async def unless_call_gone(action: Awaitable[object],
                           log: logging.LoggerAdapter[logging.Logger]) -> bool:
    """Await ``action``; False if the call ended meanwhile (the callee hung up), logged.

    A call can end between the event and the request that reacts to it; the request then
    has nothing to act on, and retrying the handler would not change that.
    """
    try:
        await action
    except CallAutomationError as exc:
        if not call_gone(exc):
            raise
        log.info("the call ended before this request: %s", exc.code or exc.status)
        return False
    return True
