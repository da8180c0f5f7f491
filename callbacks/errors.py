"""Errors of the service as a whole, shared by every layer (this module imports nothing of ours).

The other families live with what raises them: the REST client's in
:mod:`callbacks.client.errors`, the event log's in :mod:`callbacks.store.records`, a handler
context's in :mod:`callbacks.context`. All of them are exported from :mod:`callbacks`.
"""

from __future__ import annotations

from collections.abc import Sequence


class ConfigError(Exception):
    """Bad configuration: reported as one line per problem naming the option, exit status 2.

    ``command`` names the command whose option it is, when that is not the one being run
    (``serve`` loading a flow's settings, say); the CLI prints it in the error line.
    ``problems`` lists every problem found, so that one start reports them all
    (:meth:`combine`); the message joins them.
    """

    def __init__(
        self, message: str, *, command: str | None = None, problems: Sequence[str] = ()
    ) -> None:
        self.problems = list(problems) or [message]
        super().__init__("; ".join(self.problems))
        self.command = command

    @classmethod
    def combine(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """One error holding the problems of ``errors``, each once (the first's command)."""
        problems = list(dict.fromkeys(p for error in errors for p in error.problems))
        return cls(problems[0], command=errors[0].command, problems=problems)


class PermanentError(Exception):
    """Raised by a handler: it failed for good, so it is not run again on this event.

    The dispatcher records the failure and retries no more: once none of the event's other
    handlers is still failing, the event is ``dead`` at once (``callbacks events retry`` runs
    it again). The message is recorded as the outcome's error; the cause, if any, is not.
    """
