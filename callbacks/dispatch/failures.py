"""Which handler failures are final: run again on the same event, the handler would fail again.

- :class:`~callbacks.errors.PermanentError`: the handler says so itself;
- the call is gone (:func:`~callbacks.client.errors.call_gone`): it ended, or never existed,
  so nothing done on it can succeed any more;
- the handler used what its context does not have (no REST client, no call, no event log): no
  later run in this process has it either.

Any other exception (a timeout, a 5xx after the client's retries, a bug that may depend on
timing) is retried with backoff. The dispatcher records a final failure with
:data:`~callbacks.store.records.PERMANENT` at the end of its error and does not run that
handler on that event again, until ``callbacks events retry`` starts a new round.
"""

from __future__ import annotations

from callbacks.client.errors import CallAutomationError, call_gone
from callbacks.context import NoCallError, NoClientError, NoHistoryError
from callbacks.errors import PermanentError


def is_permanent(error: BaseException) -> bool:
    """Whether ``error``, raised by a handler, means it should not run again on that event."""
    if isinstance(error, PermanentError | NoCallError | NoClientError | NoHistoryError):
        return True
    return isinstance(error, CallAutomationError) and call_gone(error)
