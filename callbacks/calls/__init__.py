"""Calls as the log holds them: per-call summaries, the calls list, timelines, following.

Read-only over any :class:`~callbacks.store.base.EventStore`, for ``callbacks calls`` and
``events list --follow`` (:mod:`callbacks.cli`) and the web console
(:mod:`callbacks.server.console`): what one shows, the other shows alike.
"""
