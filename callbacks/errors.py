"""Errors of the service as a whole, shared by every layer (this module imports nothing of ours).

The other families live with what raises them: the REST client's in
:mod:`callbacks.client.errors`, the event log's in :mod:`callbacks.store.records`, a handler
context's in :mod:`callbacks.context`. All of them are exported from :mod:`callbacks`.
"""

from __future__ import annotations


class ConfigError(Exception):
    """Bad configuration: reported as one line naming the option, exit status 2.

    ``command`` names the command whose option it is, when that is not the one being run
    (``serve`` loading a flow's settings, say); the CLI prints it in the error line.
    """

    def __init__(self, message: str, *, command: str | None = None) -> None:
        super().__init__(message)
        self.command = command


class PermanentError(Exception):
    """Raised by a handler: it failed for good, so it is not run again on this event.

    The dispatcher records the failure and retries no more: once none of the event's other
    handlers is still failing, the event is ``dead`` at once (``callbacks events retry`` runs
    it again). The message is recorded as the outcome's error; the cause, if any, is not.
    """
