"""The IVR's operation contexts: each request says which step of the call it is.

Every request the IVR makes carries an ``operationContext`` that the service echoes in the
events it causes, so each event says what it answers, and the call's outcome can be read from
its events alone, without the settings::

    ivr:answer                          the answer (CallConnected)
    ivr:ask:<menu>:<n>/<of>             the menu's n-th asking of at most ``of``
    ivr:<action>:<ref>                  an action's message, or the transfer itself, where
                                        <action> is play, transfer, voicemail, menu or hangup and
                                        <ref> is <menu>/<option number> or ``fallback``
    ivr:record:<ref>:<deadline>:<id>    listening while voicemail <id> records, until the
                                        POSIX time <deadline> at the latest

No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PREFIX = "ivr:"
ANSWER = "ivr:answer"
ACTIONS = frozenset({"play", "transfer", "voicemail", "menu", "hangup"})
FALLBACK = "fallback"
StepKind = Literal["ask", "action", "record"]


@dataclass(frozen=True, slots=True)
class Step:
    """What one operation context says."""

    kind: StepKind
    menu: str = ""
    """ask: the menu asked."""
    number: int = 0
    """ask: which asking (from 1)."""
    of: int = 0
    """ask: how many askings at most."""
    action: str = ""
    """action: play, transfer, voicemail, menu or hangup."""
    ref: str = ""
    """action and record: ``<menu>/<option number>`` or ``fallback``."""
    deadline: int = 0
    """record: when the voicemail must end at the latest (POSIX seconds)."""
    recording_id: str = ""
    """record: the recording to stop."""

    @property
    def last(self) -> bool:
        """ask: the last asking before the fallback."""
        return self.number >= self.of

    @property
    def fallback(self) -> bool:
        """action and record: the step is the fallback's."""
        return self.ref == FALLBACK


def ask(menu: str, number: int, of: int) -> str:
    """The context of the ``number``-th asking of ``menu``."""
    return f"ivr:ask:{menu}:{number}/{of}"


def action(kind: str, ref: str) -> str:
    """The context of action ``ref``'s message (and of its transfer)."""
    return f"ivr:{kind}:{ref}"


def record(ref: str, deadline: int, recording_id: str) -> str:
    """The context of listening for the end of a voicemail."""
    return f"ivr:record:{ref}:{deadline}:{recording_id}"


def option_ref(menu: str, number: int) -> str:
    """How steps name option ``number`` (from 1) of ``menu``."""
    return f"{menu}/{number}"


def parse(context: str | None) -> Step | None:
    """The step ``context`` names; None for any other context."""
    if not context or not context.startswith(PREFIX):
        return None
    kind, _, rest = context[len(PREFIX):].partition(":")
    if kind == "ask":
        menu, _, count = rest.partition(":")
        number, _, of = count.partition("/")
        if menu and number.isdigit() and of.isdigit():
            return Step("ask", menu=menu, number=int(number), of=int(of))
    elif kind in ACTIONS and rest:
        return Step("action", action=kind, ref=rest)
    elif kind == "record":
        ref, _, tail = rest.partition(":")
        deadline, _, recording_id = tail.partition(":")
        if ref and deadline.isdigit() and recording_id:
            return Step("record", ref=ref, deadline=int(deadline), recording_id=recording_id)
    return None


def seconds_left(step: Step, now: datetime | None) -> int:
    """Whole seconds from ``now`` to a record step's deadline (0 if passed or unknown)."""
    if now is None:
        return 0
    return max(0, int(step.deadline - now.timestamp()))
