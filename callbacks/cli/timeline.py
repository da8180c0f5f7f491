"""The timeline ``callbacks demo`` prints: an emulated call's REST requests and callbacks, in
the order the emulator saw them, with their time offsets."""

from __future__ import annotations

from typing import Any, TextIO

from callbacks.emulator import RunningEmulator
from callbacks.terminal import Column, TableWriter

_TIMELINE = (
    Column("", width=8, justify="right"), Column("", plain=10), Column("", plain=24),
    Column("", plain=0), Column(""),
)
"""Offset, REST or callback, what (request or event type), its detail, and the answer."""


def _detail(event: dict[str, Any]) -> str:
    """What a callback says, in a few words (2021 PascalCase or GA camelCase data)."""
    data = event.get("data") or {}
    if "from" in data and "to" in data:  # IncomingCall
        return f"{data['from'].get('rawId')} -> {data['to'].get('rawId')}"
    participants = data.get("participants", data.get("Participants"))
    if participants is not None:
        return f"{len(participants)} participant(s)"
    if "CallState" in data:
        return str(data["CallState"])
    tone = (data.get("ToneInfo") or {}).get("Tone") or data.get("tone")
    context = data.get("operationContext", data.get("OperationContext")) or ""
    result = data.get("resultInformation", data.get("ResultInfo")) or {}
    code = result.get("code", result.get("Code"))
    words = [context, tone or ""]
    heard = (data.get("choiceResult") or {}).get("label") or (
        data.get("dtmfResult") or {}).get("tones")
    if heard:
        words.append(f"heard {' '.join(heard) if isinstance(heard, list) else heard}")
    if code is not None:
        words.append(f"{code}/{result.get('subCode', result.get('Subcode'))}")
    return " ".join(str(word) for word in words if word)


def _timeline(emulator: RunningEmulator, call_ids: set[str]
              ) -> list[tuple[float, str, str, str, str]]:
    journal = emulator.emulator.journal

    def path(text: str) -> str:  # the call's id shortened: the offsets say which call it is
        text = text.split("?")[0]
        for call_id in call_ids:
            text = text.replace(call_id, call_id[:8] + "…")
        return text

    rows = [
        (r.t, "REST", f"{r.method} {path(r.path)}", r.operation_context or "", f"-> {r.status}")
        for r in journal.requests
        if r.call_id in call_ids or (r.operation in ("create_call", "answer_call")
                                     and r.status < 300)
    ]
    for c in journal.callbacks:
        incoming = c.event_type == "IncomingCall"
        if c.call_id not in call_ids and not incoming:
            continue
        status = c.attempts[-1].status if c.attempts else c.status
        kind = "Event Grid" if incoming else "callback"
        rows.append((c.t, kind, c.event_type, _detail(c.event), f"-> receiver {status}"))
    return sorted(rows)


def print_timeline(out: TextIO, emulator: RunningEmulator, call_ids: set[str]) -> None:
    """The timeline of ``call_ids`` (and the application's incoming calls), one row each."""
    table = TableWriter(out, _TIMELINE, header=False, indent=2)
    for offset, *row in _timeline(emulator, call_ids):
        table.add(f"+{offset:6.3f}s", *row)
    table.close()
